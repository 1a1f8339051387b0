//! The traced `BaseProducer` and `ThreadedProducer`.

use opentelemetry::trace::Tracer;
use opentelemetry::Context;
use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::TopicPartitionList;

use super::delivery::TracedProducerContext;
use super::TraceConfig;

/// The delivery opaque a traced producer's `send` takes: the wrapped context's own.
type UserOpaque<C> = <C as ProducerContext>::DeliveryOpaque;

/// The result of a traced producer's `send`: the record comes back on an enqueue failure.
type Sent<'a, K, P, D> = Result<(), (KafkaError, BaseRecord<'a, K, P, D>)>;

macro_rules! producer_trait {
    ($name:ident, $inner:ident) => {
        impl<T, C> Producer<TracedProducerContext<C, T>> for $name<T, C>
        where
            C: ProducerContext + 'static,
            T: Tracer + Send + Sync + 'static,
            T::Span: Send + Sync + 'static,
        {
            fn client(&self) -> &Client<TracedProducerContext<C, T>> {
                self.$inner.client()
            }

            fn in_flight_count(&self) -> i32 {
                self.$inner.in_flight_count()
            }

            fn flush<U: Into<Timeout>>(&self, timeout: U) -> KafkaResult<()> {
                self.$inner.flush(timeout)
            }

            fn purge(&self, flags: PurgeConfig) {
                self.$inner.purge(flags)
            }

            fn init_transactions<U: Into<Timeout>>(&self, timeout: U) -> KafkaResult<()> {
                self.$inner.init_transactions(timeout)
            }

            fn begin_transaction(&self) -> KafkaResult<()> {
                self.$inner.begin_transaction()
            }

            fn send_offsets_to_transaction<U: Into<Timeout>>(
                &self,
                offsets: &TopicPartitionList,
                cgm: &ConsumerGroupMetadata,
                timeout: U,
            ) -> KafkaResult<()> {
                self.$inner.send_offsets_to_transaction(offsets, cgm, timeout)
            }

            fn commit_transaction<U: Into<Timeout>>(&self, timeout: U) -> KafkaResult<()> {
                self.$inner.commit_transaction(timeout)
            }

            fn abort_transaction<U: Into<Timeout>>(&self, timeout: U) -> KafkaResult<()> {
                self.$inner.abort_transaction(timeout)
            }
        }
    };
}

/// A `BaseProducer` that traces every send: `send` opens a `send {topic}` PRODUCER span (a child
/// of the current context), injects it into the record's headers (replacing trace headers already
/// there) and the span ends in librdkafka's delivery callback, served by [`poll`](Self::poll) or
/// [`flush`](Producer::flush), with the acknowledged partition and offset, or with `error.type`
/// and an error status. The span ends at the delivery callback because rust-rdkafka does not
/// expose librdkafka's per-message latency without `unsafe`.
///
/// The wrapped [`ProducerContext`] (yours, or `DefaultProducerContext`) still gets every delivery
/// report with your own delivery opaque. Transactions work as on the `BaseProducer`
/// ([`Producer`] is implemented): a send inside a transaction gets its normal send span, and the
/// sends of an aborted transaction end with the delivery result librdkafka reports (e.g.
/// `PurgeQueue`).
///
/// ```no_run
/// use std::time::Duration;
///
/// use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
/// use opentelemetry::global;
/// use rdkafka::producer::{BaseRecord, Producer};
/// use rdkafka::ClientConfig;
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let producer = TracedBaseProducer::new(&config, global::tracer("app"), TraceConfig::default())?;
/// producer
///     .send(BaseRecord::to("orders").key("order-1").payload("{}"))
///     .map_err(|(e, _)| e)?;
/// // Serves the delivery callback, which ends the send span.
/// producer.flush(Duration::from_secs(10))?;
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
pub struct TracedBaseProducer<T, C = DefaultProducerContext>
where
    C: ProducerContext + 'static,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    producer: BaseProducer<TracedProducerContext<C, T>>,
}

impl<T> TracedBaseProducer<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer from `client_config` (the span attributes come from it too).
    ///
    /// ```no_run
    /// use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// use rdkafka::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092").set("client.id", "orders-api");
    /// let tracer = opentelemetry::global::tracer("orders-api");
    /// let producer = TracedBaseProducer::new(&config, tracer, TraceConfig::default())?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> KafkaResult<Self> {
        Self::with_context(client_config, rdkafka::producer::DefaultProducerContext, tracer, config)
    }
}

impl<T, C> TracedBaseProducer<T, C>
where
    C: ProducerContext + 'static,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer with your own [`ProducerContext`]: it keeps receiving every delivery
    /// report (after the send span ended) with the delivery opaque you gave `send`, and every
    /// other callback.
    ///
    /// ```no_run
    /// use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// use rdkafka::client::ClientContext;
    /// use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext};
    /// use rdkafka::ClientConfig;
    ///
    /// struct Acks;
    /// impl ClientContext for Acks {}
    /// impl ProducerContext for Acks {
    ///     type DeliveryOpaque = usize;
    ///     fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
    ///         println!("message {id}: {}", if result.is_ok() { "acked" } else { "failed" });
    ///     }
    /// }
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let tracer = opentelemetry::global::tracer("app");
    /// let producer = TracedBaseProducer::with_context(&config, Acks, tracer, TraceConfig::default())?;
    /// producer.send(BaseRecord::<(), _, _>::with_opaque_to("orders", 42).payload("{}")).map_err(|(e, _)| e)?;
    /// producer.flush(std::time::Duration::from_secs(10))?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn with_context(client_config: &ClientConfig, context: C, tracer: T, config: TraceConfig) -> KafkaResult<Self> {
        let context = TracedProducerContext::new(context, client_config, tracer, &config);
        Ok(Self { producer: BaseProducer::from_config_and_context(client_config, context)? })
    }

    /// Sends like `BaseProducer::send`, inside a `send {topic}` span that is a child of the
    /// current context. A record the producer refuses (e.g. `QueueFull`) comes back as with
    /// rdkafka, with your opaque; its span ends at once with that error.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// # use rdkafka::ClientConfig;
    /// use rdkafka::producer::BaseRecord;
    ///
    /// # let producer = TracedBaseProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// if let Err((error, record)) = producer.send(BaseRecord::to("orders").key("k").payload("v")) {
    ///     eprintln!("not enqueued ({error}): {:?}", record.key);
    /// }
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn send<'a, K, P>(&self, record: BaseRecord<'a, K, P, UserOpaque<C>>) -> Sent<'a, K, P, UserOpaque<C>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send_in(&Context::current(), record)
    }

    /// [`send`](Self::send) with an explicit parent context.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// # use rdkafka::ClientConfig;
    /// use opentelemetry::Context;
    /// use rdkafka::producer::BaseRecord;
    ///
    /// # let producer = TracedBaseProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// // A new trace, whatever the current context holds.
    /// producer.send_in(&Context::new(), BaseRecord::<(), _>::to("audit").payload("x")).map_err(|(e, _)| e)?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn send_in<'a, K, P>(&self, parent: &Context, record: BaseRecord<'a, K, P, UserOpaque<C>>) -> Sent<'a, K, P, UserOpaque<C>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.producer.context().sends().send(parent, record, |record| self.producer.send(record))
    }

    /// Serves delivery callbacks (which end send spans) for up to `timeout`, like
    /// `BaseProducer::poll`.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// # use rdkafka::ClientConfig;
    /// # let producer = TracedBaseProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// producer.poll(std::time::Duration::from_millis(100));
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn poll<U: Into<Timeout>>(&self, timeout: U) {
        self.producer.poll(timeout);
    }

    /// The wrapped producer.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedBaseProducer};
    /// # use rdkafka::ClientConfig;
    /// use rdkafka::producer::Producer;
    /// # let producer = TracedBaseProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// println!("{} messages in flight", producer.inner().in_flight_count());
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn inner(&self) -> &BaseProducer<TracedProducerContext<C, T>> {
        &self.producer
    }
}

producer_trait!(TracedBaseProducer, producer);

/// A `ThreadedProducer` that traces every send: as [`TracedBaseProducer`], with rdkafka's polling
/// thread serving the delivery callbacks that end the send spans. Transactions work through
/// [`Producer`].
///
/// ```no_run
/// use std::time::Duration;
///
/// use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
/// use opentelemetry::global;
/// use rdkafka::producer::{BaseRecord, Producer};
/// use rdkafka::ClientConfig;
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092").set("transactional.id", "orders-tx");
/// let producer = TracedThreadedProducer::new(&config, global::tracer("app"), TraceConfig::default())?;
/// producer.init_transactions(Duration::from_secs(30))?;
/// producer.begin_transaction()?;
/// producer.send(BaseRecord::to("orders").key("order-1").payload("{}")).map_err(|(e, _)| e)?;
/// producer.commit_transaction(Duration::from_secs(30))?;
/// # Ok::<(), rdkafka::error::KafkaError>(())
/// ```
pub struct TracedThreadedProducer<T, C = DefaultProducerContext>
where
    C: ProducerContext + 'static,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    producer: ThreadedProducer<TracedProducerContext<C, T>>,
}

impl<T> TracedThreadedProducer<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer and its polling thread from `client_config`.
    ///
    /// ```no_run
    /// use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
    /// use rdkafka::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let producer = TracedThreadedProducer::new(&config, opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> KafkaResult<Self> {
        Self::with_context(client_config, DefaultProducerContext, tracer, config)
    }
}

impl<T, C> TracedThreadedProducer<T, C>
where
    C: ProducerContext + 'static,
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    /// Creates the producer with your own [`ProducerContext`] (see
    /// [`TracedBaseProducer::with_context`]).
    ///
    /// ```no_run
    /// use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
    /// use rdkafka::producer::DefaultProducerContext;
    /// use rdkafka::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let tracer = opentelemetry::global::tracer("app");
    /// let producer = TracedThreadedProducer::with_context(&config, DefaultProducerContext, tracer, TraceConfig::default())?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn with_context(client_config: &ClientConfig, context: C, tracer: T, config: TraceConfig) -> KafkaResult<Self> {
        let context = TracedProducerContext::new(context, client_config, tracer, &config);
        Ok(Self { producer: ThreadedProducer::from_config_and_context(client_config, context)? })
    }

    /// Sends like `ThreadedProducer::send`, inside a `send {topic}` span that is a child of the
    /// current context (see [`TracedBaseProducer::send`]).
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
    /// # use rdkafka::ClientConfig;
    /// use rdkafka::producer::BaseRecord;
    /// # let producer = TracedThreadedProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// producer.send(BaseRecord::to("orders").key("k").payload("v")).map_err(|(e, _)| e)?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn send<'a, K, P>(&self, record: BaseRecord<'a, K, P, UserOpaque<C>>) -> Sent<'a, K, P, UserOpaque<C>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.send_in(&Context::current(), record)
    }

    /// [`send`](Self::send) with an explicit parent context.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
    /// # use rdkafka::ClientConfig;
    /// use opentelemetry::Context;
    /// use rdkafka::producer::BaseRecord;
    /// # let producer = TracedThreadedProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// producer.send_in(&Context::new(), BaseRecord::<(), _>::to("audit").payload("x")).map_err(|(e, _)| e)?;
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn send_in<'a, K, P>(&self, parent: &Context, record: BaseRecord<'a, K, P, UserOpaque<C>>) -> Sent<'a, K, P, UserOpaque<C>>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        self.producer.context().sends().send(parent, record, |record| self.producer.send(record))
    }

    /// The wrapped producer.
    ///
    /// ```no_run
    /// # use kafka_trace::rdkafka::{TraceConfig, TracedThreadedProducer};
    /// # use rdkafka::ClientConfig;
    /// use rdkafka::producer::Producer;
    /// # let producer = TracedThreadedProducer::new(&ClientConfig::new(), opentelemetry::global::tracer("app"), TraceConfig::default())?;
    /// println!("{} messages in flight", producer.inner().in_flight_count());
    /// # Ok::<(), rdkafka::error::KafkaError>(())
    /// ```
    pub fn inner(&self) -> &ThreadedProducer<TracedProducerContext<C, T>> {
        &self.producer
    }
}

producer_trait!(TracedThreadedProducer, producer);
