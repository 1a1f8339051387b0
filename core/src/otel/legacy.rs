//! The bridge's first API, kept as thin wrappers for callers not yet on the [`super::Executor`]:
//! spans from a bare [`SpanSpec`] and metrics from a spec and an [`Outcome`]. New code executes
//! the lifecycle's recipes instead (they also say the handler's context, the end time and the
//! bounded metric records).

use std::time::Duration;

use opentelemetry::metrics::Meter;
use opentelemetry::trace::{self as ot, Link, Status, TraceContextExt, Tracer};
use opentelemetry::Context;

use super::convert::{key_values, to_kind};
use super::executor::Sources;
use super::instruments::Instruments;
use crate::lifecycle::{Instrument, MetricRecord, METRIC_ATTRIBUTE_KEYS};
use crate::semconv as sc;
use crate::span::{Attribute, Outcome, SpanSpec};

/// The contexts a [`SpanSpec`] may refer to.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{remote_span_context, start_span, SpanSources};
/// use kafka_trace::span::{process_span, ClientInfo, MessageInfo, Options};
/// use kafka_trace::{TraceParent, TraceStateBuf};
/// use opentelemetry::trace::TraceContextExt;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// let sources = SpanSources { remote: Some(remote_span_context(&parent, &TraceStateBuf::default())), ..SpanSources::default() };
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, false, 0);
/// let cx = start_span(&provider.tracer("app"), &spec, &sources);
/// cx.span().end();
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].parent_span_id.to_string(), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanSources<'a> {
    /// The caller's current context (its span, if any, and its baggage).
    pub ambient: Option<&'a Context>,
    /// The context read from the message.
    pub remote: Option<ot::SpanContext>,
    /// The batch's poll span.
    pub poll: Option<ot::SpanContext>,
}

/// Starts the span described by `spec` on `tracer`. Returns the parent context with the span in
/// it. Superseded by [`super::Executor`], which also builds the handler's context.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{start_span, SpanSources};
/// use kafka_trace::span::{send_span, ClientInfo, MessageInfo, Options};
/// use opentelemetry::trace::{SpanKind, TraceContextExt};
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let spec = send_span(&message, &ClientInfo::default(), &Options::default());
/// let cx = start_span(&provider.tracer("app"), &spec, &SpanSources::default());
/// cx.span().end();
/// let span = &exporter.get_finished_spans().unwrap()[0];
/// assert_eq!((span.name.as_ref(), &span.span_kind), ("send orders", &SpanKind::Producer));
/// ```
pub fn start_span<T>(tracer: &T, spec: &SpanSpec, sources: &SpanSources<'_>) -> Context
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let empty = Context::new();
    let ambient = sources.ambient.unwrap_or(&empty);
    let resolved = Sources { ambient, remote: sources.remote.as_ref(), poll: sources.poll.as_ref() };
    let parent = resolved.parent_context(spec.parent);
    let links: Vec<Link> = spec.links.iter().filter_map(|s| resolved.span_context(*s)).map(Link::with_context).collect();
    let span = tracer
        .span_builder(std::borrow::Cow::Owned(spec.name.clone()))
        .with_kind(to_kind(spec.kind))
        .with_attributes(key_values(&spec.attributes))
        .with_links(links)
        .start_with_context(tracer, &parent);
    parent.with_span(span)
}

/// Adds an outcome's attributes and status to the span in `cx` and ends it. Superseded by
/// [`super::Executor::finish`].
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::{end_span, start_span, SpanSources};
/// use kafka_trace::span::{send_outcome, send_span, ClientInfo, MessageInfo, Options};
/// use opentelemetry::trace::Status;
/// use opentelemetry::KeyValue;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let cx = start_span(&provider.tracer("app"), &send_span(&message, &ClientInfo::default(), &Options::default()), &SpanSources::default());
/// end_span(&cx, &send_outcome(Err("MsgTimedOut")));
/// let span = &exporter.get_finished_spans().unwrap()[0];
/// assert_eq!(span.status, Status::error("MsgTimedOut"));
/// assert!(span.attributes.contains(&KeyValue::new("error.type", "MsgTimedOut")));
/// ```
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

/// The messaging metrics, recorded from a spec and an outcome. A wrapper over [`Instruments`]:
/// the attribute sets are the lifecycle's bounded ones ([`METRIC_ATTRIBUTE_KEYS`] only).
/// Superseded by [`super::Executor::finish`] with a recipe's [`crate::lifecycle::Finish`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::otel::KafkaMetrics;
/// use kafka_trace::span::{poll_span, ClientInfo};
/// # use opentelemetry::metrics::MeterProvider as _;
/// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
/// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
/// # let exporter = InMemoryMetricExporter::default();
/// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
/// # let histogram_count = |name: &str| -> u64 {
/// #     provider.force_flush().unwrap();
/// #     let exported = exporter.get_finished_metrics().unwrap();
/// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
/// #     match metric.map(|m| m.data()) {
/// #         Some(AggregatedMetrics::F64(MetricData::Histogram(h))) => h.data_points().map(|p| p.count()).sum(),
/// #         _ => 0,
/// #     }
/// # };
///
/// let metrics = KafkaMetrics::new(&provider.meter("app"));
/// metrics.record_poll(&poll_span(&["orders"], 5, &ClientInfo::default()), Duration::from_millis(3));
/// assert_eq!(histogram_count("messaging.client.operation.duration"), 1);
/// ```
#[derive(Clone, Debug)]
pub struct KafkaMetrics {
    instruments: Instruments,
}

fn bounded(spec: &SpanSpec, outcome: Option<&Outcome>) -> Vec<Attribute> {
    let mut attributes: Vec<Attribute> =
        spec.attributes.iter().filter(|(k, _)| METRIC_ATTRIBUTE_KEYS.contains(k)).cloned().collect();
    if let Some(outcome) = outcome {
        for (k, v) in &outcome.attributes {
            let learnt = *k == sc::ERROR_TYPE || *k == sc::MESSAGING_DESTINATION_PARTITION_ID;
            if learnt && !attributes.iter().any(|(have, _)| have == k) {
                attributes.push((*k, v.clone()));
            }
        }
    }
    attributes
}

impl KafkaMetrics {
    /// Creates the instruments on `meter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::KafkaMetrics;
    ///
    /// let metrics = KafkaMetrics::new(&opentelemetry::global::meter("app"));
    /// # let _ = metrics;
    /// ```
    pub fn new(meter: &Meter) -> Self {
        Self { instruments: Instruments::new(meter) }
    }

    /// The instruments (for an [`super::Executor`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::{Executor, KafkaMetrics};
    ///
    /// let metrics = KafkaMetrics::new(&opentelemetry::global::meter("app"));
    /// let executor = Executor::with_instruments(opentelemetry::global::tracer("app"), Some(metrics.instruments().clone()));
    /// assert!(executor.instruments().is_some());
    /// ```
    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    fn record(&self, instrument: Instrument, value: f64, attributes: &[Attribute]) {
        self.instruments.record(&MetricRecord { instrument, value, attributes: attributes.to_vec() });
    }

    /// A send finished (delivered or failed) after `elapsed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::otel::KafkaMetrics;
    /// use kafka_trace::span::{send_outcome, send_span, ClientInfo, MessageInfo, Options};
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    /// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// # let exporter = InMemoryMetricExporter::default();
    /// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// # let histogram_count = |name: &str| -> u64 {
    /// #     provider.force_flush().unwrap();
    /// #     let exported = exporter.get_finished_metrics().unwrap();
    /// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
    /// #     match metric.map(|m| m.data()) {
    /// #         Some(AggregatedMetrics::F64(MetricData::Histogram(h))) => h.data_points().map(|p| p.count()).sum(),
    /// #         _ => 0,
    /// #     }
    /// # };
    ///
    /// let metrics = KafkaMetrics::new(&provider.meter("app"));
    /// let spec = send_span(&MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() }, &ClientInfo::default(), &Options::default());
    /// metrics.record_send(&spec, &send_outcome(Ok((0, 1))), Duration::from_millis(2));
    /// metrics.record_send(&spec, &send_outcome(Err("MsgTimedOut")), Duration::from_millis(9));
    /// assert_eq!(histogram_count("messaging.client.operation.duration"), 2);
    /// ```
    pub fn record_send(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attributes = bounded(spec, Some(outcome));
        self.record(Instrument::OperationDuration, elapsed.as_secs_f64(), &attributes);
        self.record(Instrument::SentMessages, 1.0, &attributes);
    }

    /// A message was processed by the handler in `elapsed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::otel::KafkaMetrics;
    /// use kafka_trace::span::{process_span, ClientInfo, MessageInfo, Options, Outcome};
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    /// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// # let exporter = InMemoryMetricExporter::default();
    /// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// # let histogram_count = |name: &str| -> u64 {
    /// #     provider.force_flush().unwrap();
    /// #     let exported = exporter.get_finished_metrics().unwrap();
    /// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
    /// #     match metric.map(|m| m.data()) {
    /// #         Some(AggregatedMetrics::F64(MetricData::Histogram(h))) => h.data_points().map(|p| p.count()).sum(),
    /// #         _ => 0,
    /// #     }
    /// # };
    ///
    /// let metrics = KafkaMetrics::new(&provider.meter("app"));
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), timestamp_ms: Some(1_000), ..MessageInfo::default() };
    /// let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, false, 3_500);
    /// metrics.record_process(&spec, &Outcome { attributes: vec![], error: None }, Duration::from_millis(2));
    /// assert_eq!(histogram_count("messaging.process.duration"), 1);
    /// assert_eq!(histogram_count("kafka_trace.e2e.latency"), 1);
    /// ```
    pub fn record_process(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attributes = bounded(spec, Some(outcome));
        self.record(Instrument::ConsumedMessages, 1.0, &attributes);
        self.record(Instrument::ProcessDuration, elapsed.as_secs_f64(), &attributes);
        if let Some(latency) = spec.e2e_latency_ms {
            self.record(Instrument::E2eLatency, latency / 1000.0, &attributes);
        }
    }

    /// A poll returned a batch after `elapsed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::otel::KafkaMetrics;
    /// use kafka_trace::span::{poll_span, ClientInfo};
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    /// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// # let exporter = InMemoryMetricExporter::default();
    /// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// # let histogram_count = |name: &str| -> u64 {
    /// #     provider.force_flush().unwrap();
    /// #     let exported = exporter.get_finished_metrics().unwrap();
    /// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
    /// #     match metric.map(|m| m.data()) {
    /// #         Some(AggregatedMetrics::F64(MetricData::Histogram(h))) => h.data_points().map(|p| p.count()).sum(),
    /// #         _ => 0,
    /// #     }
    /// # };
    ///
    /// let metrics = KafkaMetrics::new(&provider.meter("app"));
    /// let spec = poll_span(&["orders"], 2, &ClientInfo::default());
    /// metrics.record_poll(&spec, Duration::from_millis(4));
    /// metrics.record_poll(&spec, Duration::from_millis(6));
    /// assert_eq!(histogram_count("messaging.client.operation.duration"), 2);
    /// ```
    pub fn record_poll(&self, spec: &SpanSpec, elapsed: Duration) {
        self.record(Instrument::OperationDuration, elapsed.as_secs_f64(), &bounded(spec, None));
    }
}
