//! The traced `ProducerContext`: send spans that end in librdkafka's delivery callback.

use opentelemetry::trace::Tracer;
use opentelemetry::Context;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, ToBytes};
use rdkafka::producer::{BaseRecord, DeliveryResult, Partitioner, ProducerContext};
use rdkafka::statistics::Statistics;

use super::{add_hook_attributes, error_type, finish_span, parts, with_trace_headers, Hook, TraceConfig};
use crate::lifecycle::{Lifecycle, SendRecipe, SendResult};
use crate::otel::{Executor, Kept, Running, StartCache};
use crate::span::MessageInfo;

/// A send span on its way to the delivery callback.
struct InFlight {
    recipe: Option<SendRecipe>,
    kept: Option<Kept<SendRecipe>>,
    running: Running,
}

/// The delivery opaque of a traced producer: the caller's own opaque and the send span, which
/// ends when librdkafka reports the message's delivery. Made by
/// [`TracedBaseProducer::send`](super::TracedBaseProducer::send) and
/// [`TracedThreadedProducer::send`](super::TracedThreadedProducer::send); the wrapped context's
/// `delivery` receives the caller's opaque unchanged.
///
/// ```
/// use kafka_trace::rdkafka::TracedDelivery;
///
/// // A delivery opaque without a span (e.g. for a topic the filter excludes).
/// let opaque = TracedDelivery::untraced(7usize);
/// assert!(!opaque.is_traced());
/// assert_eq!(opaque.into_user_opaque(), 7);
/// ```
pub struct TracedDelivery<D> {
    user: D,
    span: Option<InFlight>,
}

impl<D> TracedDelivery<D> {
    /// The caller's opaque without a send span.
    pub fn untraced(user: D) -> Self {
        Self { user, span: None }
    }

    /// Whether a send span travels with the message.
    pub fn is_traced(&self) -> bool {
        self.span.is_some()
    }

    /// The caller's own opaque.
    pub fn user_opaque(&self) -> &D {
        &self.user
    }

    /// The caller's own opaque, owned (a span that travelled with it is dropped without ending).
    pub fn into_user_opaque(self) -> D {
        self.user
    }
}

impl<D: std::fmt::Debug> std::fmt::Debug for TracedDelivery<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedDelivery").field("user", &self.user).field("traced", &self.span.is_some()).finish()
    }
}

/// The send half of the lifecycle: starts send spans, injects them, ends them.
pub(super) struct SendTracing<T> {
    lifecycle: Lifecycle,
    executor: Executor<T>,
    starts: StartCache,
    hook: Option<Hook>,
}

impl<T> SendTracing<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    pub(super) fn new(client_config: &ClientConfig, tracer: T, config: &TraceConfig) -> Self {
        let (lifecycle, executor) = parts(client_config, tracer, config);
        Self { lifecycle, executor, starts: StartCache::default(), hook: config.producer_hook.clone() }
    }

    /// Starts the send span of `record` as a child of `parent` and injects it into the record's
    /// headers; `None` when the recipe says the topic is not traced (the record is untouched).
    fn start<K, P, D>(&self, parent: &Context, record: &mut BaseRecord<'_, K, P, D>) -> Option<InFlight>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        D: rdkafka::util::IntoOpaque,
    {
        let message = MessageInfo {
            topic: record.topic,
            partition: record.partition,
            key: record.key.map(ToBytes::to_bytes),
            payload_len: record.payload.map(|p| p.to_bytes().len()),
            timestamp_ms: record.timestamp,
            offset: None,
        };
        let started = self.executor.start_send_cached(&self.starts, &self.lifecycle, &message, parent)?;
        let (running, recipe, kept) = (started.running, started.recipe, started.kept);
        add_hook_attributes(running.context(), self.hook.as_ref(), &message);
        record.headers = Some(with_trace_headers(running.context(), record.headers.take()));
        Some(InFlight { recipe, kept, running })
    }

    fn finish(&self, span: &InFlight, outcome: SendResult<'_>) {
        // librdkafka's per-message latency (`rd_kafka_message_latency`) is not reachable through
        // rust-rdkafka without `unsafe`: the span ends in the delivery callback.
        finish_span(
            &self.executor,
            &span.running,
            (span.recipe.as_ref(), span.kept.as_ref()),
            |r, elapsed| r.finish(outcome, elapsed, None),
            |r, elapsed| r.finish_span(outcome, elapsed, None),
            |k, elapsed| self.executor.finish_kept_send(&span.running, k, outcome, elapsed, None),
        );
    }

    fn delivered(&self, span: &InFlight, result: &DeliveryResult<'_>) {
        match result {
            Ok(message) => self.finish(span, SendResult::Acked { partition: message.partition(), offset: message.offset() }),
            Err((error, _)) => self.finish(span, SendResult::Failed { error_type: &error_type(error) }),
        }
    }

    /// Sends `record` with `send` (the producer's own send) inside a send span: the record
    /// travels with a [`TracedDelivery`] opaque; a record the producer refused comes back with
    /// the caller's opaque and its span ended with the error.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub(super) fn send<'a, K, P, D, F>(
        &self,
        parent: &Context,
        mut record: BaseRecord<'a, K, P, D>,
        send: F,
    ) -> Result<(), (KafkaError, BaseRecord<'a, K, P, D>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        D: rdkafka::util::IntoOpaque,
        F: FnOnce(
            BaseRecord<'a, K, P, Box<TracedDelivery<D>>>,
        ) -> Result<(), (KafkaError, BaseRecord<'a, K, P, Box<TracedDelivery<D>>>)>,
    {
        let span = self.start(parent, &mut record);
        let record = map_opaque(record, |user| Box::new(TracedDelivery { user, span }));
        send(record).map_err(|(error, record)| {
            let mut span = None;
            let record = map_opaque(record, |opaque| {
                let TracedDelivery { user, span: in_flight } = *opaque;
                span = in_flight;
                user
            });
            if let Some(span) = &span {
                self.finish(span, SendResult::Failed { error_type: &error_type(&error) });
            }
            (error, record)
        })
    }
}

/// The record with its delivery opaque mapped by `f`.
fn map_opaque<'a, K, P, D, E, F>(record: BaseRecord<'a, K, P, D>, f: F) -> BaseRecord<'a, K, P, E>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    D: rdkafka::util::IntoOpaque,
    E: rdkafka::util::IntoOpaque,
    F: FnOnce(D) -> E,
{
    let BaseRecord { topic, partition, payload, key, timestamp, headers, delivery_opaque } = record;
    BaseRecord { topic, partition, payload, key, timestamp, headers, delivery_opaque: f(delivery_opaque) }
}

/// A [`ProducerContext`] that ends each message's send span in the delivery callback (with
/// partition and offset, or `error.type` and an error status), then hands the delivery report
/// and the caller's own opaque to the wrapped context. Every other callback (logs, statistics,
/// errors, OAuth tokens, the custom partitioner) is the wrapped context's.
///
/// [`TracedBaseProducer`](super::TracedBaseProducer) and
/// [`TracedThreadedProducer`](super::TracedThreadedProducer) create it; reach the wrapped
/// context with [`inner`](Self::inner).
///
/// ```no_run
/// use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
/// use opentelemetry::global;
/// use rdkafka::producer::{DefaultProducerContext, Producer};
/// use rdkafka::ClientConfig;
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let producer = TracedBaseProducer::new(&config, global::tracer("app"), TraceConfig::default())?;
/// let _wrapped: &DefaultProducerContext = producer.context().inner();
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
pub struct TracedProducerContext<C, T> {
    inner: C,
    sends: SendTracing<T>,
}

impl<C, T> TracedProducerContext<C, T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    pub(super) fn new(inner: C, client_config: &ClientConfig, tracer: T, config: &TraceConfig) -> Self {
        Self { inner, sends: SendTracing::new(client_config, tracer, config) }
    }

    pub(super) fn sends(&self) -> &SendTracing<T> {
        &self.sends
    }
}

impl<C, T> TracedProducerContext<C, T> {
    /// The wrapped context (the caller's own, or `DefaultProducerContext`).
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C, T> ClientContext for TracedProducerContext<C, T>
where
    C: ClientContext,
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = C::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.inner.log(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.inner.stats(statistics);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.inner.stats_raw(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.inner.error(error, reason);
    }

    fn generate_oauth_token(&self, oauthbearer_config: Option<&str>) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.inner.generate_oauth_token(oauthbearer_config)
    }
}

impl<C, T, Part> ProducerContext<Part> for TracedProducerContext<C, T>
where
    Part: Partitioner,
    C: ProducerContext<Part>,
    T: Tracer + Send + Sync,
    T::Span: Send + Sync + 'static,
{
    type DeliveryOpaque = Box<TracedDelivery<C::DeliveryOpaque>>;

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, delivery_opaque: Self::DeliveryOpaque) {
        let TracedDelivery { user, span } = *delivery_opaque;
        if let Some(span) = &span {
            self.sends.delivered(span, delivery_result);
        }
        self.inner.delivery(delivery_result, user);
    }

    fn get_custom_partitioner(&self) -> Option<&Part> {
        self.inner.get_custom_partitioner()
    }
}
