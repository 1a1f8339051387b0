//! The core's contexts as `opentelemetry-api` objects and back.
//!
//! `_init` receives the API's classes and context keys once (from `kafka_trace/_otel.py`), so
//! this file never imports or names them. Extract builds `Context({span_key: NonRecordingSpan(
//! SpanContext(...)), baggage_key: {...}})` directly; inject reads the span context and trace
//! state and lets the core write the headers. When the context holds the [`Kept`] remote of a
//! consumed message (the handler's context does), the core's `send_context` composes what is
//! written from the SDK span and that remote (W3C Level 2: random flag, every tracestate member).

use std::borrow::Cow;

use kafka_trace::carrier::{extract_parts, inject_values, Extracted, HeadersMut};
use kafka_trace::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use kafka_trace::encode::{baggage_from_pairs, tracestate_from_pairs};
use kafka_trace::lifecycle::{send_context, HandlerContext, SpanIdentity};
use kafka_trace::{Baggage, TraceStateBuf};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use crate::fast;
use crate::headers::{DictWriter, ListWriter, RawHeaders};
use crate::lifecycle::Kept;
use crate::tracestate::{Members, NativeTraceState};

struct Api {
    context_cls: Py<PyAny>,
    tuple_new: Py<PyAny>,
    span_context_cls: Py<PyType>,
    empty_trace_state: Py<PyAny>,
    non_recording_span_cls: Py<PyType>,
    object_new: Py<PyAny>,
    /// `object.__new__(NonRecordingSpan)` + `_context` gives the same span as the constructor
    /// (checked once in `_init`), without running Python code per message.
    span_fast_path: bool,
    /// The classes' own slots make the same objects as the API's constructors (checked once in
    /// `_init`): a `SpanContext` from its allocator, a `NonRecordingSpan` from its `__new__`
    /// (object's) + `_context`.
    fast_span: Option<(fast::TupleClass, fast::PlainClass)>,
    /// `Context()` from the class's `__new__` (dict's; `__init__` is dict's too, which adds
    /// nothing without arguments), checked once in `_init`.
    fast_context: Option<fast::PlainClass>,
    context_attr: Py<PyString>,
    /// `__weakref__`: a span someone holds a weak reference to is not reused.
    weakref_attr: Py<PyString>,
    flags: Vec<Py<PyAny>>,
    span_key: Py<PyString>,
    baggage_key: Py<PyString>,
    raw_baggage_key: Py<PyString>,
    kept_key: Py<PyString>,
    get_current: Py<PyAny>,
}

static API: PyOnceLock<Api> = PyOnceLock::new();

/// The last `TraceState` object injected and the value the core made of it.
static LAST_TRACESTATE: std::sync::Mutex<Option<(Py<PyAny>, Vec<u8>)>> =
    std::sync::Mutex::new(None);

fn api(py: Python<'_>) -> PyResult<&Api> {
    API.get(py).ok_or_else(crate::errors::not_initialized)
}

/// The core's decoded baggage (with properties) next to the dict it was turned into, so a
/// context that still carries that very dict re-injects the properties too.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct RawBaggage {
    baggage: Baggage,
    source: Py<PyAny>,
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _init(
    py: Python<'_>,
    context_cls: Py<PyAny>,
    span_context_cls: Py<PyType>,
    trace_state_cls: Py<PyAny>,
    non_recording_span_cls: Py<PyType>,
    trace_flags_cls: Bound<'_, PyAny>,
    span_key: Py<PyString>,
    baggage_key: Py<PyString>,
    raw_baggage_key: Py<PyString>,
    kept_key: Py<PyString>,
    get_current: Py<PyAny>,
) -> PyResult<()> {
    let builtins = py.import("builtins")?;
    let tuple_new = builtins.getattr("tuple")?.getattr("__new__")?.unbind();
    let object_new = builtins.getattr("object")?.getattr("__new__")?;
    let empty_trace_state = trace_state_cls.bind(py).call0()?.unbind();
    let flags = (0u8..=255)
        .map(|f| trace_flags_cls.call1((f,)).map(Bound::unbind))
        .collect::<PyResult<Vec<_>>>()?;
    let span_fast_path = {
        let probe = PyTuple::new(py, [1u8, 2u8])?;
        let span = object_new.call1((non_recording_span_cls.bind(py),))?;
        span.setattr(intern!(py, "_context"), &probe)?;
        span.call_method0(intern!(py, "get_span_context"))
            .map(|sc| sc.is(&probe))
            .unwrap_or(false)
    };
    let fast_span = fast_span(py, span_context_cls.bind(py), non_recording_span_cls.bind(py), &empty_trace_state, &flags)
        .ok()
        .flatten();
    let fast_context = fast_context(context_cls.bind(py)).ok().flatten();
    let api = Api {
        context_cls,
        tuple_new,
        span_context_cls,
        empty_trace_state,
        non_recording_span_cls,
        object_new: object_new.unbind(),
        span_fast_path,
        fast_span,
        fast_context,
        context_attr: PyString::intern(py, "_context").unbind(),
        weakref_attr: PyString::intern(py, "__weakref__").unbind(),
        flags,
        span_key,
        baggage_key,
        raw_baggage_key,
        kept_key,
        get_current,
    };
    let _ = API.set(py, api);
    Ok(())
}

/// The classes' own slots ([`crate::fast`]) for a `SpanContext` and `NonRecordingSpan`, when
/// what they make equals, hashes and prints as what the API's constructors make (a probe of each).
fn fast_span(
    py: Python<'_>,
    span_context_cls: &Bound<'_, PyType>,
    non_recording_span_cls: &Bound<'_, PyType>,
    empty_trace_state: &Py<PyAny>,
    flags: &[Py<PyAny>],
) -> PyResult<Option<(fast::TupleClass, fast::PlainClass)>> {
    let (Some(tuple), Some(plain)) = (fast::TupleClass::of(span_context_cls), fast::PlainClass::of(non_recording_span_cls)) else {
        return Ok(None);
    };
    // `__new__` must be object's own: then `tp_new` with no arguments is `object.__new__(cls)`.
    let object_new = py.import("builtins")?.getattr("object")?.getattr("__new__")?;
    if !non_recording_span_cls.getattr("__new__")?.is(&object_new) {
        return Ok(None);
    }
    let (trace_id, span_id) = (0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128, 0x00f0_67aa_0ba9_02b7_u64);
    let kwargs = PyDict::new(py);
    kwargs.set_item("trace_id", trace_id)?;
    kwargs.set_item("span_id", span_id)?;
    kwargs.set_item("is_remote", true)?;
    kwargs.set_item("trace_flags", flags[1].bind(py))?;
    kwargs.set_item("trace_state", empty_trace_state.bind(py))?;
    let api_context = span_context_cls.call((), Some(&kwargs))?;
    let yes = pyo3::types::PyBool::new(py, true).to_owned().into_any();
    let context = tuple.make(
        py,
        [
            trace_id.into_pyobject(py)?.into_any(),
            span_id.into_pyobject(py)?.into_any(),
            yes.clone(),
            flags[1].bind(py).clone(),
            empty_trace_state.bind(py).clone(),
            yes,
        ],
    )?;
    let same_context = context.get_type().is(span_context_cls)
        && context.eq(&api_context)?
        // The API's TraceState is unhashable, so is its SpanContext: both must raise alike (a
        // tuple that caches its hash, as 3.14's do, would not).
        && match (context.hash(), api_context.hash()) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.get_type(py).is(b.get_type(py)),
            _ => false,
        }
        && context.repr()?.to_cow()? == api_context.repr()?.to_cow()?
        && context.getattr("is_valid")?.is_truthy()?;
    let api_span = non_recording_span_cls.call1((&api_context,))?;
    let span = plain.make(py)?;
    span.setattr(intern!(py, "_context"), &context)?;
    let same_span = span.get_type().is(non_recording_span_cls)
        && span.call_method0("get_span_context")?.is(&context)
        && span.repr()?.to_cow()? == api_span.repr()?.to_cow()?
        && span.getattr("__dict__")?.eq(api_span.getattr("__dict__")?)?;
    Ok((same_context && same_span).then_some((tuple, plain)))
}

/// The `Context` class's own `__new__` slot, when `Context()` is `dict.__new__` + `dict.__init__`
/// (neither overridden) and what the slot makes equals `Context()`.
fn fast_context(context_cls: &Bound<'_, PyAny>) -> PyResult<Option<fast::PlainClass>> {
    let py = context_cls.py();
    let Ok(cls) = context_cls.cast::<PyType>() else { return Ok(None) };
    let dict = py.get_type::<PyDict>();
    if !cls.is_subclass(&dict)?
        || !cls.getattr("__new__")?.is(dict.getattr("__new__")?)
        || !cls.getattr("__init__")?.is(dict.getattr("__init__")?)
    {
        return Ok(None);
    }
    let Some(plain) = fast::PlainClass::of(cls) else { return Ok(None) };
    let made = plain.make(py)?;
    let same = made.get_type().is(cls) && made.eq(cls.call0()?)? && made.len()? == 0;
    Ok(same.then_some(plain))
}

/// extract(headers, context=None) -> Context
/// --
///
/// Reads Kafka headers (a list of `(name, value)` pairs, a dict or None; values bytes, str or
/// None) and returns an `opentelemetry.context.Context`: `context` (default: an empty one) with
/// the remote span when the traceparent is valid, and the message's baggage. Missing, invalid,
/// duplicated or unreadable trace headers give no span (a new root); they never raise.
#[pyfunction]
#[pyo3(signature = (headers, context = None))]
fn extract<'py>(
    py: Python<'py>,
    headers: &Bound<'py, PyAny>,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let raw = RawHeaders::collect(headers);
    let parts = extract_parts(&raw);
    context_of(py, &parts, context)
}

/// `context` (default: an empty one) with the remote span of `parts` when its traceparent is
/// valid and its baggage.
pub(crate) fn context_of<'py>(
    py: Python<'py>,
    parts: &Extracted<'_>,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api(py)?;
    // PyDict_SetItem on the Context (a dict subclass) bypasses its read-only Python methods.
    let result = match (context, &api.fast_context) {
        (Some(base), _) if !base.is_none() => api.context_cls.bind(py).call1((base,))?,
        (_, Some(plain)) => plain.make(py)?,
        _ => api.context_cls.bind(py).call0()?,
    };
    let values = result.cast::<PyDict>()?;
    if let Ok(parent) = &parts.parent {
        let span = remote_span(py, api, parent, parts.tracestate.as_ref().ok())?;
        values.set_item(api.span_key.bind(py), span)?;
    }
    if !parts.baggage.is_empty() {
        let entries = PyDict::new(py);
        for e in parts.baggage.entries() {
            entries.set_item(&e.key, &e.value)?;
        }
        let raw = RawBaggage {
            baggage: parts.baggage.clone(),
            source: entries.clone().into_any().unbind(),
        };
        values.set_item(api.baggage_key.bind(py), &entries)?;
        values.set_item(api.raw_baggage_key.bind(py), Py::new(py, raw)?)?;
    }
    Ok(result)
}

/// How many remote spans [`remote_span`] keeps (most recent first).
const REMOTE_SPANS: usize = 8;

/// A span extract made.
struct RemoteSpan {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    /// The tracestate's normalized list (`None`: empty).
    members: Option<Members>,
    span: Py<PyAny>,
    /// Its `SpanContext` when made by [`fast::TupleClass`], to refill once no one else holds it.
    context: Option<Py<PyAny>>,
}

/// The spans extract made last, the int of the last trace id it made, and a `SpanContext` of an
/// evicted span that nothing else references, to refill for the next span.
struct RemoteSpans {
    spans: Vec<RemoteSpan>,
    trace_id: Option<(TraceId, Py<PyAny>)>,
    spare: Option<Py<PyAny>>,
}

static REMOTE_SPANS_MADE: std::sync::Mutex<RemoteSpans> =
    std::sync::Mutex::new(RemoteSpans { spans: Vec::new(), trace_id: None, spare: None });

/// The `NonRecordingSpan` of a valid remote parent and its tracestate (`None`: discarded).
///
/// A pure function of the trace context: the span holds only its `SpanContext` (an immutable
/// tuple of ints, flags and an immutable `TraceState`) and every method of a `NonRecordingSpan`
/// is a no-op, so the span made for the same ids, flags and tracestate members (one of the last
/// [`REMOTE_SPANS`]) is returned again, as the API shares its own `INVALID_SPAN`. Messages
/// carrying the same trace context (one request's context injected into each message it sends,
/// a message read again) then cost no new objects; the trace id's int is shared the same way
/// by consecutive spans of one trace.
///
/// A span evicted from the cache that nothing else can reach (no reference but the cache's, no
/// weak reference) is given the new `SpanContext` and returned instead of a new span, and an
/// evicted `SpanContext` no one holds any more is refilled for the next one: no one can tell
/// these objects from new ones, and a consumer seeing a new span id per message makes and frees
/// no span objects.
fn remote_span<'py>(
    py: Python<'py>,
    api: &Api,
    parent: &TraceParent,
    state: Option<&kafka_trace::TraceState<'_>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (trace_id, span_id, flags) = (parent.trace_id, parent.span_id, parent.flags);
    // The members as one normalized list: equal lists, equal members. A plain list is compared
    // where it lies in the header; only another way of writing one is copied first.
    let state = state.filter(|s| !s.is_empty());
    let plain = state.and_then(|s| s.as_normalized());
    let copied = state.filter(|_| plain.is_none()).map(TraceStateBuf::from_state);
    let text = plain.or_else(|| copied.as_ref().map(TraceStateBuf::as_str));
    // The lock is never held across a call into Python (which may switch threads).
    let (same_trace_id, oldest, spare) = match REMOTE_SPANS_MADE.lock().as_deref_mut() {
        Ok(made) => {
            let found = made.spans.iter().position(|r| {
                r.trace_id == trace_id && r.span_id == span_id && r.flags == flags && r.members.as_deref() == text
            });
            if let Some(i) = found {
                if i != 0 {
                    made.spans.swap(0, i);
                }
                return Ok(made.spans[0].span.bind(py).clone());
            }
            let same = made.trace_id.as_ref().filter(|(t, _)| *t == trace_id).map(|(_, int)| int.bind(py).clone());
            let oldest = if made.spans.len() >= REMOTE_SPANS { made.spans.pop() } else { None };
            (same, oldest, made.spare.take())
        }
        Err(_) => (None, None, None),
    };
    let (trace_state, kept) = match (state, text) {
        (Some(state), Some(text)) => {
            let (object, kept) = crate::tracestate::shared(py, text, state)?;
            (object.into_any(), Some(kept))
        }
        _ => (api.empty_trace_state.bind(py).clone(), None),
    };
    let trace_id_int = match same_trace_id {
        Some(int) => int,
        None => int_from_u128(py, u128::from_be_bytes(trace_id.0))?,
    };
    let yes = pyo3::types::PyBool::new(py, true).to_owned().into_any();
    let fields = [
        trace_id_int.clone(),
        u64::from_be_bytes(span_id.0).into_pyobject(py)?.into_any(),
        yes.clone(),
        api.flags[usize::from(flags.0)].bind(py).clone(),
        trace_state,
        yes,
    ];
    let (span, context, spare) = if let Some((tuple, plain)) = &api.fast_span {
        let span_context = match spare {
            Some(spare) => tuple.refill(py, spare, fields)?,
            None => tuple.make(py, fields)?,
        };
        let (span, spare) = match oldest {
            Some(old) => reuse(py, api, old, &span_context)?,
            None => (None, None),
        };
        let span = match span {
            Some(span) => span,
            None => {
                let span = plain.make(py)?;
                span.setattr(api.context_attr.bind(py), &span_context)?;
                span
            }
        };
        (span, Some(span_context.unbind()), spare)
    } else {
        drop(oldest);
        let span_context = api
            .tuple_new
            .bind(py)
            .call1((api.span_context_cls.bind(py), PyTuple::new(py, fields)?))?;
        let span = if api.span_fast_path {
            let span = api
                .object_new
                .bind(py)
                .call1((api.non_recording_span_cls.bind(py),))?;
            span.setattr(intern!(py, "_context"), span_context)?;
            span
        } else {
            api.non_recording_span_cls.bind(py).call1((span_context,))?
        };
        (span, None, None)
    };
    let entry = RemoteSpan { trace_id, span_id, flags, members: kept, span: span.clone().unbind(), context };
    let released = match REMOTE_SPANS_MADE.lock().as_deref_mut() {
        Ok(made) => {
            // Another thread may have filled the cache meanwhile (the GIL is released in calls).
            let evicted = if made.spans.len() >= REMOTE_SPANS { made.spans.pop() } else { None };
            made.spans.insert(0, entry);
            let spare = match spare {
                Some(spare) => made.spare.replace(spare),
                None => None,
            };
            (evicted, made.trace_id.replace((trace_id, trace_id_int.unbind())), spare)
        }
        Err(_) => (None, None, spare),
    };
    // Released (possibly freeing Python objects) after the lock.
    drop(released);
    Ok(span)
}

/// The evicted span `old` given `span_context`, if nothing but the cache can reach it (else it is
/// released), and `old`'s `SpanContext` if nothing references it any more (to refill).
fn reuse<'py>(
    py: Python<'py>,
    api: &Api,
    old: RemoteSpan,
    span_context: &Bound<'py, PyAny>,
) -> PyResult<(Option<Bound<'py, PyAny>>, Option<Py<PyAny>>)> {
    let RemoteSpan { span, context, .. } = old;
    let span = span.into_bound(py);
    // Unreachable: one reference (ours), no weak one, and ours (the span's `_context` and every
    // other attribute are private to it).
    let reachable = fast::refcount(&span) != 1
        || !span.get_type().is(api.non_recording_span_cls.bind(py))
        // `__weakref__`: the first weak reference, or None.
        || span.getattr(api.weakref_attr.bind(py)).map_or(true, |w| !w.is_none());
    let span = if reachable {
        drop(span);
        None
    } else {
        span.setattr(api.context_attr.bind(py), span_context)?;
        Some(span)
    };
    let spare = context.filter(|c| fast::refcount(c.bind(py)) == 1);
    Ok((span, spare))
}

/// The Python int of a 128-bit id: its high and low halves joined (`hi << 64 | lo`), which
/// CPython does in a few word operations where parsing 32 hex digits costs about twice as much.
fn int_from_u128(py: Python<'_>, value: u128) -> PyResult<Bound<'_, PyAny>> {
    let low = ((value as u64).into_pyobject(py)?).into_any();
    let high = (value >> 64) as u64;
    if high == 0 {
        return Ok(low);
    }
    high.into_pyobject(py)?.lshift(64)?.bitor(low)
}

/// The value written for `state` if it is the last `TraceState` object injected.
fn last_tracestate(py: Python<'_>, state: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    let last = LAST_TRACESTATE.lock().ok()?;
    last.as_ref()
        .filter(|(object, _)| object.bind(py).is(state))
        .map(|(_, value)| value.clone())
}

fn str_of<'a>(obj: &'a Bound<'_, PyAny>) -> Option<Cow<'a, str>> {
    obj.cast::<PyString>().ok()?.to_cow().ok()
}

fn utf8_of<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
    obj.cast::<PyString>().ok()?.encode_utf8().ok()
}

/// The pieces inject needs from an OpenTelemetry context, or `None` when it holds no valid span.
struct Outgoing {
    traceparent: TraceParent,
    tracestate: Vec<u8>,
    baggage: Vec<u8>,
}

/// `compose`: a send's headers, always composed by the core's `send_context` (with the kept
/// remote when the context has one); otherwise (plain `inject`) the SDK context as it is, composed
/// only when a kept remote is present.
fn outgoing<'py>(
    py: Python<'py>,
    api: &Api,
    context: Option<&Bound<'py, PyAny>>,
    compose: bool,
    span: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Outgoing>> {
    let current;
    let context = match context {
        Some(c) if !c.is_none() => c,
        _ => {
            current = api.get_current.bind(py).call0()?;
            &current
        }
    };
    let Ok(values) = context.cast::<PyDict>() else {
        return Ok(None);
    };
    let span = match span {
        Some(span) => span.clone(),
        None => match values.get_item(api.span_key.bind(py))? {
            Some(span) => span,
            None => return Ok(None),
        },
    };
    // NonRecordingSpan (what extract makes) keeps its context in `_context` (checked in `_init`);
    // any other span is asked through the API.
    let sc = if api.span_fast_path && span.get_type().is(api.non_recording_span_cls.bind(py)) {
        span.getattr(intern!(py, "_context"))
    } else {
        span.call_method0(intern!(py, "get_span_context"))
    };
    let Ok(sc) = sc else { return Ok(None) };
    let field = |name: &Bound<'py, PyString>, index: usize| -> PyResult<Bound<'py, PyAny>> {
        match sc.cast::<PyTuple>() {
            Ok(t) if t.len() >= 6 => t.get_item(index),
            _ => sc.getattr(name),
        }
    };
    if !field(intern!(py, "is_valid"), 5)?.is_truthy()? {
        return Ok(None);
    }
    let (Some(trace_id), Ok(span_id)) = (
        crate::fast::u128_of(&field(intern!(py, "trace_id"), 0)?),
        field(intern!(py, "span_id"), 1)?.extract::<u64>(),
    ) else {
        return Ok(None);
    };
    let flags = field(intern!(py, "trace_flags"), 3)?
        .extract::<u64>()
        .unwrap_or(0) as u8;
    let mut traceparent = TraceParent::new(
        TraceId(trace_id.to_be_bytes()),
        SpanId(span_id.to_be_bytes()),
        // A child writes only the flags it propagates (sampled, W3C Level 2 random).
        TraceFlags(flags).propagated(),
    );

    let state = field(intern!(py, "trace_state"), 4)?;
    let mut tracestate = if state.is_none() {
        Vec::new()
    } else if let Ok(native) = state.cast::<NativeTraceState>() {
        native.get().buf.header_value().as_bytes().to_vec()
    } else if let Some(value) = last_tracestate(py, &state) {
        // The API's TraceState is immutable and every span of a trace shares its parent's
        // object, so the value written for the last one is reused (held, so its id stays unique).
        value
    } else {
        let items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> = match state
            .getattr(intern!(py, "_dict"))
            .ok()
            .and_then(|d| d.cast_into::<PyDict>().ok())
        {
            Some(d) => d.iter().collect(),
            None => state
                .call_method0(intern!(py, "items"))?
                .try_iter()?
                .filter_map(|item| {
                    item.ok()?
                        .extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>()
                        .ok()
                })
                .collect(),
        };
        let encoded: Option<Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>> = items
            .iter()
            .map(|(k, v)| Some((utf8_of(k)?, utf8_of(v)?)))
            .collect();
        let pairs: Option<Vec<(&str, &str)>> = encoded.as_ref().and_then(|e| {
            e.iter()
                .map(|(k, v)| {
                    Some((
                        std::str::from_utf8(k.as_bytes()).ok()?,
                        std::str::from_utf8(v.as_bytes()).ok()?,
                    ))
                })
                .collect()
        });
        let value = match pairs.map(tracestate_from_pairs) {
            Some(Ok(value)) => value.as_bytes().to_vec(),
            _ => Vec::new(),
        };
        if let Ok(mut last) = LAST_TRACESTATE.lock() {
            *last = Some((state.clone().unbind(), value.clone()));
        }
        value
    };

    let kept = values.get_item(api.kept_key.bind(py))?;
    let kept = kept.as_ref().and_then(|k| k.cast::<Kept>().ok());
    if compose || kept.is_some() {
        let span = SpanIdentity {
            trace_id: traceparent.trace_id,
            span_id: traceparent.span_id,
            sampled: flags & 0x01 != 0,
        };
        let composed = send_context(
            &span,
            &tracestate,
            kept.map(|k| &k.get().inner),
            Baggage::default(),
        );
        traceparent = composed.traceparent;
        tracestate = composed.tracestate.header_value().as_bytes().to_vec();
    }

    let baggage = match values.get_item(api.baggage_key.bind(py))? {
        None => Vec::new(),
        Some(entries) => {
            let raw = values.get_item(api.raw_baggage_key.bind(py))?;
            let same = raw
                .as_ref()
                .and_then(|r| r.cast::<RawBaggage>().ok())
                .filter(|r| r.get().source.bind(py).is(&entries));
            match same {
                Some(raw) => raw.get().baggage.to_header_string().into_bytes(),
                None => {
                    let mut pairs = Vec::new();
                    if let Ok(d) = entries.cast::<PyDict>() {
                        for (k, v) in d.iter() {
                            if let (Some(k), Ok(v)) = (str_of(&k).map(Cow::into_owned), v.str()) {
                                pairs.push((k, v.to_cow()?.into_owned()));
                            }
                        }
                    }
                    baggage_from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .into_bytes()
                }
            }
        }
    };
    Ok(Some(Outgoing {
        traceparent,
        tracestate,
        baggage,
    }))
}

fn write<H: HeadersMut>(headers: &mut H, out: &Outgoing) {
    inject_values(headers, &out.traceparent, &out.tracestate, &out.baggage);
}

/// inject(headers=None, context=None)
/// --
///
/// Writes the span of `context` (default: the current context) into `headers`, replacing any
/// trace headers already there. Lists and dicts are edited in place and returned; `None`, tuples
/// and other iterables give a new list. Without a valid span the headers are returned unchanged.
#[pyfunction]
#[pyo3(signature = (headers = None, context = None))]
fn inject<'py>(
    py: Python<'py>,
    headers: Option<&Bound<'py, PyAny>>,
    context: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    inject_into(py, headers, context, false, None)
}

/// inject_send(headers, context, span=None)
/// --
///
/// What a send writes: like `inject`, with the traceparent flags and tracestate composed by the
/// core's `send_context` (the SDK span's sampled bit; the random bit and the tracestate members of
/// the remote parent a handler continues, kept in `context`). `span`: the send span, read as if
/// it were `context`'s span (saves making that context).
#[pyfunction]
#[pyo3(signature = (headers, context, span = None))]
fn inject_send<'py>(
    py: Python<'py>,
    headers: &Bound<'py, PyAny>,
    context: &Bound<'py, PyAny>,
    span: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    inject_into(py, Some(headers), Some(context), true, span)
}

pub(crate) fn inject_into<'py>(
    py: Python<'py>,
    headers: Option<&Bound<'py, PyAny>>,
    context: Option<&Bound<'py, PyAny>>,
    compose: bool,
    span: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api(py)?;
    let out = outgoing(py, api, context, compose, span)?;
    let headers = match headers {
        Some(h) if !h.is_none() => h.clone(),
        _ => PyList::empty(py).into_any(),
    };
    let Some(out) = out else { return Ok(headers) };
    if let Ok(dict) = headers.cast::<PyDict>() {
        let mut writer = DictWriter::new(dict.clone());
        write(&mut writer, &out);
        return writer.error.map_or(Ok(headers), Err);
    }
    let list = match headers.cast::<PyList>() {
        Ok(list) => list.clone(),
        Err(_) => PyList::new(py, headers.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    let mut writer = ListWriter::new(list.clone());
    write(&mut writer, &out);
    writer.error.map_or(Ok(list.into_any()), Err)
}

/// The context a handler runs in, by the core's `rule`: the current context (`keep_ambient`;
/// `current`, or asked for when `None`), the
/// message's baggage merged over its baggage entry by entry (`message_baggage`; the message's
/// value wins), `span` as the current span, and the kept remote (`keep_remote`).
pub(crate) fn handler_context<'py>(
    py: Python<'py>,
    rule: HandlerContext,
    current: Option<&Bound<'py, PyAny>>,
    remote: Option<&Bound<'py, PyAny>>,
    kept: Option<&Bound<'py, Kept>>,
    span: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let api = api(py)?;
    let context = if rule.keep_ambient {
        let current = match current {
            Some(c) => c.clone(),
            None => api.get_current.bind(py).call0()?,
        };
        api.context_cls.bind(py).call1((current,))?
    } else {
        api.context_cls.bind(py).call0()?
    };
    let values = context.cast::<PyDict>()?;
    let baggage_key = api.baggage_key.bind(py);
    let raw_key = api.raw_baggage_key.bind(py);
    let remote_values = remote.and_then(|r| r.cast::<PyDict>().ok());
    if let (true, Some(remote_values)) = (rule.message_baggage, remote_values) {
        if let Some(message) = remote_values.get_item(baggage_key)? {
            let ambient = values
                .get_item(baggage_key)?
                .filter(|a| a.len().is_ok_and(|n| n > 0));
            match ambient {
                Some(ambient) => {
                    let merged = PyDict::new(py);
                    merged.call_method1(intern!(py, "update"), (ambient,))?;
                    merged.call_method1(intern!(py, "update"), (&message,))?;
                    values.set_item(baggage_key, merged)?;
                }
                None => {
                    // The message's own dict: its properties travel on with it (RawBaggage).
                    values.set_item(baggage_key, &message)?;
                    if let Some(raw) = remote_values.get_item(raw_key)? {
                        values.set_item(raw_key, raw)?;
                    }
                }
            }
        }
    }
    values.set_item(api.span_key.bind(py), span)?;
    if let (true, Some(kept)) = (rule.keep_remote, kept) {
        values.set_item(api.kept_key.bind(py), kept)?;
    }
    Ok(context)
}

/// _extract_fast_paths() -> (bool, bool)
/// --
///
/// Whether extract makes its `NonRecordingSpan` without calling its constructor, and its
/// `SpanContext`, span and `Context` from the classes' own slots (each checked against the
/// installed opentelemetry-api in `_init`). For tests.
#[pyfunction]
fn _extract_fast_paths(py: Python<'_>) -> PyResult<(bool, bool)> {
    let api = api(py)?;
    Ok((api.span_fast_path, api.fast_span.is_some() && api.fast_context.is_some()))
}

/// The context key of the current span (`opentelemetry.trace`'s).
pub(crate) fn span_key(py: Python<'_>) -> PyResult<&Bound<'_, PyString>> {
    Ok(api(py)?.span_key.bind(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RawBaggage>()?;
    m.add_function(wrap_pyfunction!(_init, m)?)?;
    m.add_function(wrap_pyfunction!(_extract_fast_paths, m)?)?;
    m.add_function(wrap_pyfunction!(extract, m)?)?;
    m.add_function(wrap_pyfunction!(inject, m)?)?;
    m.add_function(wrap_pyfunction!(inject_send, m)?)?;
    Ok(())
}
