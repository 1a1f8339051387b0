//! Traced producer and consumer helpers for rust-rdkafka (feature `rdkafka`).
//!
//! - [`TracedProducer`] wraps a `FutureProducer`: `send` opens a `send {topic}` PRODUCER span
//!   (child of the current context), injects it into the record's headers (replacing any trace
//!   headers already there) and ends it when the broker acknowledges, with partition and offset,
//!   or with `error.type` and an error status.
//! - [`TracedConsumer`] runs a handler for one message inside a `process {topic}` CONSUMER span
//!   that is the current context while the handler runs (async or sync), or a batch under a
//!   `poll {topic}` span with one process span per message.
//!
//! Tracing only observes: the message, its order and its delivery are exactly what rdkafka does
//! without us; span export is bounded and never waited for.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::carrier::{extract_parts, Headers};
use crate::codec::baggage::Baggage;
use crate::otel::{add_baggage, end_span, inject_context, remote_span_context, start_span, KafkaMetrics, SpanSources};
use crate::span::{self, now_ms, ClientInfo, MessageInfo, Options, Outcome, SpanSpec};

/// Adds attributes of the caller's choosing to a span when it starts.
pub type Hook = Arc<dyn Fn(&MessageInfo<'_>) -> Vec<KeyValue> + Send + Sync>;

/// Instrumentation settings shared by the producer and consumer helpers.
#[derive(Clone, Default)]
pub struct TraceConfig {
    /// Strategy, key attribute, topic filter.
    pub options: Options,
    /// Called for every send span.
    pub producer_hook: Option<Hook>,
    /// Called for every process span.
    pub consumer_hook: Option<Hook>,
    /// Messaging metrics, when a meter is configured.
    pub metrics: Option<KafkaMetrics>,
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
pub fn error_type(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "_OTHER".to_owned(),
    }
}

fn add_hook_attributes(cx: &Context, hook: Option<&Hook>, message: &MessageInfo<'_>) {
    if let Some(hook) = hook {
        let span = cx.span();
        for kv in hook(message) {
            span.set_attribute(kv);
        }
    }
}

/// A `FutureProducer` that traces every send.
pub struct TracedProducer<T> {
    producer: FutureProducer,
    tracer: T,
    client: ClientInfo,
    config: TraceConfig,
}

impl<T> TracedProducer<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer from `client_config` (the span attributes come from it too).
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> Result<Self, KafkaError> {
        Ok(Self { producer: client_config.create()?, tracer, client: client_info(client_config), config })
    }

    /// The wrapped producer (for flush, transactions, metadata).
    pub fn inner(&self) -> &FutureProducer {
        &self.producer
    }

    /// Sends like `FutureProducer::send`, inside a `send {topic}` span that is a child of the
    /// current context and ends when the broker acknowledges (or the send fails).
    pub async fn send<K, P>(&self, record: FutureRecord<'_, K, P>, queue_timeout: impl Into<Timeout>) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send_in(&Context::current(), record, queue_timeout).await
    }

    /// [`send`](Self::send) with an explicit parent context.
    pub async fn send_in<K, P>(&self, parent: &Context, mut record: FutureRecord<'_, K, P>, queue_timeout: impl Into<Timeout>) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        if !self.config.options.topics.allows(record.topic) {
            return self.producer.send(record, queue_timeout).await;
        }
        let message = MessageInfo {
            topic: record.topic,
            partition: record.partition,
            key: record.key.map(ToBytes::to_bytes),
            payload_len: record.payload.map(|p| p.to_bytes().len()),
            timestamp_ms: record.timestamp,
            offset: None,
        };
        let spec = span::send_span(&message, &self.client, &self.config.options);
        let cx = start_span(&self.tracer, &spec, &SpanSources { ambient: Some(parent), ..SpanSources::default() });
        add_hook_attributes(&cx, self.config.producer_hook.as_ref(), &message);
        let mut headers = record.headers.take().unwrap_or_default();
        inject_context(&cx, &mut headers);
        record.headers = Some(headers);

        let started = Instant::now();
        let result = self.producer.send(record, queue_timeout).await;
        let outcome = match &result {
            Ok(delivery) => span::send_outcome(Ok((delivery.partition, delivery.offset))),
            Err((error, _)) => span::send_outcome(Err(&error_type(error))),
        };
        end_span(&cx, &outcome);
        if let Some(metrics) = &self.config.metrics {
            metrics.record_send(&spec, &outcome, started.elapsed());
        }
        result
    }
}

/// Runs handlers inside `process {topic}` spans.
pub struct TracedConsumer<T> {
    tracer: T,
    client: ClientInfo,
    config: TraceConfig,
}

/// A message about to be processed: its span spec and the context its handler runs in.
struct Started {
    spec: SpanSpec,
    cx: Context,
    started: Instant,
}

fn message_info<M: Message>(message: &M) -> MessageInfo<'_> {
    MessageInfo {
        topic: message.topic(),
        partition: Some(message.partition()),
        offset: Some(message.offset()),
        key: message.key(),
        payload_len: message.payload().map(<[u8]>::len),
        timestamp_ms: message.timestamp().to_millis(),
    }
}

fn outcome_of<V, E: std::fmt::Display>(result: &Result<V, E>) -> Outcome {
    match result {
        Ok(_) => Outcome { attributes: Vec::new(), error: None },
        Err(_) => {
            let name = std::any::type_name::<E>();
            span::error_outcome(name.rsplit("::").next().unwrap_or(name))
        }
    }
}

impl<T> TracedConsumer<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// A helper for a consumer created from `client_config`.
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> Self {
        Self { tracer, client: client_info(client_config), config }
    }

    fn start<M>(&self, message: &M, ambient: &Context, poll: Option<&Context>) -> Option<Started>
    where
        M: Message,
        M::Headers: Headers,
    {
        let info = message_info(message);
        if !self.config.options.topics.allows(info.topic) {
            return None;
        }
        let (remote, baggage) = match message.headers() {
            Some(headers) => {
                let parts = extract_parts(headers);
                let baggage = parts.baggage.clone();
                (parts.into_context().map(|c| remote_span_context(&c.traceparent, &c.tracestate)), baggage)
            }
            None => (None, Baggage::default()),
        };
        let spec = match poll {
            Some(_) => span::batch_process_span(&info, &self.client, &self.config.options, remote.is_some(), now_ms()),
            None => {
                let ambient_valid = ambient.span().span_context().is_valid();
                span::process_span(&info, &self.client, &self.config.options, remote.is_some(), ambient_valid, now_ms())
            }
        };
        // The message's baggage joins the context the handler sees.
        let ambient = add_baggage(ambient.clone(), &baggage);
        let sources = SpanSources { ambient: Some(&ambient), remote, poll: poll.map(|p| p.span().span_context().clone()) };
        let cx = start_span(&self.tracer, &spec, &sources);
        add_hook_attributes(&cx, self.config.consumer_hook.as_ref(), &info);
        Some(Started { spec, cx, started: Instant::now() })
    }

    fn finish(&self, started: Started, outcome: &Outcome) {
        end_span(&started.cx, outcome);
        if let Some(metrics) = &self.config.metrics {
            metrics.record_process(&started.spec, outcome, started.started.elapsed());
        }
    }

    /// Runs an async `handler` for `message` with the process span as the current context.
    /// An `Err` from the handler marks the span as failed; the result is returned unchanged.
    pub async fn process<M, F, Fut, V, E>(&self, message: &M, handler: F) -> Result<V, E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: std::fmt::Display,
    {
        let Some(started) = self.start(message, &Context::current(), None) else { return handler().await };
        let result = handler().with_context(started.cx.clone()).await;
        self.finish(started, &outcome_of(&result));
        result
    }

    /// Runs a synchronous `handler` for `message` with the process span as the current context.
    pub fn process_sync<M, F, V, E>(&self, message: &M, handler: F) -> Result<V, E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnOnce() -> Result<V, E>,
        E: std::fmt::Display,
    {
        let Some(started) = self.start(message, &Context::current(), None) else { return handler() };
        let result = {
            let _guard = started.cx.clone().attach();
            handler()
        };
        self.finish(started, &outcome_of(&result));
        result
    }

    /// Processes a batch under a `poll {topic}` span: each message gets its own process span
    /// whose parent is its producer's context (strategy `parent`), linked to the poll span.
    /// `handler` runs once per message, in order, with that message's span current; the first
    /// error stops the batch and is returned (messages after it are not handled).
    pub fn process_batch<M, F, E>(&self, messages: &[M], mut handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&M) -> Result<(), E>,
        E: std::fmt::Display,
    {
        let topics: Vec<&str> = messages.iter().map(Message::topic).collect();
        let poll_spec = span::poll_span(&topics, messages.len(), &self.client);
        let ambient = Context::current();
        let poll_started = Instant::now();
        let poll_cx = start_span(&self.tracer, &poll_spec, &SpanSources { ambient: Some(&ambient), ..SpanSources::default() });
        let mut result = Ok(());
        for message in messages {
            let Some(started) = self.start(message, &ambient, Some(&poll_cx)) else {
                result = handler(message);
                if result.is_err() {
                    break;
                }
                continue;
            };
            result = {
                let _guard = started.cx.clone().attach();
                handler(message)
            };
            self.finish(started, &outcome_of(&result));
            if result.is_err() {
                break;
            }
        }
        end_span(&poll_cx, &Outcome { attributes: Vec::new(), error: None });
        if let Some(metrics) = &self.config.metrics {
            metrics.record_poll(&poll_spec, poll_started.elapsed());
        }
        result
    }
}
