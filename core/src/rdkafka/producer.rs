//! The traced `FutureProducer`.

use opentelemetry::trace::Tracer;
use opentelemetry::Context;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::ToBytes;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use super::{add_hook_attributes, error_type, finish_span, parts, with_trace_headers, Hook, TraceConfig};
use crate::lifecycle::{Lifecycle, SendResult};
use crate::otel::{Executor, StartCache};
use crate::span::MessageInfo;

/// A `FutureProducer` that traces every send.
///
/// ```no_run
/// use std::time::Duration;
///
/// use kafka_trace::rdkafka::{TraceConfig, TracedProducer};
/// use rdkafka::producer::FutureRecord;
/// use rdkafka::ClientConfig;
///
/// # async fn run() -> Result<(), rdkafka::error::KafkaError> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let producer = TracedProducer::new(&config, opentelemetry::global::tracer("app"), TraceConfig::default())?;
/// let (partition, offset) = producer
///     .send(FutureRecord::to("orders").key("o-1").payload("{}"), Duration::from_secs(5))
///     .await
///     .map(|delivery| (delivery.partition, delivery.offset))
///     .map_err(|(e, _)| e)?;
/// # Ok(())
/// # }
/// ```
pub struct TracedProducer<T> {
    producer: FutureProducer,
    lifecycle: Lifecycle,
    executor: Executor<T>,
    starts: StartCache,
    hook: Option<Hook>,
}

impl<T> TracedProducer<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer from `client_config` (the span attributes come from it too).
    ///
    /// ```no_run
    /// use kafka_trace::rdkafka::{TraceConfig, TracedProducer};
    /// use rdkafka::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092").set("client.id", "orders-api");
    /// let producer = TracedProducer::new(&config, opentelemetry::global::tracer("orders-api"), TraceConfig::default())?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> Result<Self, KafkaError> {
        let (lifecycle, executor) = parts(client_config, tracer, &config);
        Ok(Self { producer: client_config.create()?, lifecycle, executor, starts: StartCache::default(), hook: config.producer_hook })
    }

    /// The wrapped producer (for flush, transactions, metadata).
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedProducer};
    /// # use rdkafka::ClientConfig;
    /// use rdkafka::producer::Producer;
    /// # let producer = TracedProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// producer.inner().flush(std::time::Duration::from_secs(10))?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn inner(&self) -> &FutureProducer {
        &self.producer
    }

    /// Sends like `FutureProducer::send`, inside a `send {topic}` span that is a child of the
    /// current context and ends when the broker acknowledges (or the send fails).
    ///
    /// ```no_run
    /// # async fn run(producer: kafka_trace::rdkafka::TracedProducer<opentelemetry::global::BoxedTracer>) {
    /// use std::time::Duration;
    /// use rdkafka::producer::FutureRecord;
    ///
    /// match producer.send(FutureRecord::to("orders").key("o-1").payload("{}"), Duration::from_secs(5)).await {
    ///     Ok(delivery) => println!("acked at {}/{}", delivery.partition, delivery.offset),
    ///     Err((error, _message)) => eprintln!("failed: {error}"),
    /// }
    /// # }
    /// ```
    pub async fn send<K, P>(&self, record: FutureRecord<'_, K, P>, queue_timeout: impl Into<Timeout>) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send_in(&Context::current(), record, queue_timeout).await
    }

    /// [`send`](Self::send) with an explicit parent context.
    ///
    /// ```no_run
    /// # async fn run(producer: kafka_trace::rdkafka::TracedProducer<opentelemetry::global::BoxedTracer>) {
    /// use std::time::Duration;
    /// use opentelemetry::Context;
    /// use rdkafka::producer::FutureRecord;
    ///
    /// // A new trace, whatever the current context holds.
    /// let _ = producer.send_in(&Context::new(), FutureRecord::<(), _>::to("audit").payload("x"), Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub async fn send_in<K, P>(&self, parent: &Context, mut record: FutureRecord<'_, K, P>, queue_timeout: impl Into<Timeout>) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let message = MessageInfo {
            topic: record.topic,
            partition: record.partition,
            key: record.key.map(ToBytes::to_bytes),
            payload_len: record.payload.map(|p| p.to_bytes().len()),
            timestamp_ms: record.timestamp,
            offset: None,
        };
        let Some(started) = self.executor.start_send_cached(&self.starts, &self.lifecycle, &message, parent) else {
            return self.producer.send(record, queue_timeout).await;
        };
        let (running, recipe, kept) = (started.running, started.recipe, started.kept);
        add_hook_attributes(running.context(), self.hook.as_ref(), &message);
        record.headers = Some(with_trace_headers(running.context(), record.headers.take()));

        let result = self.producer.send(record, queue_timeout).await;
        // The delivery future resolves when librdkafka served the delivery report; rust-rdkafka
        // exposes no per-message latency (`rd_kafka_message_latency`) without `unsafe`, so the
        // span ends now and the duration is measured up to here (by finish_span).
        let error = result.as_ref().err().map(|(e, _)| error_type(e));
        let outcome = match (&result, &error) {
            (Ok(delivery), _) => SendResult::Acked { partition: delivery.partition, offset: delivery.offset },
            (Err(_), error) => SendResult::Failed { error_type: error.as_deref().unwrap_or_default() },
        };
        finish_span(
            &self.executor,
            &running,
            (recipe.as_ref(), kept.as_ref()),
            |r, elapsed| r.finish(outcome, elapsed, None),
            |r, elapsed| r.finish_span(outcome, elapsed, None),
            |k, elapsed| self.executor.finish_kept_send(&running, k, outcome, elapsed, None),
        );
        result
    }
}
