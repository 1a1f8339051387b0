//! Traced producer and consumer helpers for rust-rdkafka (feature `rdkafka`). Both execute the
//! core's lifecycle ([`crate::lifecycle`]) through the OpenTelemetry [`Executor`]; they decide
//! nothing about spans, headers or metrics themselves.
//!
//! - [`TracedProducer`] wraps a `FutureProducer`: `send` opens a `send {topic}` PRODUCER span
//!   (child of the current context), injects it into the record's headers (replacing any trace
//!   headers already there) and ends it when the delivery future resolves (the broker's
//!   acknowledgement as rust-rdkafka reports it: it exposes no per-message latency without
//!   `unsafe`), with partition and offset, or with `error.type` and an error status.
//! - [`TracedConsumer`] runs a handler for one message inside a `process {topic}` CONSUMER span
//!   (async or sync) in the context the recipe's handler rule builds; [`TracedConsumer::receive`]
//!   traces a receive call as `poll {topic}` (the call only, never the handlers) and
//!   [`TracedConsumer::process_received`] gives each message of its batch a process span
//!   ([`TracedConsumer::process_received_async`] for an async handler).
//! - [`TracedStream`] ([`TracedConsumer::stream`]) adapts a `StreamConsumer`'s message stream:
//!   every message is processed inside its process span, with the handler context current across
//!   `.await`s.
//! - [`TracedBaseProducer`] and [`TracedThreadedProducer`] wrap `BaseProducer` and
//!   `ThreadedProducer` with a [`TracedProducerContext`]: the send span travels in the delivery
//!   opaque ([`TracedDelivery`]) and ends in the delivery callback; your own context and opaque
//!   still get every delivery report. Transactions work through rdkafka's `Producer` trait.
//!
//! Tracing only observes: the message, its order and its delivery are exactly what rdkafka does
//! without us; span export is bounded and never waited for.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
//! use rdkafka::consumer::{Consumer, StreamConsumer};
//! use rdkafka::producer::FutureRecord;
//! use rdkafka::{ClientConfig, Message};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tracer = || opentelemetry::global::tracer("orders");
//! let mut config = ClientConfig::new();
//! config.set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "orders");
//!
//! // Producer side: a send span per message, its context in the message's headers.
//! let producer = TracedProducer::new(&config, tracer(), TraceConfig::default())?;
//! producer.send(FutureRecord::to("orders").key("o-1").payload("{}"), Duration::from_secs(5)).await.map_err(|(e, _)| e)?;
//!
//! // Consumer side: each message handled inside its process span, a child of the send span.
//! let consumer: StreamConsumer = config.create()?;
//! consumer.subscribe(&["orders"])?;
//! let traced = TracedConsumer::new(&config, tracer(), TraceConfig::default());
//! traced
//!     .stream(consumer.stream())
//!     .for_each_traced(|message| async move {
//!         println!("{:?}", message.key());
//!         Ok::<_, Box<dyn std::error::Error>>(())
//!     })
//!     .await
//! # }
//! ```

mod base_producer;
mod consumer;
mod delivery;
mod producer;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

pub use consumer::{Received, TracedConsumer};
pub use base_producer::{TracedBaseProducer, TracedThreadedProducer};
pub use delivery::{TracedDelivery, TracedProducerContext};
pub use producer::TracedProducer;
pub use stream::{TracedMessage, TracedStream};

use rdkafka::message::OwnedHeaders;

use crate::lifecycle::{Finish, Lifecycle};
use crate::otel::{inject_context, trace_context_of, Executor, Instruments, Kept, Running};
use crate::span::{ClientInfo, MessageInfo, Options};

/// Adds attributes of the caller's choosing to a span when it starts.
///
/// Called only for a span that records: a span the sampler dropped keeps no attribute, so its
/// hook is not called (at 1% sampling, 99 messages in 100 skip it). A hook is for attributes;
/// do not rely on it being called for every message.
///
/// ```
/// use std::sync::Arc;
///
/// use kafka_trace::rdkafka::{Hook, TraceConfig};
/// use opentelemetry::KeyValue;
///
/// let hook: Hook = Arc::new(|message| vec![KeyValue::new("app.payload.bytes", message.payload_len.unwrap_or(0) as i64)]);
/// let config = TraceConfig { producer_hook: Some(hook), ..TraceConfig::default() };
/// assert!(config.producer_hook.is_some());
/// ```
pub type Hook = Arc<dyn Fn(&MessageInfo<'_>) -> Vec<KeyValue> + Send + Sync>;

/// Instrumentation settings shared by the producer and consumer helpers.
///
/// ```
/// use kafka_trace::otel::Instruments;
/// use kafka_trace::rdkafka::TraceConfig;
/// use kafka_trace::span::{Options, Strategy};
/// use opentelemetry::metrics::MeterProvider as _;
///
/// let meter = opentelemetry::global::meter_provider().meter("orders");
/// let config = TraceConfig {
///     options: Options { strategy: Strategy::Link, ..Options::default() },
///     metrics: Some(Instruments::new(&meter)),
///     ..TraceConfig::default()
/// };
/// assert_eq!(config.options.strategy, Strategy::Link);
/// ```
#[derive(Clone, Default)]
pub struct TraceConfig {
    /// Strategy, key attribute, topic filter.
    pub options: Options,
    /// Called for every send span that records (see [`Hook`]).
    pub producer_hook: Option<Hook>,
    /// Called for every process span that records (see [`Hook`]).
    pub consumer_hook: Option<Hook>,
    /// The messaging metrics, when a meter is configured (`Instruments::new(&meter)`).
    pub metrics: Option<Instruments>,
}

impl std::fmt::Debug for TraceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceConfig")
            .field("options", &self.options)
            .field("producer_hook", &self.producer_hook.is_some())
            .field("consumer_hook", &self.consumer_hook.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// `client.id`, `group.id` and the first bootstrap server of an rdkafka configuration.
///
/// ```
/// use kafka_trace::rdkafka::client_info;
/// use rdkafka::ClientConfig;
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "kafka-1:9093,kafka-2:9093").set("client.id", "api").set("group.id", "g");
/// let info = client_info(&config);
/// assert_eq!(info.client_id.as_deref(), Some("api"));
/// assert_eq!(info.consumer_group.as_deref(), Some("g"));
/// assert_eq!(info.server_address.as_deref(), Some("kafka-1"));
/// assert_eq!(info.server_port, Some(9093));
/// ```
pub fn client_info(config: &ClientConfig) -> ClientInfo {
    let info = ClientInfo {
        client_id: config.get("client.id").map(str::to_owned),
        consumer_group: config.get("group.id").map(str::to_owned),
        ..ClientInfo::default()
    };
    match config.get("bootstrap.servers").or_else(|| config.get("metadata.broker.list")) {
        Some(servers) => info.with_bootstrap(servers),
        None => info,
    }
}

/// The `error.type` of an rdkafka error: librdkafka's error code name when there is one.
///
/// ```
/// use kafka_trace::rdkafka::error_type;
/// use rdkafka::error::{KafkaError, RDKafkaErrorCode};
///
/// assert_eq!(error_type(&KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)), "QueueFull");
/// assert_eq!(error_type(&KafkaError::Canceled), "_OTHER");
/// ```
pub fn error_type(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "_OTHER".to_owned(),
    }
}

/// The lifecycle and executor of one client.
fn parts<T>(client_config: &ClientConfig, tracer: T, config: &TraceConfig) -> (Lifecycle, Executor<T>)
where
    T: opentelemetry::trace::Tracer,
    T::Span: Send + Sync + 'static,
{
    let lifecycle = Lifecycle::new(config.options.clone(), client_info(client_config));
    (lifecycle, Executor::with_instruments(tracer, config.metrics.clone()))
}

/// The hook's attributes on the span of `cx`, if it records (a span that does not would drop
/// them: the hook is not called).
fn add_hook_attributes(cx: &Context, hook: Option<&Hook>, message: &MessageInfo<'_>) {
    if let Some(hook) = hook {
        let span = cx.span();
        if !span.is_recording() {
            return;
        }
        for kv in hook(message) {
            span.set_attribute(kv);
        }
    }
}

/// A record's headers with the send span of `cx` injected (the carrier's write policy). A record
/// without headers gets the trace headers built in one go.
fn with_trace_headers(cx: &Context, headers: Option<OwnedHeaders>) -> OwnedHeaders {
    match (headers, trace_context_of(cx)) {
        (None, Some(context)) => crate::carrier::new_owned_headers(&context),
        (headers, _) => {
            let mut headers = headers.unwrap_or_default();
            inject_context(cx, &mut headers);
            headers
        }
    }
}

/// Ends `running` per its recipe: `full` when the executor records metrics, else `span_only` (the
/// same finish without metric records, which nobody would read); per the recipe kept for its
/// situation (`kept_full`: a span that does not record, metrics recorded); or only ends it (a
/// span that does not record, no metrics: it ignores attributes and status, so building them
/// would be wasted work on every unsampled message). `kept_full` finishes the span itself
/// (`Executor::finish_kept_send` / `finish_kept_process`). Each finish is given the span's
/// duration, read only when a finish is built.
fn finish_span<T, R>(
    executor: &Executor<T>,
    running: &Running,
    (recipe, kept): (Option<&R>, Option<&Kept<R>>),
    full: impl FnOnce(&R, Duration) -> Finish,
    span_only: impl FnOnce(&R, Duration) -> Finish,
    kept_full: impl FnOnce(&Kept<R>, Duration),
) where
    T: opentelemetry::trace::Tracer,
    T::Span: Send + Sync + 'static,
{
    let Some(recipe) = recipe else {
        match kept {
            Some(kept) => kept_full(kept, running.elapsed()),
            None => executor.end_unrecorded(running),
        }
        return;
    };
    if executor.instruments().is_some() {
        executor.finish(running, &full(recipe, running.elapsed()));
        return;
    }
    let span = running.context().span();
    if !span.is_recording() {
        span.end();
        return;
    }
    executor.finish(running, &span_only(recipe, running.elapsed()));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry::Value;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};

    use super::*;

    #[test]
    fn a_hook_runs_for_a_recording_span_only() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let hook: Hook = Arc::new(|m| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            vec![KeyValue::new("app.topic", m.topic.to_owned())]
        });
        let message = MessageInfo { topic: "orders", ..MessageInfo::default() };
        for (sampler, calls) in [(Sampler::AlwaysOff, 0), (Sampler::AlwaysOn, 1)] {
            CALLS.store(0, Ordering::SeqCst);
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder().with_sampler(sampler).with_simple_exporter(exporter.clone()).build();
            let cx = Context::new().with_span(provider.tracer("t").start("send orders"));
            add_hook_attributes(&cx, Some(&hook), &message);
            cx.span().end();
            assert_eq!(CALLS.load(Ordering::SeqCst), calls);
            let spans = exporter.get_finished_spans().unwrap();
            assert_eq!(spans.len(), calls);
            if let Some(span) = spans.first() {
                let topic = span.attributes.iter().find(|kv| kv.key.as_str() == "app.topic").map(|kv| &kv.value);
                assert_eq!(topic, Some(&Value::from("orders")));
            }
        }
    }
}
