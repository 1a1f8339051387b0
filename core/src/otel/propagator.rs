//! Context in and out of Kafka headers: the [`KafkaTracePropagator`] and the free functions
//! around it. What a send writes is composed by [`crate::lifecycle::send_context`], so a child of
//! a remote parent keeps the random flag and every tracestate member the core accepted (the
//! [`KeptRemote`] that extraction stores in the context), whatever the SDK's own rules keep.

use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::{text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{self as ot, TraceContextExt};
use opentelemetry::Context;

use crate::carrier::{self, extract_parts, Extracted, Headers, HeadersMut, TraceContext};
use crate::codec::baggage::Baggage;
use crate::codec::traceparent::{SpanId, TraceId, TraceParent};
use crate::codec::tracestate::TraceStateBuf;
use crate::lifecycle::{send_context, KeptRemote, SpanIdentity};

/// W3C `traceparent` + `tracestate` + `baggage` with the Kafka header policy, for
/// `opentelemetry::global::set_text_map_propagator`. Repeated values reach it through
/// [`Extractor::get_all`]: a text map is HTTP's carrier, so repeated `traceparent` fields keep
/// W3C's rule (a new root), unlike Kafka headers where the last one wins.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
///
/// use kafka_trace::otel::KafkaTracePropagator;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
///
/// opentelemetry::global::set_text_map_propagator(KafkaTracePropagator::new());
///
/// let mut carrier = HashMap::new();
/// carrier.insert("traceparent".to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string());
/// carrier.insert("tracestate".to_string(), "rojo=1, congo=2".to_string());
/// let propagator = KafkaTracePropagator::new();
/// let cx = propagator.extract(&carrier);
/// assert_eq!(cx.span().span_context().span_id().to_string(), "00f067aa0ba902b7");
///
/// let mut out: HashMap<String, String> = HashMap::new();
/// propagator.inject_context(&cx, &mut out);
/// assert_eq!((out["traceparent"].as_str(), out["tracestate"].as_str()), ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1,congo=2"));
/// assert_eq!(propagator.fields().collect::<Vec<_>>(), ["traceparent", "tracestate", "baggage"]);
/// ```
#[derive(Debug)]
pub struct KafkaTracePropagator {
    fields: [String; 3],
}

impl Default for KafkaTracePropagator {
    fn default() -> Self {
        Self { fields: [carrier::TRACEPARENT.to_owned(), carrier::TRACESTATE.to_owned(), carrier::BAGGAGE.to_owned()] }
    }
}

impl KafkaTracePropagator {
    /// The propagator.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::KafkaTracePropagator;
    /// use opentelemetry::propagation::TextMapPropagator;
    ///
    /// assert_eq!(KafkaTracePropagator::new().fields().count(), 3);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

/// A header list assembled from a text-map extractor (lookups by our three names only).
struct ExtractorHeaders<'a> {
    list: Vec<(&'static str, &'a [u8])>,
}

impl<'a> ExtractorHeaders<'a> {
    fn new(extractor: &'a dyn Extractor) -> Self {
        let mut list = Vec::new();
        for name in [carrier::TRACEPARENT, carrier::TRACESTATE, carrier::BAGGAGE] {
            for value in extractor.get_all(name).unwrap_or_default() {
                list.push((name, value.as_bytes()));
            }
        }
        Self { list }
    }
}

impl Headers for ExtractorHeaders<'_> {
    fn header_count(&self) -> usize {
        self.list.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.list.get(index).map(|(n, v)| (*n, Some(*v)))
    }
}

impl TextMapPropagator for KafkaTracePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let Some(context) = trace_context_of(cx) else { return };
        injector.set(carrier::TRACEPARENT, context.traceparent.to_string());
        let tracestate = context.tracestate.header_value();
        if !tracestate.is_empty() {
            injector.set(carrier::TRACESTATE, String::from_utf8_lossy(tracestate.as_bytes()).into_owned());
        }
        if !context.baggage.is_empty() {
            injector.set(carrier::BAGGAGE, context.baggage.to_header_string());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        // A text map is HTTP's carrier: W3C's rule for repeated fields, not Kafka's last-wins.
        let headers = ExtractorHeaders::new(extractor);
        context_from_extracted(cx, carrier::extract_parts_with(&headers, carrier::DuplicatePolicy::NewRoot))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// Reads a Kafka message's headers into a context derived from `cx`: the remote span (when
/// valid), the [`KeptRemote`] and the baggage (merged over the baggage of `cx`). With no valid
/// parent, `cx` keeps its span (a new root is started).
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{extract_context, kept_remote};
/// use opentelemetry::trace::TraceContextExt;
/// use opentelemetry::Context;
///
/// let headers: Vec<(String, Vec<u8>)> = vec![("TraceParent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()), ("tracestate".into(), b"rojo=1".to_vec())];
/// let cx = extract_context(&Context::new(), &headers);
/// let remote = cx.span().span_context().clone();
/// assert!(remote.is_remote() && remote.is_sampled());
/// assert_eq!(remote.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(remote.trace_state().header(), "rojo=1");
/// assert!(kept_remote(&cx).is_some());
///
/// let none = extract_context(&Context::new(), &Vec::<(String, Vec<u8>)>::new());
/// assert!(!none.span().span_context().is_valid());
/// ```
pub fn extract_context<H: Headers + ?Sized>(cx: &Context, headers: &H) -> Context {
    context_from_extracted(cx, extract_parts(headers))
}

/// Writes the span and baggage of `cx` into Kafka headers (replacing, never appending). Returns
/// false, writing nothing, when `cx` holds no valid span.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::inject_context;
/// use opentelemetry::trace::{TraceContextExt, Tracer};
/// use opentelemetry::Context;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let mut headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"stale".to_vec())];
/// assert!(!inject_context(&Context::new(), &mut headers)); // no span: nothing written
/// assert_eq!(headers[0].1, b"stale");
///
/// let cx = Context::new().with_span(provider.tracer("app").start("send orders"));
/// assert!(inject_context(&cx, &mut headers));
/// let sc = cx.span().span_context().clone();
/// assert_eq!(headers, [("traceparent".to_string(), format!("00-{}-{}-01", sc.trace_id(), sc.span_id()).into_bytes())]);
/// ```
pub fn inject_context<H: HeadersMut + ?Sized>(cx: &Context, headers: &mut H) -> bool {
    match trace_context_of(cx) {
        Some(context) => {
            carrier::inject(&context, headers);
            true
        }
        None => false,
    }
}

/// What a send from `cx` writes, if `cx` holds a valid span: [`send_context`] of its span, the
/// SDK's tracestate, the [`KeptRemote`] stored in `cx` (if any) and the baggage of `cx`.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{extract_context, trace_context_of};
/// use kafka_trace::TraceFlags;
/// use opentelemetry::trace::{TraceContextExt, Tracer};
/// use opentelemetry::Context;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// // A handler continues a remote parent with the random flag (0x02) set ...
/// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec())];
/// let handler = extract_context(&Context::new(), &headers);
/// // ... and sends from a child span: the SDK computed flags 01, the header keeps 03.
/// let send = handler.with_span(provider.tracer("app").start_with_context("send orders", &handler));
/// let context = trace_context_of(&send).unwrap();
/// assert_eq!(context.traceparent.flags, TraceFlags(0x03));
/// assert_eq!(context.traceparent.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(trace_context_of(&Context::new()).is_none());
/// ```
pub fn trace_context_of(cx: &Context) -> Option<TraceContext> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let identity = SpanIdentity {
        trace_id: TraceId(sc.trace_id().to_bytes()),
        span_id: SpanId(sc.span_id().to_bytes()),
        sampled: sc.is_sampled(),
    };
    let sdk_state = sc.trace_state().header();
    Some(send_context(&identity, sdk_state.as_bytes(), kept_remote(cx), baggage_of(cx)))
}

/// The remote context a consumer continued, when `cx` (or the context it derives from) stored one.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{extract_context, kept_remote};
/// use opentelemetry::{Context, KeyValue};
///
/// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
/// let cx = extract_context(&Context::new(), &headers).with_value(KeyValue::new("derived", true));
/// let kept = kept_remote(&cx).unwrap(); // still there in a derived context
/// assert_eq!(kept.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(kept_remote(&Context::new()).is_none());
/// ```
pub fn kept_remote(cx: &Context) -> Option<&KeptRemote> {
    cx.get::<KeptRemote>()
}

/// The remote span context a consumer continues. The SDK re-validates tracestate keys with older
/// rules; a state it refuses is dropped here (never the parent) and restored on inject from the
/// [`KeptRemote`] the context keeps.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::remote_span_context;
/// use kafka_trace::{TraceParent, TraceStateBuf};
///
/// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// let sc = remote_span_context(&parent, &TraceStateBuf::parse(b"rojo=1").unwrap());
/// assert!(sc.is_remote() && sc.is_valid() && sc.is_sampled());
/// assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
/// assert_eq!(sc.trace_state().get("rojo"), Some("1"));
/// ```
pub fn remote_span_context(parent: &TraceParent, tracestate: &TraceStateBuf) -> ot::SpanContext {
    // No state (the usual case): the SDK's empty one, without building it from no members.
    let state = if tracestate.as_str().is_empty() {
        ot::TraceState::NONE
    } else {
        let members = tracestate.view();
        let members = members.members().iter().map(|m| (m.key, m.value));
        ot::TraceState::from_key_value(members).unwrap_or_default()
    };
    ot::SpanContext::new(
        ot::TraceId::from_bytes(parent.trace_id.0),
        ot::SpanId::from_bytes(parent.span_id.0),
        ot::TraceFlags::new(parent.flags.0),
        true,
        state,
    )
}

fn context_from_extracted(cx: &Context, extracted: Extracted<'_>) -> Context {
    let baggage = extracted.baggage.clone();
    let out = match extracted.into_context() {
        Some(context) => cx
            .with_remote_span_context(remote_span_context(&context.traceparent, &context.tracestate))
            .with_value(KeptRemote::of(&context)),
        None => cx.clone(),
    };
    add_baggage(out, &baggage)
}

/// `cx` (its span untouched) with `baggage` merged over its own: an entry of `baggage` replaces
/// one of the same key, the others stay (unchanged when `baggage` is empty).
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::add_baggage;
/// use kafka_trace::Baggage;
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::{Context, KeyValue};
///
/// let ambient = Context::new().with_baggage([KeyValue::new("user", "bob"), KeyValue::new("region", "eu")]);
/// let cx = add_baggage(ambient, &Baggage::parse(b"user=alice;pii"));
/// let value = |key: &str| cx.baggage().get(key).map(|v| v.as_str().to_string());
/// assert_eq!((value("user"), value("region")), (Some("alice".into()), Some("eu".into())));
/// ```
pub fn add_baggage(cx: Context, baggage: &Baggage) -> Context {
    if baggage.is_empty() {
        return cx;
    }
    let ambient = cx.baggage().iter().map(|(k, (v, meta))| KeyValueMetadata::new(k.clone(), v.clone(), meta.clone()));
    let message = baggage.entries().iter().map(|e| KeyValueMetadata::new(e.key.clone(), e.value.clone(), e.properties.join(";")));
    // Later entries replace earlier ones of the same key; the SDK's own limits (entry count,
    // size) may refuse an entry, the others are kept.
    let merged: Vec<KeyValueMetadata> = ambient.chain(message).collect();
    cx.with_baggage(merged)
}

pub(super) fn baggage_of(cx: &Context) -> Baggage {
    let mut baggage = Baggage::default();
    for (key, (value, _metadata)) in cx.baggage().iter() {
        // Keys the W3C grammar refuses cannot be written; they stay local.
        let _ = baggage.insert(key.as_str(), value.as_str());
    }
    baggage
}
