//! The core's span lifecycle (`kafka_trace::lifecycle`) as Python objects.
//!
//! `Lifecycle` holds one client's options; its `send`/`process`/`batch_process`/`poll` return a
//! `Recipe` (or `None` when the topic is not traced) whose fields are already Python objects
//! (name, kind, start attributes, parent source, link sources, the message's context), and whose
//! `finish` turns an outcome into `(attributes, status, end_after_s, metrics)`. The Python layer
//! (`kafka_trace/tracing.py`) executes those against `opentelemetry-api`; it decides nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_trace::carrier::extract_parts;
use kafka_trace::lifecycle::{
    self as lc, AmbientInfo, Finish, HandlerContext, HandlerResult, InstrumentKind, KeptRemote,
    MetricRecord, MetricValueSource, PartitionCache, PollRecipe, PollResult, ProcessRecipe, RemoteInfo, SendRecipe,
    SendResult, Situation, SituationCache, SpanEnd, Status,
};
use kafka_trace::span::{
    is_sampling_attribute, Attribute, AttributeValue, ClientInfo, ContextSource, MessageInfo, Options, SpanKind, SpanSpec,
    Strategy, TopicFilter,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::headers::RawHeaders;

/// Templates by topic and situation, bounded like the Rust executor's; a `None` entry remembers
/// that the core traces no span there.
type StartCache<T> = SituationCache<Option<Arc<T>>>;

const AMBIENT: u8 = 0;
const REMOTE: u8 = 1;
const POLL: u8 = 2;

fn source(s: ContextSource) -> u8 {
    match s {
        ContextSource::Ambient => AMBIENT,
        ContextSource::Remote => REMOTE,
        ContextSource::Poll => POLL,
    }
}

/// One shared `str` per attribute key of the core (keys are `&'static str` constants).
static KEYS: PyOnceLock<Mutex<HashMap<&'static str, Py<PyString>>>> = PyOnceLock::new();

/// The key cache, locked once for a whole dict (the GIL is held: nobody else waits on it).
fn key_objects(py: Python<'_>) -> Option<std::sync::MutexGuard<'static, HashMap<&'static str, Py<PyString>>>> {
    KEYS.get_or_init(py, || Mutex::new(HashMap::new())).lock().ok()
}

fn key_object<'py>(
    py: Python<'py>,
    keys: &mut Option<std::sync::MutexGuard<'_, HashMap<&'static str, Py<PyString>>>>,
    key: &'static str,
) -> Bound<'py, PyString> {
    match keys {
        Some(map) => map
            .entry(key)
            .or_insert_with(|| PyString::intern(py, key).unbind())
            .bind(py)
            .clone(),
        None => PyString::intern(py, key),
    }
}

fn attributes<'py>(py: Python<'py>, attrs: &[Attribute]) -> PyResult<Bound<'py, PyDict>> {
    attributes_of(py, attrs.iter())
}

fn attributes_of<'a, 'py>(
    py: Python<'py>,
    attrs: impl Iterator<Item = &'a Attribute>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let mut keys = key_objects(py);
    for (key, value) in attrs {
        let key = key_object(py, &mut keys, key);
        set_attribute(&dict, key, value)?;
    }
    Ok(dict)
}

fn set_attribute(
    dict: &Bound<'_, PyDict>,
    key: Bound<'_, PyString>,
    value: &AttributeValue,
) -> PyResult<()> {
    match value {
        AttributeValue::String(s) => dict.set_item(key, s),
        AttributeValue::Int(i) => dict.set_item(key, i),
        AttributeValue::Bool(b) => dict.set_item(key, b),
        AttributeValue::Double(d) => dict.set_item(key, d),
    }
}

/// Bytes of a key: `bytes`, `bytearray` or `str` (UTF-8); anything else is unknown.
fn bytes_of(obj: Option<&Bound<'_, PyAny>>) -> Option<Vec<u8>> {
    let obj = obj?;
    if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.as_bytes().to_vec())
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow().ok().map(|s| s.into_owned().into_bytes())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Some(b.to_vec())
    } else {
        None
    }
}

/// Length of a value; `None` is a tombstone.
fn len_of(obj: Option<&Bound<'_, PyAny>>) -> Option<usize> {
    let obj = obj.filter(|o| !o.is_none())?;
    if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.as_bytes().len())
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow().ok().map(|s| s.len())
    } else {
        // A value a serializer will encode later: not a tombstone, size unknown.
        Some(obj.len().unwrap_or(0))
    }
}

fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds).unwrap_or_default()
}

/// The remote context a consumer continued (trace id, whole flags, the core's tracestate), kept
/// in the handler's context so a send from the handler keeps what the SDK's span drops.
#[pyclass(frozen, module = "kafka_trace._native", name = "KeptRemote")]
pub struct Kept {
    pub(crate) inner: KeptRemote,
}

#[pymethods]
impl Kept {
    #[getter]
    fn trace_id(&self) -> String {
        self.inner.trace_id.to_string()
    }

    #[getter]
    fn flags(&self) -> u8 {
        self.inner.flags.0
    }

    #[getter]
    fn tracestate(&self) -> String {
        self.inner.tracestate.as_str().to_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "KeptRemote(trace_id={}, flags={:02x}, tracestate={:?})",
            self.inner.trace_id,
            self.inner.flags.0,
            self.inner.tracestate.as_str()
        )
    }
}

/// `opentelemetry.trace.get_current_span` and `Link`, for the links of a recipe started natively.
static LINK_API: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// The links of `links` (context sources) from `sources` (ambient, remote, poll): the valid span
/// contexts of those contexts, as the API's `Link`s; `None` when there are none to make.
fn links_of<'py>(
    py: Python<'py>,
    sources: &[Option<&Bound<'py, PyAny>>; 3],
    links: &[ContextSource],
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if links.is_empty() {
        return Ok(None);
    }
    let (get_current_span, link_cls) = LINK_API.get_or_try_init(py, || -> PyResult<_> {
        let trace = py.import("opentelemetry.trace")?;
        Ok((trace.getattr("get_current_span")?.unbind(), trace.getattr("Link")?.unbind()))
    })?;
    let out = PyList::empty(py);
    for l in links {
        let context = match sources[usize::from(source(*l))] {
            Some(c) => c.clone(),
            None => py.None().into_bound(py),
        };
        let sc = get_current_span
            .bind(py)
            .call1((context,))?
            .call_method0(intern!(py, "get_span_context"))?;
        if sc.getattr(intern!(py, "is_valid"))?.is_truthy()? {
            out.append(link_cls.bind(py).call1((sc,))?)?;
        }
    }
    Ok(Some(out.into_any()))
}

/// The parent context and links of a span whose only context source is `ambient` (sends, polls).
fn ambient_parent_and_links<'py>(
    py: Python<'py>,
    ambient: &Bound<'py, PyAny>,
    spec: &SpanSpec,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
    parent_and_links(py, &[Some(ambient), None, None], spec.parent, &spec.links)
}

/// The parent context (of source `parent`) and links (of sources `links`) from `sources`
/// (ambient, remote, poll).
fn parent_and_links<'py>(
    py: Python<'py>,
    sources: &[Option<&Bound<'py, PyAny>>; 3],
    parent: ContextSource,
    links: &[ContextSource],
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)> {
    let context = match sources[usize::from(source(parent))] {
        Some(c) => c.clone(),
        None => py.None().into_bound(py),
    };
    Ok((context, links_of(py, sources, links)?))
}

/// Logs a tracing failure to the `kafka_trace` logger (with its traceback); tracing never raises
/// into the application.
pub(crate) fn log_failure(py: Python<'_>, what: &str, err: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py.import("logging")?.call_method1("getLogger", ("kafka_trace",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        logger.call_method("error", (what,), Some(&kwargs))?;
        Ok(())
    })();
    if let Err(e) = logged {
        e.write_unraisable(py, None);
    }
}

/// A `send {topic}` span waiting for the broker's acknowledgement (made by
/// `Recipe.start_send`). Called as `(err, msg)` it is confluent-kafka's delivery callback: it
/// ends the span from the message (partition, offset, `Message.latency()`) or the error's
/// `name()`, then calls the application's own callback, if any.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct PendingSend {
    end: SendEnd,
    instruments: Py<Instruments>,
    /// The send span.
    #[pyo3(get)]
    span: Py<PyAny>,
    on_delivery: Option<Py<PyAny>>,
}

impl PendingSend {
    pub(crate) fn end(
        &self,
        py: Python<'_>,
        error_type: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        latency: Option<f64>,
    ) {
        let span = self.span.bind(py);
        let ended = match &self.end {
            SendEnd::Recipe(recipe) => recipe.get().end_started(
                py,
                self.instruments.bind(py),
                span,
                error_type,
                partition,
                offset,
                latency,
            ),
            SendEnd::Kept { template, start_ns, t0, recorded } => {
                let elapsed = t0.elapsed();
                let instruments = self.instruments.get();
                match error_type {
                    None => template.end_acked(py, instruments, span, *start_ns, elapsed, partition, offset, latency, recorded.as_deref()),
                    Some(_) => {
                        let finish = send_finish(&template.recipe, elapsed, error_type, partition, offset, latency);
                        set_recorded_if_recording(py, instruments, span, recorded.as_deref(), &finish)
                            .and_then(|()| end_and_record(py, instruments, span, *start_ns, &finish))
                    }
                }
            }
        };
        if let Err(e) = ended {
            log_failure(py, "kafka_trace could not end a send span", &e);
        }
    }
}

#[pymethods]
impl PendingSend {
    /// The send's recipe (it started the span and keeps its start time); `None` for a span
    /// started from its topic's template.
    #[getter]
    fn recipe(&self, py: Python<'_>) -> Option<Py<Recipe>> {
        match &self.end {
            SendEnd::Recipe(recipe) => Some(recipe.clone_ref(py)),
            SendEnd::Kept { .. } => None,
        }
    }

    /// When the span started (ns since the epoch).
    #[getter]
    fn start_ns(&self) -> Option<i64> {
        match &self.end {
            SendEnd::Recipe(recipe) => recipe.get().start_ns(),
            SendEnd::Kept { start_ns, .. } => Some(*start_ns),
        }
    }

    /// The broker acknowledged the message; `latency` is the client's own measure in seconds
    /// (confluent-kafka's `Message.latency()`), which then ends the span.
    #[pyo3(signature = (partition, offset, latency = None))]
    fn delivered(&self, py: Python<'_>, partition: Option<i32>, offset: Option<i64>, latency: Option<f64>) {
        self.end(py, None, partition, offset, latency);
    }

    /// The send failed with an error of this class.
    #[pyo3(signature = (error_type, latency = None))]
    fn failed(&self, py: Python<'_>, error_type: &str, latency: Option<f64>) {
        self.end(py, Some(error_type), None, None, latency);
    }

    fn __call__(&self, py: Python<'_>, err: &Bound<'_, PyAny>, msg: &Bound<'_, PyAny>) -> PyResult<()> {
        // An older client has no Message.latency(): no latency then.
        let latency = if msg.is_none() {
            None
        } else {
            msg.call_method0(intern!(py, "latency"))
                .and_then(|l| l.extract::<Option<f64>>())
                .unwrap_or(None)
        };
        if err.is_none() {
            let read = (|| -> PyResult<(Option<i32>, Option<i64>)> {
                Ok((
                    msg.call_method0(intern!(py, "partition"))?.extract()?,
                    msg.call_method0(intern!(py, "offset"))?.extract()?,
                ))
            })();
            match read {
                Ok((partition, offset)) => self.end(py, None, partition, offset, latency),
                Err(e) => {
                    log_failure(py, "kafka_trace could not read a delivered message", &e);
                    self.end(py, None, None, None, latency);
                }
            }
        } else {
            let name = err
                .call_method0(intern!(py, "name"))
                .and_then(|n| n.extract::<String>())
                .unwrap_or_default();
            self.end(py, Some(&name), None, None, latency);
        }
        if let Some(cb) = &self.on_delivery {
            cb.bind(py).call1((err, msg))?;
        }
        Ok(())
    }
}

/// What ends a send span: its recipe, or its topic's template with, for a span that records, the
/// recorded start attributes of its own message (the core's recipe for it, converted only at the
/// end and only for them).
enum SendEnd {
    Recipe(Py<Recipe>),
    Kept { template: Arc<SendTemplate>, start_ns: i64, t0: std::time::Instant, recorded: Option<Vec<Attribute>> },
}

/// The constant part of a send span's start, from a recipe of the core (see [`ProcessTemplate`]).
pub(crate) struct SendTemplate {
    head: StartHead,
    /// The recipe it was taken from: every send of the topic and partition finishes as it does.
    recipe: SendRecipe,
    /// The metric records of an acknowledged send, per acknowledged partition id (the core's
    /// bounded per-partition cache: ids past its bound are converted per send).
    acked: PartitionCache<Arc<AckedRecords>>,
}

/// The constant part of a receive call's `poll` span of one topic and one message.
pub(crate) struct PollTemplate {
    head: StartHead,
    /// The recipe it was taken from: every such receive call finishes as it does.
    recipe: PollRecipe,
}

impl PollTemplate {
    fn of(py: Python<'_>, lifecycle: &Lifecycle, recipe: &Recipe) -> PyResult<Self> {
        let (head, r) = StartHead::with_recipe::<PollRecipe>(py, lifecycle, recipe)?;
        Ok(Self { head, recipe: r.clone() })
    }
}

/// The core's recipe of one operation, as held in [`Inner`]: what a template of that operation
/// is taken from.
trait OperationRecipe {
    /// The operation's name, for the error when a template is given another recipe.
    const OPERATION: &'static str;
    fn inside(inner: &Inner) -> Option<&Self>;
}

impl OperationRecipe for SendRecipe {
    const OPERATION: &'static str = "send";
    fn inside(inner: &Inner) -> Option<&Self> {
        if let Inner::Send(r) = inner { Some(r) } else { None }
    }
}

impl OperationRecipe for ProcessRecipe {
    const OPERATION: &'static str = "process";
    fn inside(inner: &Inner) -> Option<&Self> {
        if let Inner::Process(r) = inner { Some(r) } else { None }
    }
}

impl OperationRecipe for PollRecipe {
    const OPERATION: &'static str = "poll";
    fn inside(inner: &Inner) -> Option<&Self> {
        if let Inner::Poll(r) = inner { Some(r) } else { None }
    }
}

/// What a template starts a span with, from a recipe of the core.
struct StartHead {
    name: Py<PyString>,
    kind: Py<PyAny>,
    /// The sampling attributes (copied for each start).
    attributes: Py<PyDict>,
    parent: ContextSource,
    links: Vec<ContextSource>,
}

impl StartHead {
    /// The head of a template of `T`'s operation taken from `recipe`, and `recipe`'s `T`: the one
    /// place a template checks it was given a recipe of its own operation.
    fn with_recipe<'r, T: OperationRecipe>(
        py: Python<'_>,
        lifecycle: &Lifecycle,
        recipe: &'r Recipe,
    ) -> PyResult<(Self, &'r T)> {
        let Some(r) = T::inside(&recipe.inner) else {
            return Err(crate::errors::invalid_option(format!(
                "a {} template of a {} recipe",
                T::OPERATION,
                recipe.operation()
            )));
        };
        Ok((Self::of(py, lifecycle, recipe)?, r))
    }

    fn of(py: Python<'_>, lifecycle: &Lifecycle, recipe: &Recipe) -> PyResult<Self> {
        let spec = recipe.spec();
        let sampling = spec.attributes.iter().filter(|(k, _)| is_sampling_attribute(k));
        Ok(Self {
            name: recipe.name.clone_ref(py),
            kind: recipe.kind.clone_ref(py),
            attributes: lifecycle.start_dicts.shared(py, sampling)?.unbind(),
            parent: spec.parent,
            links: spec.links.clone(),
        })
    }

    /// Starts the span now (or at `at_ns`) from `sources` (ambient, remote, poll): the span,
    /// whether it records, its start time (ns since the epoch) and the monotonic instant of its
    /// start (or of the call, with `at_ns`).
    fn start<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        sources: &[Option<&Bound<'py, PyAny>>; 3],
        at_ns: Option<i64>,
    ) -> PyResult<(Bound<'py, PyAny>, bool, i64, std::time::Instant)> {
        let (now_ns, t0) = now();
        let start_ns = at_ns.unwrap_or(now_ns);
        let (context, links) = parent_and_links(py, sources, self.parent, &self.links)?;
        let span = tracer.call_method1(
            intern!(py, "start_span"),
            (self.name.bind(py), context, self.kind.bind(py), self.attributes.bind(py).copy()?, links, start_ns),
        )?;
        let recording = span.call_method0(intern!(py, "is_recording"))?.is_truthy()?;
        Ok((span, recording, start_ns, t0))
    }
}

/// A send's finish: acknowledged (`error_type` `None`) at `partition`/`offset`, or failed.
fn send_finish(
    r: &SendRecipe,
    elapsed: Duration,
    error_type: Option<&str>,
    partition: Option<i32>,
    offset: Option<i64>,
    latency_s: Option<f64>,
) -> Finish {
    let result = match error_type {
        None => SendResult::Acked {
            partition: partition.unwrap_or(-1),
            offset: offset.unwrap_or(-1),
        },
        Some(e) => SendResult::Failed { error_type: e },
    };
    let latency = latency_s.and_then(|s| Duration::try_from_secs_f64(s).ok());
    r.finish(result, elapsed, latency)
}

enum Inner {
    Send(SendRecipe),
    Process(ProcessRecipe),
    Poll(PollRecipe),
}

/// What the binding does for one operation; see the module docs.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct Recipe {
    inner: Inner,
    /// Span name.
    #[pyo3(get)]
    name: Py<PyString>,
    /// The `opentelemetry.trace.SpanKind` member.
    #[pyo3(get)]
    kind: Py<PyAny>,
    /// Start attributes (a fresh dict per recipe).
    #[pyo3(get)]
    attributes: Py<PyDict>,
    /// Parent source: `CONTEXT_AMBIENT`, `CONTEXT_REMOTE` or `CONTEXT_POLL`.
    #[pyo3(get)]
    parent: u8,
    /// Link sources, in order.
    #[pyo3(get)]
    links: Py<PyTuple>,
    /// process/batch_process: the message's context (remote span when valid, message baggage).
    #[pyo3(get)]
    remote: Option<Py<PyAny>>,
    /// process/batch_process: the remote context the core accepted, or `None`.
    #[pyo3(get)]
    kept: Option<Py<Kept>>,
    /// When [`start`](Recipe::start) started the span: its start time (ns since the epoch, the
    /// clock of `time.time_ns()`) and the monotonic instant the elapsed time is measured from.
    started: std::sync::OnceLock<(i64, std::time::Instant)>,
}

impl Recipe {
    fn new(
        py: Python<'_>,
        lifecycle: &Lifecycle,
        inner: Inner,
        remote: Option<Py<PyAny>>,
        kept: Option<Py<Kept>>,
    ) -> PyResult<Self> {
        let kinds = &lifecycle.kinds;
        let span: &SpanSpec = match &inner {
            Inner::Send(r) => &r.span,
            Inner::Process(r) => &r.span,
            Inner::Poll(r) => &r.span,
        };
        let kind = match span.kind {
            SpanKind::Producer => &kinds[0],
            SpanKind::Consumer => &kinds[1],
            SpanKind::Client => &kinds[2],
        };
        // A span starts with the sampling attributes only (the core's rule); they repeat from
        // message to message (topic, partition, operation, client), so the dict is a copy of a
        // cached one. The recorded ones are set by `start` only on a recording span.
        // (`SpanSpec::sampling_attributes`, as a cloneable iterator for the cache's comparison.)
        let sampling = span.attributes.iter().filter(|(k, _)| is_sampling_attribute(k));
        let attributes = lifecycle.start_dicts.fresh(py, sampling)?;
        Ok(Self {
            name: lifecycle.name(py, &span.name),
            kind: kind.clone_ref(py),
            attributes: attributes.unbind(),
            parent: source(span.parent),
            links: PyTuple::new(py, span.links.iter().map(|l| source(*l)))?.unbind(),
            remote,
            kept,
            inner,
            started: std::sync::OnceLock::new(),
        })
    }

    fn spec(&self) -> &SpanSpec {
        match &self.inner {
            Inner::Send(r) => &r.span,
            Inner::Process(r) => &r.span,
            Inner::Poll(r) => &r.span,
        }
    }

    /// Sets the recorded (non-sampling) attributes on `span` when it is recording; a span the
    /// sampler dropped never gets them built.
    fn set_recorded(&self, py: Python<'_>, span: &Bound<'_, PyAny>) -> PyResult<()> {
        let spec = self.spec();
        if spec.recorded_attributes().next().is_some()
            && span.call_method0(intern!(py, "is_recording"))?.is_truthy()?
        {
            span.call_method1(
                intern!(py, "set_attributes"),
                (attributes_of(py, spec.recorded_attributes())?,),
            )?;
        }
        Ok(())
    }

    fn metric_attrs(&self) -> &[Attribute] {
        match &self.inner {
            Inner::Send(r) => &r.metric_attributes,
            Inner::Process(r) => &r.metric_attributes,
            Inner::Poll(r) => &r.metric_attributes,
        }
    }
}

type FinishTuple<'py> = (
    Bound<'py, PyDict>,
    Option<String>,
    Option<f64>,
    Bound<'py, PyTuple>,
);

fn instrument_index(instrument: lc::Instrument) -> usize {
    lc::INSTRUMENTS
        .iter()
        .position(|i| *i == instrument)
        .unwrap_or(0)
}

fn finish_tuple<'py>(py: Python<'py>, finish: &Finish) -> PyResult<FinishTuple<'py>> {
    let status = match &finish.status {
        Status::Unset => None,
        Status::Error(description) => Some(description.clone()),
    };
    let end_after = match finish.end {
        SpanEnd::Now => None,
        SpanEnd::AfterStart(d) => Some(d.as_secs_f64()),
    };
    // Records of one finish usually share one attribute set: one dict for all of them.
    let mut previous: Option<(&Vec<Attribute>, Bound<'py, PyDict>)> = None;
    let mut records = Vec::with_capacity(finish.metrics.len());
    for MetricRecord {
        instrument,
        value,
        attributes: attrs,
    } in &finish.metrics
    {
        let dict = match &previous {
            Some((prev, dict)) if *prev == attrs => dict.clone(),
            _ => {
                let dict = attributes(py, attrs)?;
                previous = Some((attrs, dict.clone()));
                dict
            }
        };
        records.push(PyTuple::new(
            py,
            [
                instrument_index(*instrument).into_pyobject(py)?.into_any(),
                value.into_pyobject(py)?.into_any(),
                dict.into_any(),
            ],
        )?);
    }
    Ok((
        attributes(py, &finish.attributes)?,
        status,
        end_after,
        PyTuple::new(py, records)?,
    ))
}

/// A copy of `headers` (a list, a dict, another iterable or `None`; the caller's object is not
/// changed) with the trace headers of the send span `span` in the ambient context `ambient`.
fn send_headers<'py>(
    py: Python<'py>,
    ambient: &Bound<'py, PyAny>,
    headers: &Bound<'py, PyAny>,
    span: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let copy = if headers.is_none() {
        PyList::empty(py).into_any()
    } else if let Ok(list) = headers.cast::<PyList>() {
        list.get_slice(0, list.len()).into_any()
    } else if let Ok(dict) = headers.cast::<PyDict>() {
        dict.copy()?.into_any()
    } else {
        PyList::new(py, headers.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.into_any()
    };
    crate::otel::inject_into(py, Some(&copy), Some(ambient), true, Some(span))
}

/// Ends `span` (started at `start_ns`) when `finish` says and records its metric records: the
/// part of a finish every span takes, recording or not.
pub(crate) fn end_and_record(
    py: Python<'_>,
    instruments: &Instruments,
    span: &Bound<'_, PyAny>,
    start_ns: i64,
    finish: &Finish,
) -> PyResult<()> {
    end_span(py, span, start_ns, finish.end)?;
    for MetricRecord {
        instrument,
        value,
        attributes: attrs,
    } in &finish.metrics
    {
        let record = instruments.records[instrument_index(*instrument)].bind(py);
        record.call1((*value, instruments.dicts.shared(py, attrs.iter())?))?;
    }
    Ok(())
}

/// On a recording `span`: the recorded start attributes (it started with the sampling ones only)
/// and `finish`'s end attributes in one `set_attributes` call, then its error status. A span the
/// sampler dropped never gets here, so none of them is even built for it.
fn set_recorded_and_end<'a>(
    py: Python<'_>,
    instruments: &Instruments,
    span: &Bound<'_, PyAny>,
    recorded: impl Iterator<Item = &'a Attribute>,
    finish: &'a Finish,
) -> PyResult<()> {
    let mut set = recorded.chain(finish.attributes.iter()).peekable();
    if set.peek().is_some() {
        span.call_method1(intern!(py, "set_attributes"), (attributes_of(py, set)?,))?;
    }
    if let Status::Error(description) = &finish.status {
        let status = instruments
            .status_cls
            .bind(py)
            .call1((instruments.error_code.bind(py), description))?;
        span.call_method1(intern!(py, "set_status"), (status,))?;
    }
    Ok(())
}

/// [`set_recorded_and_end`] with the `recorded` start attributes of a span that recorded when it
/// started (`None`: it did not). User code ran since (a hook, the handler) and may have ended it,
/// so it is asked again, as a recipe's `end` asks: an ended span gets nothing set.
fn set_recorded_if_recording(
    py: Python<'_>,
    instruments: &Instruments,
    span: &Bound<'_, PyAny>,
    recorded: Option<&[Attribute]>,
    finish: &Finish,
) -> PyResult<()> {
    match recorded {
        Some(recorded) if span.call_method0(intern!(py, "is_recording"))?.is_truthy()? => {
            set_recorded_and_end(py, instruments, span, recorded.iter(), finish)
        }
        _ => Ok(()),
    }
}

/// `span.end()` now or at its start plus the finish's duration.
pub(crate) fn end_span(py: Python<'_>, span: &Bound<'_, PyAny>, start_ns: i64, end: SpanEnd) -> PyResult<()> {
    match end {
        SpanEnd::Now => span.call_method0(intern!(py, "end"))?,
        SpanEnd::AfterStart(d) => {
            // `Span.end(end_time=None)`: positional, no keyword dict per span.
            let end = start_ns.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            span.call_method1(intern!(py, "end"), (end,))?
        }
    };
    Ok(())
}

/// What executing a finish needs from the binding's OpenTelemetry setup, made once per
/// `KafkaTracing`: one record callable per instrument of the core (`INSTRUMENTS` order), the API's
/// `Status` class and `StatusCode.ERROR`. It also keeps the metric attribute dicts it handed out
/// (metric attributes repeat from message to message; a meter reads them, never changes them).
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct Instruments {
    records: Vec<Py<PyAny>>,
    status_cls: Py<PyAny>,
    error_code: Py<PyAny>,
    dicts: DictCache,
}

/// The attribute dicts made for the last distinct attribute sets (most recent first): attribute
/// sets repeat from message to message (same topic, client and outcome), and comparing them in
/// Rust costs far less than building a dict of Python strings.
struct DictCache {
    dicts: Mutex<Vec<(Vec<Attribute>, Py<PyDict>)>>,
    /// How many distinct attribute sets it keeps (a miss compares with each).
    capacity: usize,
}

impl DictCache {
    fn new(capacity: usize) -> Self {
        Self {
            dicts: Mutex::new(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    /// The cached dict of `attrs` itself (for readers that never change it, like a meter), or a
    /// new one.
    fn shared<'a, 'py, I>(&self, py: Python<'py>, attrs: I) -> PyResult<Bound<'py, PyDict>>
    where
        I: Iterator<Item = &'a Attribute> + Clone,
    {
        let Ok(mut dicts) = self.dicts.lock() else {
            return attributes_of(py, attrs);
        };
        if let Some(i) = dicts.iter().position(|(a, _)| a.iter().eq(attrs.clone())) {
            if i != 0 {
                dicts.swap(0, i);
            }
            return Ok(dicts[0].1.bind(py).clone());
        }
        let dict = attributes_of(py, attrs.clone())?;
        if dicts.len() >= self.capacity {
            dicts.pop();
        }
        dicts.insert(0, (attrs.cloned().collect(), dict.clone().unbind()));
        Ok(dict)
    }

    /// A fresh dict of `attrs` (a copy of the cached one when the set was seen before).
    fn fresh<'a, 'py, I>(&self, py: Python<'py>, attrs: I) -> PyResult<Bound<'py, PyDict>>
    where
        I: Iterator<Item = &'a Attribute> + Clone,
    {
        self.shared(py, attrs)?.copy()
    }
}

#[pymethods]
impl Instruments {
    #[new]
    fn new(records: Vec<Py<PyAny>>, status_cls: Py<PyAny>, error_code: Py<PyAny>) -> PyResult<Self> {
        if records.len() != lc::INSTRUMENTS.len() {
            return Err(crate::errors::invalid_option(format!(
                "{} record callables for {} instruments",
                records.len(),
                lc::INSTRUMENTS.len()
            )));
        }
        Ok(Self {
            records,
            status_cls,
            error_code,
            dicts: DictCache::new(32),
        })
    }
}

#[pymethods]
impl Recipe {
    /// Ends the operation and carries out the core's finish on `span` (started at `start_ns` with
    /// [`attributes`](Self::attributes), the sampling ones): the recorded start attributes, the end
    /// attributes and error status (only on a recording span: a span the sampler dropped takes
    /// none of them, and they are not even built), the end time, and every metric record through
    /// `instruments`. Arguments after `span`/`start_ns` as in [`finish`](Self::finish).
    #[pyo3(signature = (instruments, span, start_ns, elapsed_s, error_type = None, partition = None, offset = None, latency_s = None))]
    #[allow(clippy::too_many_arguments)]
    fn end(
        &self,
        py: Python<'_>,
        instruments: &Bound<'_, Instruments>,
        span: &Bound<'_, PyAny>,
        start_ns: i64,
        elapsed_s: f64,
        error_type: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        latency_s: Option<f64>,
    ) -> PyResult<()> {
        let finish = self.finish_of(elapsed_s, error_type, partition, offset, latency_s);
        let instruments = instruments.get();
        if span.call_method0(intern!(py, "is_recording"))?.is_truthy()? {
            set_recorded_and_end(py, instruments, span, self.spec().recorded_attributes(), &finish)?;
        }
        end_and_record(py, instruments, span, start_ns, &finish)
    }

    /// The attributes to set once the span is known to be recording (a new dict): the span's
    /// attributes that are not sampling attributes.
    #[getter]
    fn recorded_attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        attributes_of(py, self.spec().recorded_attributes())
    }

    /// Sets the recorded attributes on `span` (started with [`attributes`](Self::attributes))
    /// when it is recording; nothing on a span the sampler dropped. (`end` does this itself,
    /// together with the end attributes, for a span it ends.)
    fn started(&self, py: Python<'_>, span: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_recorded(py, span)
    }

    /// Starts the span with `tracer` (`tracer.start_span(name, context, kind, attributes, links,
    /// start_time)`: the sampling attributes only, start time now) and returns it;
    /// [`end_started`](Self::end_started) ends it and sets the recorded attributes then, if it is
    /// recording.
    #[pyo3(signature = (tracer, context, links = None))]
    fn start<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        context: &Bound<'py, PyAny>,
        links: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (start_ns, _) = *self.started.get_or_init(now);
        self.start_at(py, tracer, context, links, start_ns)
    }

    /// A send (this recipe's) started and injected in one call: starts the span as
    /// [`start`](Self::start) does in the ambient context `ambient`, copies `headers` (a list, a
    /// dict, another iterable or `None`; the caller's object is not changed), writes the trace
    /// headers of the span into the copy, and returns `(PendingSend, headers_out)`; the
    /// `PendingSend` ends the span (`delivered`/`failed`, or called as confluent-kafka's
    /// delivery callback, then calling `on_delivery`).
    #[pyo3(signature = (tracer, instruments, ambient, headers, on_delivery = None))]
    fn start_send<'py>(
        slf: &Bound<'py, Self>,
        tracer: &Bound<'py, PyAny>,
        instruments: &Bound<'py, Instruments>,
        ambient: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        on_delivery: Option<Py<PyAny>>,
    ) -> PyResult<(PendingSend, Bound<'py, PyAny>)> {
        let py = slf.py();
        let this = slf.get();
        let spec = this.spec();
        let (context, links) = ambient_parent_and_links(py, ambient, spec)?;
        let span = this.start(py, tracer, &context, links.as_ref())?;
        let out = send_headers(py, ambient, headers, &span)?;
        let pending = PendingSend {
            end: SendEnd::Recipe(slf.clone().unbind()),
            instruments: instruments.clone().unbind(),
            span: span.unbind(),
            on_delivery,
        };
        Ok((pending, out))
    }

    /// Starts the span at `start_ns` in the ambient context `ambient` (sampling attributes only)
    /// and ends it at once with the outcome, as [`end`](Self::end): a receive call's `poll`
    /// span, made when the call has returned. Returns the span.
    #[pyo3(signature = (tracer, instruments, ambient, start_ns, elapsed_s, error_type = None))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        instruments: &Bound<'py, Instruments>,
        ambient: &Bound<'py, PyAny>,
        start_ns: i64,
        elapsed_s: f64,
        error_type: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let spec = self.spec();
        let (context, links) = ambient_parent_and_links(py, ambient, spec)?;
        let span = self.start_at(py, tracer, &context, links.as_ref(), start_ns)?;
        self.end(py, instruments, &span, start_ns, elapsed_s, error_type, None, None, None)?;
        Ok(span)
    }

    /// The start time [`start`](Self::start) gave the span (ns), or `None` before.
    #[getter]
    fn start_ns(&self) -> Option<i64> {
        self.started.get().map(|(ns, _)| *ns)
    }

    /// [`end`](Self::end) of a span [`start`](Self::start) started: the start time and the
    /// elapsed time are the recipe's own.
    #[pyo3(signature = (instruments, span, error_type = None, partition = None, offset = None, latency_s = None))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn end_started(
        &self,
        py: Python<'_>,
        instruments: &Bound<'_, Instruments>,
        span: &Bound<'_, PyAny>,
        error_type: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        latency_s: Option<f64>,
    ) -> PyResult<()> {
        let (start_ns, elapsed) = match self.started.get() {
            Some((ns, t0)) => (*ns, t0.elapsed().as_secs_f64()),
            None => (0, 0.0),
        };
        self.end(py, instruments, span, start_ns, elapsed, error_type, partition, offset, latency_s)
    }

    /// `"send"`, `"process"`, `"batch_process"` or `"poll"`.
    #[getter]
    fn operation(&self) -> &'static str {
        match &self.inner {
            Inner::Send(_) => "send",
            Inner::Process(r) if r.operation == lc::Operation::BatchProcess => "batch_process",
            Inner::Process(_) => "process",
            Inner::Poll(_) => "poll",
        }
    }

    /// process/batch_process: the handler-context rule `(keep_ambient, message_baggage,
    /// keep_remote)`; `None` for other operations.
    #[getter]
    fn handler(&self) -> Option<(bool, bool, bool)> {
        match &self.inner {
            Inner::Process(r) => {
                let HandlerContext {
                    keep_ambient,
                    message_baggage,
                    keep_remote,
                } = r.handler;
                Some((keep_ambient, message_baggage, keep_remote))
            }
            _ => None,
        }
    }

    /// The metric attributes known at the start (a new dict).
    #[getter]
    fn metric_attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        attributes(py, self.metric_attrs())
    }

    /// The context the handler runs in, built by the recipe's handler rule around `span`
    /// (process/batch_process only).
    fn handler_context<'py>(
        &self,
        py: Python<'py>,
        span: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.handler_context_in(py, span, None)
    }

    /// Ends the operation: `elapsed_s` is the binding's measure from start to now;
    /// `error_type` (`None` = success; `""` = unnamed error) is the failure's class; a send's
    /// acknowledged `partition`/`offset` (`None` or negative = unknown) and the client's `latency_s` (librdkafka's
    /// per-message latency, or `None`). Returns `(attributes, status_description or None,
    /// end_after_s or None (= now), ((instrument_index, value, attributes), ...))`.
    #[pyo3(signature = (elapsed_s, error_type = None, partition = None, offset = None, latency_s = None))]
    fn finish<'py>(
        &self,
        py: Python<'py>,
        elapsed_s: f64,
        error_type: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        latency_s: Option<f64>,
    ) -> PyResult<FinishTuple<'py>> {
        finish_tuple(py, &self.finish_of(elapsed_s, error_type, partition, offset, latency_s))
    }
}

impl Recipe {
    /// [`handler_context`](Self::handler_context) with the current context already known
    /// (`current`; `None`: asked for when the rule keeps the ambient one).
    fn handler_context_in<'py>(
        &self,
        py: Python<'py>,
        span: &Bound<'py, PyAny>,
        current: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Inner::Process(r) = &self.inner else {
            return Err(crate::errors::invalid_option(
                "handler_context is for process recipes".to_owned(),
            ));
        };
        let remote = self.remote.as_ref().map(|r| r.bind(py));
        let kept = self.kept.as_ref().map(|k| k.bind(py));
        crate::otel::handler_context(py, r.handler, current, remote, kept, span)
    }

    /// `tracer.start_span(name, context, kind, attributes, links, start_time)`: the sampling
    /// attributes only, started at `start_ns`.
    fn start_at<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        context: &Bound<'py, PyAny>,
        links: Option<&Bound<'py, PyAny>>,
        start_ns: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        tracer.call_method1(
            intern!(py, "start_span"),
            (self.name.bind(py), context, self.kind.bind(py), self.attributes.bind(py), links, start_ns),
        )
    }

    fn finish_of(
        &self,
        elapsed_s: f64,
        error_type: Option<&str>,
        partition: Option<i32>,
        offset: Option<i64>,
        latency_s: Option<f64>,
    ) -> Finish {
        let elapsed = duration(elapsed_s);
        match &self.inner {
            Inner::Send(r) => send_finish(r, elapsed, error_type, partition, offset, latency_s),
            Inner::Process(r) => {
                let result = match error_type {
                    None => HandlerResult::Returned,
                    Some(e) => HandlerResult::Failed { error_type: e },
                };
                r.finish(result, elapsed)
            }
            Inner::Poll(r) => {
                let result = match error_type {
                    None => PollResult::Received,
                    Some(e) => PollResult::Failed { error_type: e },
                };
                r.finish(result, elapsed)
            }
        }
    }
}

/// Options and client of one traced producer or consumer; returns the core's recipes.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct Lifecycle {
    inner: lc::Lifecycle,
    kinds: [Py<PyAny>; 3],
    /// Start (sampling) attributes of recent spans.
    start_dicts: DictCache,
    /// Recent span names as Python strings (most recent first).
    names: Mutex<Vec<(String, Py<PyString>)>>,
    /// Per-message process spans' start templates (`TracedConsumer.process`).
    process_starts: StartCache<ProcessTemplate>,
    /// Send spans' start templates (`start_send`).
    send_starts: StartCache<SendTemplate>,
    /// `poll` spans' start templates (`record_poll`).
    poll_starts: StartCache<PollTemplate>,
}

/// How many span names a `Lifecycle` keeps as Python strings.
const CACHED_NAMES: usize = 16;

fn client_info(
    client_id: Option<String>,
    consumer_group: Option<String>,
    bootstrap_servers: Option<&str>,
) -> ClientInfo {
    let client = ClientInfo {
        client_id,
        consumer_group,
        ..Default::default()
    };
    match bootstrap_servers {
        Some(servers) => client.with_bootstrap(servers),
        None => client,
    }
}

impl Lifecycle {
    fn with(inner: lc::Lifecycle, kinds: [Py<PyAny>; 3]) -> Self {
        Self {
            inner,
            kinds,
            start_dicts: DictCache::new(16),
            names: Mutex::new(Vec::with_capacity(CACHED_NAMES)),
            process_starts: StartCache::default(),
            send_starts: StartCache::default(),
            poll_starts: StartCache::default(),
        }
    }

    /// `name` as a Python string, the same object as for the last messages of that name.
    fn name(&self, py: Python<'_>, name: &str) -> Py<PyString> {
        let Ok(mut names) = self.names.lock() else {
            return PyString::new(py, name).unbind();
        };
        if let Some(i) = names
            .iter()
            .position(|(n, _)| n == name)
        {
            if i != 0 {
                names.swap(0, i);
            }
            return names[0].1.clone_ref(py);
        }
        let object = PyString::new(py, name).unbind();
        if names.len() >= CACHED_NAMES {
            names.pop();
        }
        names.insert(0, (name.to_owned(), object.clone_ref(py)));
        object
    }

    fn recipe(&self, py: Python<'_>, inner: Inner) -> PyResult<Recipe> {
        Recipe::new(py, self, inner, None, None)
    }

    /// The message's context for the handler and the parent/link sources: one read of the headers.
    fn remote(
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
    ) -> PyResult<(RemoteInfo, Py<PyAny>, Option<Py<Kept>>)> {
        let raw = RawHeaders::collect(headers);
        let parts = extract_parts(&raw);
        let info = RemoteInfo::of(&parts);
        let context = crate::otel::context_of(py, &parts, None)?.unbind();
        let kept = match parts.into_context() {
            Some(c) => Some(Py::new(
                py,
                Kept {
                    inner: KeptRemote::of(&c),
                },
            )?),
            None => None,
        };
        Ok((info, context, kept))
    }
}

#[pymethods]
impl Lifecycle {
    /// `span_kinds`: the API's `(PRODUCER, CONSUMER, CLIENT)`; the options as in `OPTION_NAMES`.
    #[new]
    #[pyo3(signature = (span_kinds, *, strategy = "parent", record_message_key = true, record_body_size = false,
                        include_topics = Vec::new(), exclude_topics = Vec::new(), client_id = None,
                        consumer_group = None, bootstrap_servers = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        span_kinds: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
        strategy: &str,
        record_message_key: bool,
        record_body_size: bool,
        include_topics: Vec<String>,
        exclude_topics: Vec<String>,
        client_id: Option<String>,
        consumer_group: Option<String>,
        bootstrap_servers: Option<&str>,
    ) -> PyResult<Self> {
        let strategy = Strategy::parse(strategy).ok_or_else(|| {
            crate::errors::invalid_option(format!(
                "unknown strategy {strategy:?} (expected 'parent' or 'link')"
            ))
        })?;
        let options = Options {
            strategy,
            record_message_key,
            record_body_size,
            topics: TopicFilter {
                include: include_topics,
                exclude: exclude_topics,
            },
        };
        Ok(Self::with(
            lc::Lifecycle::new(
                options,
                client_info(client_id, consumer_group, bootstrap_servers),
            ),
            [span_kinds.0, span_kinds.1, span_kinds.2],
        ))
    }

    /// The same options for another client.
    #[pyo3(signature = (*, client_id = None, consumer_group = None, bootstrap_servers = None))]
    fn with_client(
        &self,
        py: Python<'_>,
        client_id: Option<String>,
        consumer_group: Option<String>,
        bootstrap_servers: Option<&str>,
    ) -> Self {
        Self::with(
            lc::Lifecycle::new(
                self.inner.options().clone(),
                client_info(client_id, consumer_group, bootstrap_servers),
            ),
            self.kinds.each_ref().map(|k| k.clone_ref(py)),
        )
    }

    #[getter]
    fn strategy(&self) -> &'static str {
        match self.inner.options().strategy {
            Strategy::Parent => "parent",
            Strategy::Link => "link",
        }
    }

    /// `(client_id, consumer_group, server_address, server_port)`.
    #[getter]
    fn client(&self) -> (Option<String>, Option<String>, Option<String>, Option<u16>) {
        let c = self.inner.client();
        (
            c.client_id.clone(),
            c.consumer_group.clone(),
            c.server_address.clone(),
            c.server_port,
        )
    }

    /// Whether `topic` is traced at all.
    fn allows(&self, topic: &str) -> bool {
        self.inner.allows(topic)
    }

    /// The recipe of a send, or `None` when the topic is not traced.
    #[pyo3(signature = (topic, partition = None, key = None, value = None))]
    fn send<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: Option<i32>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Recipe>> {
        let key = bytes_of(key);
        let message = MessageInfo {
            topic,
            partition,
            offset: None,
            key: key.as_deref(),
            payload_len: len_of(value),
            timestamp_ms: None,
        };
        match self.inner.send(&message) {
            Some(r) => self.recipe(py, Inner::Send(r)).map(Some),
            None => Ok(None),
        }
    }

    /// A send started in one call: the recipe's start (from the topic and partition's template
    /// when the span does not record: no recipe is made), the headers copied and injected as
    /// `Recipe.start_send` does. Returns `(PendingSend, headers_out)`, or `None` when the topic is
    /// not traced.
    #[pyo3(signature = (tracer, instruments, ambient, topic, partition, key, value, headers, on_delivery = None))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_send<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        instruments: &Bound<'py, Instruments>,
        ambient: &Bound<'py, PyAny>,
        topic: &str,
        partition: Option<i32>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        headers: &Bound<'py, PyAny>,
        on_delivery: Option<Py<PyAny>>,
    ) -> PyResult<Option<(PendingSend, Bound<'py, PyAny>)>> {
        let situation = Situation::send(&MessageInfo { topic, partition, ..MessageInfo::default() });
        let template = match self.send_starts.get(topic, situation) {
            Some(None) => return Ok(None),
            Some(Some(t)) => t,
            None => {
                let recipe = self.send(py, topic, partition, key, value)?;
                let template = match &recipe {
                    Some(r) => Some(Arc::new(SendTemplate::of(py, self, r)?)),
                    None => None,
                };
                self.send_starts.put(topic, situation, template);
                let Some(recipe) = recipe else { return Ok(None) };
                return Recipe::start_send(&Bound::new(py, recipe)?, tracer, instruments, ambient, headers, on_delivery)
                    .map(Some);
            }
        };
        let (span, recording, start_ns, t0) = template.head.start(py, tracer, &[Some(ambient), None, None], None)?;
        // A recording span takes its message's recorded attributes from the core's span of it;
        // the rest (name, kind, sampling and metric attributes) is the template's. (The template
        // exists, so the core traces the topic.)
        let recorded = if recording {
            let key = bytes_of(key);
            let message = MessageInfo { topic, partition, key: key.as_deref(), payload_len: len_of(value), ..MessageInfo::default() };
            let spec = kafka_trace::span::send_span(&message, self.inner.client(), self.inner.options());
            Some(spec.recorded_attributes().cloned().collect())
        } else {
            None
        };
        let end = SendEnd::Kept { template, start_ns, t0, recorded };
        let out = send_headers(py, ambient, headers, &span)?;
        let pending = PendingSend { end, instruments: instruments.clone().unbind(), span: span.unbind(), on_delivery };
        Ok(Some((pending, out)))
    }

    /// The recipe of one message handed to a per-message handler, or `None` (topic not traced).
    /// `headers` are the message's headers (any shape `extract` reads).
    #[pyo3(signature = (topic, partition, offset, key, value, timestamp_ms, headers, ambient_has_span, now_ms = None))]
    #[allow(clippy::too_many_arguments)]
    fn process<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: Option<i32>,
        offset: Option<i64>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<i64>,
        headers: &Bound<'py, PyAny>,
        ambient_has_span: bool,
        now_ms: Option<i64>,
    ) -> PyResult<Option<Recipe>> {
        self.consumed(
            py,
            (topic, partition, offset, key, value, timestamp_ms),
            headers,
            Some(ambient_has_span),
            now_ms,
        )
    }

    /// `process(...)` of a confluent-kafka `Message` or an aiokafka `ConsumerRecord`, read natively, with
    /// the span started (`Recipe.start`) and the handler's context built (`handler_context`) in
    /// the same call: `(recipe, span, handler_context)`. `ambient` is the current context (the
    /// ambient source; whether it holds a valid span decides as in `process`). `None` for an
    /// error event, a message without a topic or an untraced topic; `False` when `message` has no
    /// `topic` (the caller reads it itself).
    fn process_message<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        message: &Bound<'py, PyAny>,
        ambient: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.start_message(py, tracer, message, ambient, None, false)? {
            Started::NotAMessage => Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any()),
            Started::Nothing => Ok(py.None().into_bound(py)),
            Started::Span(recipe, span, context) => {
                Ok(PyTuple::new(py, [recipe.into_any(), span, context])?.into_any())
            }
            // Not made without the start cache.
            Started::Kept(..) => Ok(py.None().into_bound(py)),
        }
    }

    /// The recipe of one message of a batch (its poll span is the `CONTEXT_POLL` source).
    #[pyo3(signature = (topic, partition, offset, key, value, timestamp_ms, headers, now_ms = None))]
    #[allow(clippy::too_many_arguments)]
    fn batch_process<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: Option<i32>,
        offset: Option<i64>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<i64>,
        headers: &Bound<'py, PyAny>,
        now_ms: Option<i64>,
    ) -> PyResult<Option<Recipe>> {
        self.consumed(
            py,
            (topic, partition, offset, key, value, timestamp_ms),
            headers,
            None,
            now_ms,
        )
    }

    /// The recipe of a failed receive call (`topics`: the subscription when known), or `None`
    /// when none of them is traced.
    #[pyo3(signature = (topics = Vec::new()))]
    pub(crate) fn poll_failed(&self, py: Python<'_>, topics: Vec<String>) -> PyResult<Option<Recipe>> {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        match self.inner.poll_failed(&topics) {
            Some(r) => self.recipe(py, Inner::Poll(r)).map(Some),
            None => Ok(None),
        }
    }

    /// The `poll` span of a receive call that returned one message of `topic`, recorded at once
    /// (`Recipe.record`): started at `start_ns` in `ambient`, ended after `elapsed_s`. Returns the
    /// span, or `None` when the topic is not traced.
    #[pyo3(signature = (tracer, instruments, ambient, topic, start_ns, elapsed_s))]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_poll<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        instruments: &Bound<'py, Instruments>,
        ambient: &Bound<'py, PyAny>,
        topic: &str,
        start_ns: i64,
        elapsed_s: f64,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let situation = Situation::poll();
        let template = match self.poll_starts.get(topic, situation) {
            Some(None) => return Ok(None),
            Some(Some(t)) => t,
            None => {
                let recipe = match self.inner.poll(&[topic], 1) {
                    Some(r) => Some(self.recipe(py, Inner::Poll(r))?),
                    None => None,
                };
                let template = match &recipe {
                    Some(r) => Some(Arc::new(PollTemplate::of(py, self, r)?)),
                    None => None,
                };
                self.poll_starts.put(topic, situation, template);
                let Some(recipe) = recipe else { return Ok(None) };
                return recipe.record(py, tracer, instruments, ambient, start_ns, elapsed_s, None).map(Some);
            }
        };
        let (span, recording, _, _) = template.head.start(py, tracer, &[Some(ambient), None, None], Some(start_ns))?;
        // The template's recipe is this call's own: a receive call of one message of the topic.
        let finish = template.recipe.finish(PollResult::Received, duration(elapsed_s));
        let instruments = instruments.get();
        if recording {
            set_recorded_and_end(py, instruments, &span, template.recipe.span.recorded_attributes(), &finish)?;
        }
        end_and_record(py, instruments, &span, start_ns, &finish)?;
        Ok(Some(span))
    }

    /// The recipe of a receive call that returned `message_count` messages of `topics`, or
    /// `None` when none of them is traced or it returned nothing.
    fn poll(
        &self,
        py: Python<'_>,
        topics: Vec<String>,
        message_count: usize,
    ) -> PyResult<Option<Recipe>> {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        match self.inner.poll(&topics, message_count) {
            Some(r) => self.recipe(py, Inner::Poll(r)).map(Some),
            None => Ok(None),
        }
    }
}

type Consumed<'a, 'py> = (
    &'a str,
    Option<i32>,
    Option<i64>,
    Option<&'a Bound<'py, PyAny>>,
    Option<&'a Bound<'py, PyAny>>,
    Option<i64>,
);

/// What [`Lifecycle::start_message`] did with a message.
pub(crate) enum Started<'py> {
    /// Not a Kafka message: it has no `topic`.
    NotAMessage,
    /// An error event, a message without a topic or an untraced topic: no span.
    Nothing,
    /// The recipe, the started span and the handler's context.
    Span(Bound<'py, Recipe>, Bound<'py, PyAny>, Bound<'py, PyAny>),
    /// A span the sampler does not record, started from its situation's template: what ends it,
    /// the span and the handler's context.
    Kept(KeptProcess, Bound<'py, PyAny>, Bound<'py, PyAny>),
}

impl Lifecycle {
    /// A confluent-kafka `Message` or an aiokafka `ConsumerRecord` (or look-alike) read natively,
    /// its process recipe made, its span started and the handler's context built (`ambient`: the current context, the ambient and poll source).
    pub(crate) fn start_message<'py>(
        &self,
        py: Python<'py>,
        tracer: &Bound<'py, PyAny>,
        message: &Bound<'py, PyAny>,
        ambient: &Bound<'py, PyAny>,
        poll: Option<&Bound<'py, PyAny>>,
        cached: bool,
    ) -> PyResult<Started<'py>> {
        let Ok(topic_attr) = message.getattr(intern!(py, "topic")) else {
            return Ok(Started::NotAMessage);
        };
        // A confluent-kafka `Message` (its fields are methods) or an aiokafka `ConsumerRecord`
        // and look-alikes (attributes, absent ones None), read as `tracing.MessageInfo` reads them.
        let confluent = topic_attr.is_callable();
        let error = if confluent { message.getattr(intern!(py, "error")).ok() } else { message.getattr_opt(intern!(py, "error"))? };
        if let Some(error) = error.filter(|e| confluent || e.is_callable()) {
            if !error.call0()?.is_none() {
                return Ok(Started::Nothing);
            }
        }
        let field = |name: &Bound<'py, PyString>| -> PyResult<Bound<'py, PyAny>> {
            if confluent {
                message.call_method0(name)
            } else {
                Ok(message.getattr_opt(name)?.unwrap_or_else(|| py.None().into_bound(py)))
            }
        };
        let topic = if confluent { topic_attr.call0()? } else { topic_attr };
        let topic: String = if topic.is_none() || !topic.is_truthy()? { String::new() } else { topic.extract()? };
        if topic.is_empty() {
            return Ok(Started::Nothing);
        }
        let partition: Option<i32> = field(intern!(py, "partition"))?.extract()?;
        let offset: Option<i64> = field(intern!(py, "offset"))?.extract()?;
        let key = field(intern!(py, "key"))?;
        let value = field(intern!(py, "value"))?;
        let (ts_type, ts): (i64, Option<i64>) = if confluent {
            message.call_method0(intern!(py, "timestamp"))?.extract()?
        } else {
            // aiokafka: milliseconds or None, whatever its type (as MessageInfo).
            (1, field(intern!(py, "timestamp"))?.extract()?)
        };
        let headers = field(intern!(py, "headers"))?;
        // A batch's message (`poll`: its receive call's context) does not look at the ambient span.
        let has_span = match ambient.cast::<PyDict>().ok().filter(|_| poll.is_none()) {
            Some(values) => match values.get_item(crate::otel::span_key(py)?)? {
                Some(span) => span
                    .call_method0(intern!(py, "get_span_context"))?
                    .getattr(intern!(py, "is_valid"))?
                    .is_truthy()?,
                None => false,
            },
            None => false,
        };
        // The core answers `None` for a filtered topic anyway; asking first saves reading headers.
        if !self.inner.allows(&topic) {
            return Ok(Started::Nothing);
        }
        let timestamp_ms = if ts_type != 0 { ts } else { None };
        let fields = (
            topic.as_str(),
            partition.filter(|p| *p >= 0),
            offset.filter(|o| *o >= 0),
            Some(&key).filter(|k| !k.is_none()),
            Some(&value),
            timestamp_ms,
        );
        let (info, remote, kept) = Self::remote(py, &headers)?;
        let message_info = MessageInfo { topic: fields.0, partition: fields.1, timestamp_ms, ..MessageInfo::default() };
        let (situation, ambient_has_span) = match poll {
            Some(_) => (Situation::batch_process(&message_info, info.valid), None),
            None => (Situation::process(&message_info, info.valid, has_span), Some(has_span)),
        };
        let template = if cached { self.process_starts.get(&topic, situation) } else { None };
        let remote_b = remote.bind(py).clone();
        // Without a receive call's context the ambient context is the poll source too.
        let sources = [Some(ambient), Some(&remote_b), Some(poll.unwrap_or(ambient))];
        let template = match template {
            Some(None) => return Ok(Started::Nothing),
            Some(Some(t)) => t,
            None => {
                let recipe = self.consumed_with(py, fields, (info, remote, kept), ambient_has_span, None)?;
                if cached {
                    let template = match &recipe {
                        Some(r) => Some(Arc::new(ProcessTemplate::of(py, self, r)?)),
                        None => None,
                    };
                    self.process_starts.put(&topic, situation, template);
                }
                let Some(recipe) = recipe else { return Ok(Started::Nothing) };
                let recipe = Bound::new(py, recipe)?;
                let r = recipe.get();
                let spec = r.spec();
                let (context, links) = parent_and_links(py, &sources, spec.parent, &spec.links)?;
                let span = r.start(py, tracer, &context, links.as_ref())?;
                let context = r.handler_context_in(py, &span, Some(ambient))?;
                return Ok(Started::Span(recipe, span, context));
            }
        };
        // Started from the template. A recording span takes its message's recorded attributes and
        // end-to-end latency from the core's recipe (kept in Rust, converted only at the end).
        let (span, recording, start_ns, t0) = template.head.start(py, tracer, &sources, None)?;
        let (e2e_ms, recorded) = if recording {
            let spec = self.consumed_span(fields, info, ambient_has_span, lc::now_ms());
            (spec.e2e_latency_ms, Some(spec.recorded_attributes().cloned().collect()))
        } else {
            (kafka_trace::span::e2e_latency_ms(timestamp_ms, lc::now_ms()), None)
        };
        let kept = kept.map(|k| k.into_bound(py));
        let context =
            crate::otel::handler_context(py, template.handler, Some(ambient), Some(&remote_b), kept.as_ref(), &span)?;
        Ok(Started::Kept(KeptProcess { template, e2e_ms, start_ns, t0, recorded }, span, context))
    }
}

impl Lifecycle {
    /// process (`ambient_has_span` given) or batch_process (`None`).
    fn consumed<'py>(
        &self,
        py: Python<'py>,
        fields: Consumed<'_, 'py>,
        headers: &Bound<'py, PyAny>,
        ambient_has_span: Option<bool>,
        now_ms: Option<i64>,
    ) -> PyResult<Option<Recipe>> {
        // The core answers `None` for a filtered topic anyway; asking first saves reading headers.
        if !self.inner.allows(fields.0) {
            return Ok(None);
        }
        let remote = Self::remote(py, headers)?;
        self.consumed_with(py, fields, remote, ambient_has_span, now_ms)
    }

    /// [`consumed`](Self::consumed) with the message's headers already read (`Self::remote`).
    fn consumed_with<'py>(
        &self,
        py: Python<'py>,
        fields: Consumed<'_, 'py>,
        (info, remote, kept): (RemoteInfo, Py<PyAny>, Option<Py<Kept>>),
        ambient_has_span: Option<bool>,
        now_ms: Option<i64>,
    ) -> PyResult<Option<Recipe>> {
        let now = now_ms.unwrap_or_else(lc::now_ms);
        match self.core_consumed(fields, info, ambient_has_span, now) {
            Some(r) => {
                Recipe::new(py, self, Inner::Process(r), Some(remote), Some(kept).flatten()).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The core's process (`ambient_has_span` given) or batch_process (`None`) recipe.
    fn core_consumed(
        &self,
        fields: Consumed<'_, '_>,
        info: RemoteInfo,
        ambient_has_span: Option<bool>,
        now_ms: i64,
    ) -> Option<ProcessRecipe> {
        with_consumed(fields, |message| match ambient_has_span {
            Some(has_span) => self.inner.process(message, info, AmbientInfo { has_span }, now_ms),
            None => self.inner.batch_process(message, info, now_ms),
        })
    }

    /// The span alone of [`core_consumed`](Self::core_consumed)'s recipe, for a topic the core
    /// traces (a span started from a template takes only its recorded attributes from it).
    fn consumed_span(
        &self,
        fields: Consumed<'_, '_>,
        info: RemoteInfo,
        ambient_has_span: Option<bool>,
        now_ms: i64,
    ) -> SpanSpec {
        let (client, options) = (self.inner.client(), self.inner.options());
        with_consumed(fields, |message| match ambient_has_span {
            Some(has_span) => kafka_trace::span::process_span(message, client, options, info.valid, has_span, now_ms),
            None => kafka_trace::span::batch_process_span(message, client, options, info.valid, now_ms),
        })
    }
}

/// `f` of the core's view of a consumed message's fields.
fn with_consumed<R>(
    (topic, partition, offset, key, value, timestamp_ms): Consumed<'_, '_>,
    f: impl FnOnce(&MessageInfo<'_>) -> R,
) -> R {
    let key = bytes_of(key);
    f(&MessageInfo { topic, partition, offset, key: key.as_deref(), payload_len: len_of(value), timestamp_ms })
}

/// The constant part of a per-message process span's start, from a recipe of the core.
pub(crate) struct ProcessTemplate {
    head: StartHead,
    handler: HandlerContext,
    /// The recipe it was taken from: the finish of a failed handler.
    recipe: ProcessRecipe,
    /// The metric records of a returned handler: instrument index, where the value comes from,
    /// the attributes (read by the meter, never changed).
    returned: AckedRecords,
    returned_end: SpanEnd,
}

impl ProcessTemplate {
    fn of(py: Python<'_>, lifecycle: &Lifecycle, recipe: &Recipe) -> PyResult<Self> {
        let (head, r) = StartHead::with_recipe::<ProcessRecipe>(py, lifecycle, recipe)?;
        let (finish, sources) = r.returned_finish();
        let returned = kept_records(py, &finish, sources)?;
        Ok(Self {
            head,
            handler: r.handler,
            recipe: r.clone(),
            returned,
            returned_end: finish.end,
        })
    }
}

impl SendTemplate {
    fn of(py: Python<'_>, lifecycle: &Lifecycle, recipe: &Recipe) -> PyResult<Self> {
        let (head, r) = StartHead::with_recipe::<SendRecipe>(py, lifecycle, recipe)?;
        Ok(Self {
            head,
            recipe: r.clone(),
            acked: PartitionCache::default(),
        })
    }

    /// Ends a send span acknowledged on `partition`: on a span that records, its `recorded` start
    /// attributes and the end attributes of the core's `finish_span`; the span's end from that
    /// finish, the metric records from those kept for the partition
    /// (`SendRecipe::acked_finish`) with the duration filled in.
    #[allow(clippy::too_many_arguments)]
    fn end_acked(
        &self,
        py: Python<'_>,
        instruments: &Instruments,
        span: &Bound<'_, PyAny>,
        start_ns: i64,
        elapsed: Duration,
        partition: Option<i32>,
        offset: Option<i64>,
        latency_s: Option<f64>,
        recorded: Option<&[Attribute]>,
    ) -> PyResult<()> {
        let partition = partition.unwrap_or(-1);
        let latency = latency_s.and_then(|s| Duration::try_from_secs_f64(s).ok());
        let result = SendResult::Acked { partition, offset: offset.unwrap_or(-1) };
        let finish = self.recipe.finish_span(result, elapsed, latency);
        set_recorded_if_recording(py, instruments, span, recorded, &finish)?;
        end_span(py, span, start_ns, finish.end)?;
        let records = self.acked_records(py, partition)?;
        for (index, source, attrs) in records.iter() {
            let value = match source {
                MetricValueSource::Constant(v) => *v,
                // The send's duration as its finish records it: the broker latency, else elapsed.
                MetricValueSource::ElapsedSeconds => latency.unwrap_or(elapsed).as_secs_f64(),
                MetricValueSource::E2eLatencySeconds => continue, // a send has none
            };
            instruments.records[*index].bind(py).call1((value, attrs.bind(py)))?;
        }
        Ok(())
    }

    /// The metric records of a send acknowledged on `partition`, converted once per partition.
    fn acked_records(&self, py: Python<'_>, partition: i32) -> PyResult<Arc<AckedRecords>> {
        self.acked.get_or_try_insert_with(partition, || {
            let (finish, sources) = self.recipe.acked_finish(partition);
            Ok(Arc::new(kept_records(py, &finish, sources)?))
        })
    }
}

/// Metric records with where each value comes from: instrument index, source, attributes.
type AckedRecords = Vec<(usize, MetricValueSource, Py<PyDict>)>;

/// The records of `finish` with their value sources, ready to record (the attribute dicts are
/// read by the meter, never changed).
fn kept_records(py: Python<'_>, finish: &Finish, sources: Vec<MetricValueSource>) -> PyResult<AckedRecords> {
    finish
        .metrics
        .iter()
        .zip(sources)
        .map(|(m, source)| Ok((instrument_index(m.instrument), source, attributes(py, &m.attributes)?.unbind())))
        .collect()
}

/// A process span started from a template: ends it with the template's finish; a span that
/// records also takes its message's recorded start attributes (`recorded`).
pub(crate) struct KeptProcess {
    template: Arc<ProcessTemplate>,
    e2e_ms: Option<f64>,
    start_ns: i64,
    t0: std::time::Instant,
    recorded: Option<Vec<Attribute>>,
}

impl KeptProcess {
    /// Ends `span` and records the metrics of a handler that returned (`error_type` `None`) or
    /// failed; a span that does not record takes no attribute or status.
    pub(crate) fn end(
        &self,
        py: Python<'_>,
        instruments: &Instruments,
        span: &Bound<'_, PyAny>,
        error_type: Option<&str>,
    ) -> PyResult<()> {
        let elapsed = self.t0.elapsed();
        let t = &*self.template;
        if let Some(e) = error_type {
            let finish = t.recipe.finish_with_e2e(HandlerResult::Failed { error_type: e }, elapsed, self.e2e_ms);
            set_recorded_if_recording(py, instruments, span, self.recorded.as_deref(), &finish)?;
            return end_and_record(py, instruments, span, self.start_ns, &finish);
        }
        if self.recorded.is_some() {
            let finish = t.recipe.finish_span(HandlerResult::Returned, elapsed);
            set_recorded_if_recording(py, instruments, span, self.recorded.as_deref(), &finish)?;
        }
        end_span(py, span, self.start_ns, t.returned_end)?;
        for (index, source, attrs) in &t.returned {
            let value = match source {
                MetricValueSource::Constant(v) => *v,
                MetricValueSource::ElapsedSeconds => elapsed.as_secs_f64(),
                MetricValueSource::E2eLatencySeconds => match self.e2e_ms {
                    Some(ms) => ms / 1000.0,
                    None => continue,
                },
            };
            instruments.records[*index].bind(py).call1((value, attrs.bind(py)))?;
        }
        Ok(())
    }
}

/// Now: ns since the epoch (the clock of `time.time_ns()`) and the monotonic instant.
pub(crate) fn now() -> (i64, std::time::Instant) {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    (ns, std::time::Instant::now())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Lifecycle>()?;
    m.add_class::<Recipe>()?;
    m.add_class::<Kept>()?;
    m.add_class::<Instruments>()?;
    m.add_class::<PendingSend>()?;
    m.add("CONTEXT_AMBIENT", AMBIENT)?;
    m.add("CONTEXT_REMOTE", REMOTE)?;
    m.add("CONTEXT_POLL", POLL)?;
    // `Recipe.finish` refers to instruments by their index here.
    let instruments = PyTuple::new(
        py,
        lc::INSTRUMENTS.iter().map(|i| {
            (
                i.name(),
                match i.kind() {
                    InstrumentKind::Counter => "counter",
                    InstrumentKind::Histogram => "histogram",
                },
                i.unit(),
                i.description(),
            )
        }),
    )?;
    m.add("INSTRUMENTS", instruments)?;
    m.add(
        "METRIC_ATTRIBUTE_KEYS",
        PyTuple::new(py, lc::METRIC_ATTRIBUTE_KEYS)?,
    )?;
    m.add(
        "SAMPLING_ATTRIBUTE_KEYS",
        PyTuple::new(py, kafka_trace::span::SAMPLING_ATTRIBUTE_KEYS)?,
    )?;
    m.add(
        "OPTION_NAMES",
        PyTuple::new(py, lc::OPTION_NAMES.iter().map(|o| o.snake))?,
    )?;
    Ok(())
}
