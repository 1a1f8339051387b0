//! The traced `StreamConsumer` adapter: a `Stream` of messages, each processed inside its
//! `process {topic}` span.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_core::Stream;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::TracedConsumer;
use crate::carrier::Headers;

/// A stream of messages (typically `StreamConsumer::stream()`) whose items are processed inside
/// their `process {topic}` CONSUMER spans. Made by [`TracedConsumer::stream`].
///
/// Each message is handled with its handler context current (the caller's context, the
/// message's baggage over it, the process span), across every `.await` of the handler. The
/// stream yields exactly what the wrapped stream yields, in its order; receive errors pass
/// through untouched. Only processing is traced: waiting for the next message is not a span.
///
/// Either drive it with [`for_each_traced`](Self::for_each_traced), or take its items
/// ([`TracedMessage`]) as a [`Stream`] and process each with [`TracedMessage::process`].
///
/// ```no_run
/// use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
/// use rdkafka::consumer::{Consumer, StreamConsumer};
/// use rdkafka::{ClientConfig, Message};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "shipping");
/// let consumer: StreamConsumer = config.create()?;
/// consumer.subscribe(&["orders"])?;
/// let traced = TracedConsumer::new(&config, opentelemetry::global::tracer("shipping"), TraceConfig::default());
/// traced
///     .stream(consumer.stream())
///     .for_each_traced(|message| async move {
///         // The process span of `message` is current here, and after every await.
///         println!("{:?}", message.payload());
///         Ok::<_, Box<dyn std::error::Error>>(())
///     })
///     .await
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct TracedStream<'c, S, T> {
    stream: S,
    consumer: &'c TracedConsumer<T>,
}

/// One message of a [`TracedStream`], not yet processed: [`process`](Self::process) it inside
/// its span. A message dropped without processing records nothing.
///
/// ```no_run
/// use futures::StreamExt;
/// use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
/// use rdkafka::consumer::StreamConsumer;
/// use rdkafka::{ClientConfig, Message};
///
/// # async fn run(consumer: StreamConsumer, config: ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let traced = TracedConsumer::new(&config, opentelemetry::global::tracer("app"), TraceConfig::default());
/// let mut stream = traced.stream(consumer.stream());
/// while let Some(item) = stream.next().await {
///     let message = item?;
///     message
///         .process(|m| async move {
///             println!("offset {}", m.offset());
///             Ok::<_, std::io::Error>(())
///         })
///         .await?;
/// }
/// # Ok(())
/// # }
/// ```
pub struct TracedMessage<'c, M, T> {
    message: M,
    consumer: &'c TracedConsumer<T>,
}

impl<T> TracedConsumer<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Wraps a stream of messages, e.g. `StreamConsumer::stream()` (any `Stream` of
    /// `Result<message, KafkaError>` works, e.g. a partition queue's stream).
    ///
    /// ```no_run
    /// # fn run(consumer: rdkafka::consumer::StreamConsumer, config: rdkafka::ClientConfig) {
    /// use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
    ///
    /// let traced = TracedConsumer::new(&config, opentelemetry::global::tracer("app"), TraceConfig::default());
    /// let stream = traced.stream(consumer.stream());
    /// # drop(stream);
    /// # }
    /// ```
    pub fn stream<S>(&self, stream: S) -> TracedStream<'_, S, T> {
        TracedStream { stream, consumer: self }
    }
}

impl<'c, S, T> TracedStream<'c, S, T> {
    /// The wrapped stream.
    ///
    /// ```no_run
    /// # fn run(consumer: rdkafka::consumer::StreamConsumer, traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>) {
    /// let stream = traced.stream(consumer.stream());
    /// let _plain = stream.into_inner();
    /// # }
    /// ```
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<'c, S, M, T> TracedStream<'c, S, T>
where
    S: Stream<Item = Result<M, KafkaError>> + Unpin,
    M: Message,
    M::Headers: Headers,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Runs `handler` for every message, one at a time and in the stream's order, each inside its
    /// process span with its handler context current (across `.await`s). Ends when the stream
    /// ends (`Ok`), at the first receive error (`Err(error.into())`), or at the first handler
    /// error (returned as is; that message's span ends with `error.type`).
    ///
    /// ```no_run
    /// # async fn run(consumer: rdkafka::consumer::StreamConsumer, traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>) -> Result<(), Box<dyn std::error::Error>> {
    /// use rdkafka::Message;
    ///
    /// traced
    ///     .stream(consumer.stream())
    ///     .for_each_traced(|message| async move {
    ///         let order: &[u8] = message.payload().unwrap_or_default();
    ///         println!("{} bytes", order.len());
    ///         Ok::<_, Box<dyn std::error::Error>>(())
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn for_each_traced<F, Fut, E>(mut self, mut handler: F) -> Result<(), E>
    where
        F: FnMut(M) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: From<KafkaError> + std::fmt::Display,
    {
        while let Some(item) = poll_fn(|cx| Pin::new(&mut self.stream).poll_next(cx)).await {
            let message = item?;
            TracedMessage { message, consumer: self.consumer }.process_owned(&mut handler).await?;
        }
        Ok(())
    }
}

impl<'c, S, M, T> Stream for TracedStream<'c, S, T>
where
    S: Stream<Item = Result<M, KafkaError>> + Unpin,
{
    type Item = Result<TracedMessage<'c, M, T>, KafkaError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let consumer = this.consumer;
        Pin::new(&mut this.stream)
            .poll_next(cx)
            .map(|item| item.map(|result| result.map(|message| TracedMessage { message, consumer })))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<'c, M, T> TracedMessage<'c, M, T> {
    /// The message.
    ///
    /// ```no_run
    /// # async fn run(item: kafka_trace::rdkafka::TracedMessage<'_, rdkafka::message::OwnedMessage, opentelemetry::global::BoxedTracer>) {
    /// use rdkafka::Message;
    /// println!("{}", item.message().offset());
    /// # }
    /// ```
    pub fn message(&self) -> &M {
        &self.message
    }

    /// The message, leaving it untraced.
    ///
    /// ```no_run
    /// # async fn run(item: kafka_trace::rdkafka::TracedMessage<'_, rdkafka::message::OwnedMessage, opentelemetry::global::BoxedTracer>) {
    /// let message: rdkafka::message::OwnedMessage = item.into_message();
    /// # }
    /// ```
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<'c, M, T> TracedMessage<'c, M, T>
where
    M: Message,
    M::Headers: Headers,
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Runs the async `handler` inside the message's process span, with its handler context
    /// current across every `.await`; an `Err` marks the span failed and is returned unchanged.
    ///
    /// ```no_run
    /// # async fn run(item: kafka_trace::rdkafka::TracedMessage<'_, rdkafka::message::OwnedMessage, opentelemetry::global::BoxedTracer>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// let length = item.process(|m| async move { Ok::<_, std::io::Error>(m.payload().map_or(0, <[u8]>::len)) }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn process<'m, F, Fut, V, E>(&'m self, handler: F) -> Result<V, E>
    where
        F: FnOnce(&'m M) -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: std::fmt::Display,
    {
        self.consumer.process(&self.message, || handler(&self.message)).await
    }

    /// [`process`](Self::process) with a handler that takes the message by value (e.g. to move
    /// a detached message into the handler's future).
    ///
    /// ```no_run
    /// # async fn run(item: kafka_trace::rdkafka::TracedMessage<'_, rdkafka::message::OwnedMessage, opentelemetry::global::BoxedTracer>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// item.process_owned(|m| async move {
    ///     let _kept: rdkafka::message::OwnedMessage = m;
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn process_owned<F, Fut, V, E>(self, handler: F) -> Result<V, E>
    where
        F: FnOnce(M) -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: std::fmt::Display,
    {
        let Self { message, consumer } = self;
        let Some((recipe, running)) = consumer.start(&message, &Context::current(), None) else {
            return handler(message).await;
        };
        let result = handler(message).with_context(running.context().clone()).await;
        consumer.finish(&recipe, &running, &result);
        result
    }

    /// Runs a synchronous `handler` inside the message's process span (see
    /// [`TracedConsumer::process_sync`]).
    ///
    /// ```no_run
    /// # fn run(item: kafka_trace::rdkafka::TracedMessage<'_, rdkafka::message::OwnedMessage, opentelemetry::global::BoxedTracer>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// item.process_sync(|m| {
    ///     println!("{:?}", m.key());
    ///     Ok::<_, std::io::Error>(())
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn process_sync<F, V, E>(&self, handler: F) -> Result<V, E>
    where
        F: FnOnce(&M) -> Result<V, E>,
        E: std::fmt::Display,
    {
        self.consumer.process_sync(&self.message, || handler(&self.message))
    }
}

impl<M: std::fmt::Debug, T> std::fmt::Debug for TracedMessage<'_, M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedMessage").field("message", &self.message).finish()
    }
}

impl<S: std::fmt::Debug, T> std::fmt::Debug for TracedStream<'_, S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedStream").field("stream", &self.stream).finish()
    }
}
