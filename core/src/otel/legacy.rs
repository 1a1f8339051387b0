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
    pub fn new(meter: &Meter) -> Self {
        Self { instruments: Instruments::new(meter) }
    }

    /// The instruments (for an [`super::Executor`]).
    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    fn record(&self, instrument: Instrument, value: f64, attributes: &[Attribute]) {
        self.instruments.record(&MetricRecord { instrument, value, attributes: attributes.to_vec() });
    }

    /// A send finished (delivered or failed) after `elapsed`.
    pub fn record_send(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attributes = bounded(spec, Some(outcome));
        self.record(Instrument::OperationDuration, elapsed.as_secs_f64(), &attributes);
        self.record(Instrument::SentMessages, 1.0, &attributes);
    }

    /// A message was processed by the handler in `elapsed`.
    pub fn record_process(&self, spec: &SpanSpec, outcome: &Outcome, elapsed: Duration) {
        let attributes = bounded(spec, Some(outcome));
        self.record(Instrument::ConsumedMessages, 1.0, &attributes);
        self.record(Instrument::ProcessDuration, elapsed.as_secs_f64(), &attributes);
        if let Some(latency) = spec.e2e_latency_ms {
            self.record(Instrument::E2eLatency, latency / 1000.0, &attributes);
        }
    }

    /// A poll returned a batch after `elapsed`.
    pub fn record_poll(&self, spec: &SpanSpec, elapsed: Duration) {
        self.record(Instrument::OperationDuration, elapsed.as_secs_f64(), &bounded(spec, None));
    }
}
