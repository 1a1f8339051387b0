//! Bridge to the `opentelemetry` crates (feature `otel`): a [`TextMapPropagator`] backed by our
//! codec, conversions between our context and theirs, spans started from a [`SpanSpec`] on any
//! [`Tracer`], and the messaging metrics on any [`Meter`].

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::propagation::{text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{self as ot, Link, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, Value};

use crate::carrier::{self, extract_parts, Extracted, Headers, HeadersMut, TraceContext};
use crate::codec::baggage::Baggage;
use crate::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use crate::codec::tracestate::TraceStateBuf;
use crate::semconv::metrics as m;
use crate::span::{AttributeValue, ContextSource, Outcome, SpanKind, SpanSpec};

/// W3C `traceparent` + `tracestate` + `baggage` with the Kafka header policy, for
/// `opentelemetry::global::set_text_map_propagator`. Repeated values reach it through
/// [`Extractor::get_all`], so duplicate `traceparent` headers start a new root as on the Kafka path.
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
        let headers = ExtractorHeaders::new(extractor);
        context_from_extracted(cx, extract_parts(&headers))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

/// Reads a Kafka message's headers into a context derived from `cx`: the remote span (when
/// valid) and the baggage. With no valid parent, `cx` keeps its span (a new root is started).
pub fn extract_context<H: Headers + ?Sized>(cx: &Context, headers: &H) -> Context {
    context_from_extracted(cx, extract_parts(headers))
}

/// Writes the span and baggage of `cx` into Kafka headers (replacing, never appending). Returns
/// false, writing nothing, when `cx` holds no valid span.
pub fn inject_context<H: HeadersMut + ?Sized>(cx: &Context, headers: &mut H) -> bool {
    match trace_context_of(cx) {
        Some(context) => {
            carrier::inject(&context, headers);
            true
        }
        None => false,
    }
}

/// Our context for the span (and baggage) of `cx`, if it holds a valid span.
pub fn trace_context_of(cx: &Context) -> Option<TraceContext> {
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let traceparent = TraceParent::new(TraceId(sc.trace_id().to_bytes()), SpanId(sc.span_id().to_bytes()), TraceFlags(sc.trace_flags().to_u8()));
    let tracestate = TraceStateBuf::parse(sc.trace_state().header().as_bytes()).unwrap_or_default();
    Some(TraceContext { traceparent, tracestate, baggage: baggage_of(cx) })
}

/// The remote span context a consumer continues.
pub fn remote_span_context(parent: &TraceParent, tracestate: &TraceStateBuf) -> ot::SpanContext {
    let members = tracestate.view();
    let members = members.members().iter().map(|m| (m.key, m.value));
    // The SDK re-validates keys with older rules; a state it refuses is dropped, never the parent.
    let state = ot::TraceState::from_key_value(members).unwrap_or_default();
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
        Some(context) => cx.with_remote_span_context(remote_span_context(&context.traceparent, &context.tracestate)),
        None => cx.clone(),
    };
    add_baggage(out, &baggage)
}

/// `cx` (its span untouched) carrying `baggage` (unchanged when `baggage` is empty).
pub fn add_baggage(cx: Context, baggage: &Baggage) -> Context {
    if baggage.is_empty() {
        return cx;
    }
    cx.with_baggage(baggage.entries().iter().map(|e| KeyValueMetadata::new(e.key.clone(), e.value.clone(), e.properties.join(";"))))
}

fn baggage_of(cx: &Context) -> Baggage {
    let mut baggage = Baggage::default();
    for (key, (value, _metadata)) in cx.baggage().iter() {
        // Keys the W3C grammar refuses cannot be written; they stay local.
        let _ = baggage.insert(key.as_str(), value.as_str());
    }
    baggage
}

fn to_value(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::String(s) => Value::String(s.clone().into()),
        AttributeValue::Int(i) => Value::I64(*i),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Double(d) => Value::F64(*d),
    }
}

/// Converts our attributes to OpenTelemetry key-values.
pub fn key_values(attributes: &[(&'static str, AttributeValue)]) -> Vec<KeyValue> {
    attributes.iter().map(|(k, v)| KeyValue::new(*k, to_value(v))).collect()
}

fn to_kind(kind: SpanKind) -> ot::SpanKind {
    match kind {
        SpanKind::Producer => ot::SpanKind::Producer,
        SpanKind::Consumer => ot::SpanKind::Consumer,
        SpanKind::Client => ot::SpanKind::Client,
    }
}

/// The contexts a [`SpanSpec`] may refer to.
#[derive(Clone, Debug, Default)]
pub struct SpanSources<'a> {
    /// The caller's current context (its span, if any, and its baggage).
    pub ambient: Option<&'a Context>,
    /// The context read from the message.
    pub remote: Option<ot::SpanContext>,
    /// The batch's poll span.
    pub poll: Option<ot::SpanContext>,
}

impl SpanSources<'_> {
    fn span_context(&self, source: ContextSource) -> Option<ot::SpanContext> {
        let sc = match source {
            ContextSource::Ambient => self.ambient.map(|cx| cx.span().span_context().clone()),
            ContextSource::Remote => self.remote.clone(),
            ContextSource::Poll => self.poll.clone(),
        };
        sc.filter(ot::SpanContext::is_valid)
    }

    fn parent_context(&self, source: ContextSource) -> Context {
        let base = self.ambient.cloned().unwrap_or_default();
        match source {
            ContextSource::Ambient => base,
            other => match self.span_context(other) {
                Some(sc) => base.with_remote_span_context(sc),
                // No usable parent: a root span, but keep the caller's baggage.
                None => base.with_remote_span_context(ot::SpanContext::empty_context()),
            },
        }
    }
}

/// Starts the span described by `spec` on `tracer`. Returns the span and the context to make
/// current while it runs (the parent context with this span in it).
pub fn start_span<T>(tracer: &T, spec: &SpanSpec, sources: &SpanSources<'_>) -> Context
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let parent = sources.parent_context(spec.parent);
    let links: Vec<Link> = spec.links.iter().filter_map(|s| sources.span_context(*s)).map(Link::with_context).collect();
    let span = tracer
        .span_builder(Cow::Owned(spec.name.clone()))
        .with_kind(to_kind(spec.kind))
        .with_attributes(key_values(&spec.attributes))
        .with_links(links)
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// Adds an outcome's attributes and status to the span in `cx` and ends it.
pub fn end_span(cx: &Context, outcome: &Outcome) {
    let span = cx.span();
    for kv in key_values(&outcome.attributes) {
        span.set_attribute(kv);
    }
    if let Some(description) = &outcome.error {
        span.set_status(Status::error(description.clone()));
    }
    span.end();
}

/// The messaging metrics of the conventions plus our end-to-end latency histogram.
#[derive(Clone, Debug)]
pub struct KafkaMetrics {
    operation_duration: Histogram<f64>,
    sent: Counter<u64>,
    consumed: Counter<u64>,
    process_duration: Histogram<f64>,
    e2e_latency: Histogram<f64>,
}

impl KafkaMetrics {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let seconds = |name: &'static str, description: &'static str| {
            meter.f64_histogram(name).with_unit(m::UNIT_SECONDS).with_description(description).build()
        };
        Self {
            operation_duration: seconds(m::CLIENT_OPERATION_DURATION, "Duration of send and poll operations"),
            sent: meter.u64_counter(m::CLIENT_SENT_MESSAGES).with_unit(m::UNIT_MESSAGES).with_description("Messages the producer sent").build(),
            consumed: meter
                .u64_counter(m::CLIENT_CONSUMED_MESSAGES)
                .with_unit(m::UNIT_MESSAGES)
                .with_description("Messages the consumer received")
                .build(),
            process_duration: seconds(m::PROCESS_DURATION, "Duration of the handler of one message"),
            e2e_latency: seconds(m::E2E_LATENCY, "Record timestamp to the start of processing, per topic"),
        }
    }

    /// A send finished (delivered or failed) after `elapsed`.
    pub fn record_send(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attrs = metric_key_values(spec, outcome);
        self.operation_duration.record(elapsed.as_secs_f64(), &attrs);
        self.sent.add(1, &attrs);
    }

    /// A message was processed by the handler in `elapsed`.
    pub fn record_process(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attrs = metric_key_values(spec, outcome);
        self.consumed.add(1, &attrs);
        self.process_duration.record(elapsed.as_secs_f64(), &attrs);
        if let Some(latency) = spec.e2e_latency_ms {
            self.e2e_latency.record(latency / 1000.0, &attrs);
        }
    }

    /// A poll returned a batch after `elapsed`.
    pub fn record_poll(&self, spec: &SpanSpec, elapsed: Duration) {
        let attrs = key_values(&spec.metric_attributes());
        self.operation_duration.record(elapsed.as_secs_f64(), &attrs);
    }
}

fn metric_key_values(spec: &SpanSpec, outcome: &Outcome) -> Vec<KeyValue> {
    let mut attrs = spec.metric_attributes();
    attrs.extend(outcome.attributes.iter().filter(|(k, _)| *k == crate::semconv::ERROR_TYPE).cloned());
    key_values(&attrs)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;
    use crate::span::{process_span, ClientInfo, MessageInfo, Options};

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn propagator_round_trips_through_a_text_map() {
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), TP.to_owned());
        carrier.insert("tracestate".to_owned(), "rojo=1, congo=2".to_owned());
        carrier.insert("baggage".to_owned(), "user=alice%20b".to_owned());
        let propagator = KafkaTracePropagator::new();
        let cx = propagator.extract(&carrier);
        assert_eq!(cx.span().span_context().trace_state().header(), "rojo=1,congo=2");
        assert_eq!(cx.baggage().get("user").map(|v| v.as_str().to_owned()), Some("alice b".to_owned()));
        let mut out: HashMap<String, String> = HashMap::new();
        propagator.inject_context(&cx, &mut out);
        assert_eq!(out["traceparent"], TP);
        assert_eq!(out["tracestate"], "rojo=1,congo=2");
        assert_eq!(out["baggage"], "user=alice%20b");
        let fields: Vec<&str> = propagator.fields().collect();
        assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
    }

    #[test]
    fn no_span_means_no_headers() {
        let mut out: HashMap<String, String> = HashMap::new();
        KafkaTracePropagator::new().inject_context(&Context::new(), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn process_span_is_a_child_of_the_remote_context_and_links_the_ambient_span() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let tracer = provider.tracer("test");
        let headers = vec![("traceparent".to_owned(), TP.as_bytes().to_vec())];
        let ambient = Context::new().with_span(tracer.start("poll loop"));
        let extracted = extract_parts(&headers).into_context().unwrap();
        let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(7), ..Default::default() };
        let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, true, 0);
        let sources = SpanSources {
            ambient: Some(&ambient),
            remote: Some(remote_span_context(&extracted.traceparent, &extracted.tracestate)),
            poll: None,
        };
        let cx = start_span(&tracer, &spec, &sources);
        end_span(&cx, &Outcome { attributes: vec![], error: None });
        ambient.span().end();
        let spans = exporter.get_finished_spans().unwrap();
        let process = spans.iter().find(|s| s.name == "process orders").unwrap();
        assert_eq!(process.span_kind, ot::SpanKind::Consumer);
        assert_eq!(process.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(process.parent_span_id.to_string(), "00f067aa0ba902b7");
        let poll = spans.iter().find(|s| s.name == "poll loop").unwrap();
        assert_eq!(process.links.links.len(), 1);
        assert_eq!(process.links.links[0].span_context.span_id(), poll.span_context.span_id());
        assert!(process.attributes.contains(&KeyValue::new("messaging.kafka.offset", 7)));
    }

    #[test]
    fn metrics_carry_semconv_names_counts_and_attributes() {
        use opentelemetry::metrics::MeterProvider as _;
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

        use crate::span::{error_outcome, send_outcome, send_span};

        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
        let metrics = KafkaMetrics::new(&provider.meter("test"));
        let message = MessageInfo { topic: "orders", partition: Some(1), offset: Some(9), timestamp_ms: Some(1_000), ..Default::default() };
        let send = send_span(&message, &ClientInfo::default(), &Options::default());
        metrics.record_send(&send, &send_outcome(Ok((1, 9))), Duration::from_millis(3));
        metrics.record_send(&send, &error_outcome("MsgTimedOut"), Duration::from_millis(5));
        let process = process_span(&message, &ClientInfo::default(), &Options::default(), true, false, 3_500);
        metrics.record_process(&process, &Outcome { attributes: vec![], error: None }, Duration::from_millis(2));
        provider.force_flush().unwrap();

        let exported = exporter.get_finished_metrics().unwrap();
        let all: Vec<_> = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).collect();
        let find = |name: &str| all.iter().find(|m| m.name() == name).unwrap_or_else(|| panic!("no metric {name}"));

        let AggregatedMetrics::U64(MetricData::Sum(sent)) = find(m::CLIENT_SENT_MESSAGES).data() else { panic!("sent is a u64 sum") };
        let mut by_error: Vec<(Option<String>, u64)> = sent
            .data_points()
            .map(|p| (p.attributes().find(|kv| kv.key.as_str() == "error.type").map(|kv| kv.value.to_string()), p.value()))
            .collect();
        by_error.sort();
        assert_eq!(by_error, vec![(None, 1), (Some("MsgTimedOut".into()), 1)]);

        let AggregatedMetrics::F64(MetricData::Histogram(e2e)) = find(m::E2E_LATENCY).data() else { panic!("e2e is a histogram") };
        let point = e2e.data_points().next().unwrap();
        assert_eq!((point.count(), point.sum()), (1, 2.5));
        assert!(point.attributes().any(|kv| kv.key.as_str() == "messaging.destination.name" && kv.value.as_str() == "orders"));

        let AggregatedMetrics::U64(MetricData::Sum(consumed)) = find(m::CLIENT_CONSUMED_MESSAGES).data() else { panic!("consumed is a u64 sum") };
        assert_eq!(consumed.data_points().map(|p| p.value()).sum::<u64>(), 1);
        for name in [m::CLIENT_OPERATION_DURATION, m::PROCESS_DURATION] {
            let AggregatedMetrics::F64(MetricData::Histogram(h)) = find(name).data() else { panic!("{name} is a histogram") };
            assert!(h.data_points().all(|p| p.count() >= 1));
        }
    }
}
