//! The traced consumer: handlers inside process spans, receive calls inside poll spans.

use std::any::Any;
use std::future::Future;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::Tracer;
use opentelemetry::Context;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::{add_hook_attributes, error_type, finish_span, parts, Hook, TraceConfig};
use crate::carrier::Headers;
use crate::lifecycle::{HandlerResult, Lifecycle, PollResult, ProcessRecipe};
use crate::otel::{Executor, Kept, MessageContext, Running, StartCache, StartTime, Started};
use crate::span::MessageInfo;

/// A started process span's recipe, or the one kept for its situation ([`Started`]).
pub(super) type Recipes = (Option<ProcessRecipe>, Option<Kept<ProcessRecipe>>);

/// Runs handlers inside `process {topic}` spans and receive calls inside `poll {topic}` spans.
///
/// ```no_run
/// use std::time::Duration;
///
/// use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
/// use rdkafka::consumer::{BaseConsumer, Consumer};
/// use rdkafka::{ClientConfig, Message};
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "shipping");
/// let consumer: BaseConsumer = config.create()?;
/// consumer.subscribe(&["orders"])?;
/// let traced = TracedConsumer::new(&config, opentelemetry::global::tracer("shipping"), TraceConfig::default());
/// if let Some(message) = consumer.poll(Duration::from_secs(1)) {
///     let message = message?;
///     traced.process_sync(&message, || {
///         println!("{:?}", message.payload());
///         Ok::<_, std::io::Error>(())
///     })?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TracedConsumer<T> {
    lifecycle: Lifecycle,
    executor: Executor<T>,
    starts: StartCache,
    hook: Option<Hook>,
}

/// The messages a traced receive call returned, with the context of its poll span (the caller's
/// context when the poll was not traced).
///
/// ```no_run
/// # fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, source: rdkafka::consumer::BaseConsumer) -> Result<(), rdkafka::error::KafkaError> {
/// use std::time::Duration;
///
/// let received = traced.receive(|| {
///     source.poll(Duration::from_millis(100)).map(|m| m.map(|m| m.detach())).into_iter().collect()
/// })?;
/// println!("{} messages", received.messages().len());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Received<M> {
    messages: Vec<M>,
    poll: Context,
}

impl<M> Received<M> {
    /// The messages, in the order the call returned them.
    ///
    /// ```no_run
    /// # fn run(received: kafka_trace::rdkafka::Received<rdkafka::message::OwnedMessage>) {
    /// use rdkafka::Message;
    /// for message in received.messages() {
    ///     println!("{}", message.offset());
    /// }
    /// # }
    /// ```
    pub fn messages(&self) -> &[M] {
        &self.messages
    }

    /// The messages, owned.
    ///
    /// ```no_run
    /// # fn run(received: kafka_trace::rdkafka::Received<rdkafka::message::OwnedMessage>) {
    /// let messages: Vec<rdkafka::message::OwnedMessage> = received.into_messages();
    /// # }
    /// ```
    pub fn into_messages(self) -> Vec<M> {
        self.messages
    }

    /// The context holding the poll span.
    ///
    /// ```no_run
    /// # fn run(received: kafka_trace::rdkafka::Received<rdkafka::message::OwnedMessage>) {
    /// use opentelemetry::trace::TraceContextExt;
    /// println!("poll span {}", received.poll_context().span().span_context().span_id());
    /// # }
    /// ```
    pub fn poll_context(&self) -> &Context {
        &self.poll
    }
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

/// The error class of a handler's error: its type's name.
fn handler_error_name<E>() -> &'static str {
    let name = std::any::type_name::<E>();
    name.rsplit("::").next().unwrap_or(name)
}

fn handler_result<V, E>(result: &Result<V, E>) -> HandlerResult<'static> {
    match result {
        Ok(_) => HandlerResult::Returned,
        Err(_) => HandlerResult::Failed { error_type: handler_error_name::<E>() },
    }
}

/// The error class of a receive call's error: librdkafka's code for a [`KafkaError`], else the
/// error type's name.
fn receive_error_name<E: Any>(error: &E) -> String {
    match (error as &dyn Any).downcast_ref::<KafkaError>() {
        Some(e) => error_type(e),
        None => handler_error_name::<E>().to_owned(),
    }
}

impl<T> TracedConsumer<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// A helper for a consumer created from `client_config`.
    ///
    /// ```
    /// use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
    /// use rdkafka::ClientConfig;
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092").set("group.id", "shipping");
    /// let traced = TracedConsumer::new(&config, opentelemetry::global::tracer("shipping"), TraceConfig::default());
    /// # drop(traced);
    /// ```
    pub fn new(client_config: &ClientConfig, tracer: T, config: TraceConfig) -> Self {
        let (lifecycle, executor) = parts(client_config, tracer, &config);
        Self { lifecycle, executor, starts: StartCache::default(), hook: config.consumer_hook }
    }

    pub(super) fn start<M>(&self, message: &M, ambient: &Context, poll: Option<&Context>) -> Option<(Recipes, Running)>
    where
        M: Message,
        M::Headers: Headers,
    {
        let info = message_info(message);
        let context = MessageContext::from_headers(message.headers());
        let started = self.executor.start_process_cached(&self.starts, &self.lifecycle, &info, &context, ambient, poll)?;
        add_hook_attributes(started.running.context(), self.hook.as_ref(), &info);
        let Started { running, recipe, kept } = started;
        Some(((recipe, kept), running))
    }

    pub(super) fn finish<V, E>(&self, (recipe, kept): &Recipes, running: &Running, result: &Result<V, E>) {
        let outcome = handler_result(result);
        finish_span(
            &self.executor,
            running,
            (recipe.as_ref(), kept.as_ref()),
            |r, elapsed| r.finish(outcome, elapsed),
            |r, elapsed| r.finish_span(outcome, elapsed),
            |k, elapsed| self.executor.finish_kept_process(running, k, outcome, elapsed),
        );
    }

    /// Runs an async `handler` for `message` in the handler context of its process span.
    /// An `Err` from the handler marks the span as failed; the result is returned unchanged.
    ///
    /// ```no_run
    /// # async fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, message: rdkafka::message::OwnedMessage) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// traced
    ///     .process(&message, || async {
    ///         // The process span is current here, across awaits.
    ///         println!("{:?}", message.payload());
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn process<M, F, Fut, V, E>(&self, message: &M, handler: F) -> Result<V, E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: std::fmt::Display,
    {
        let Some((recipe, running)) = self.start(message, &Context::current(), None) else { return handler().await };
        let result = handler().with_context(running.context().clone()).await;
        self.finish(&recipe, &running, &result);
        result
    }

    /// Runs a synchronous `handler` for `message` in the handler context of its process span.
    ///
    /// ```no_run
    /// # fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, message: rdkafka::message::OwnedMessage) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// let bytes = traced.process_sync(&message, || Ok::<_, std::io::Error>(message.payload().map_or(0, <[u8]>::len)))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn process_sync<M, F, V, E>(&self, message: &M, handler: F) -> Result<V, E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnOnce() -> Result<V, E>,
        E: std::fmt::Display,
    {
        let Some((recipe, running)) = self.start(message, &Context::current(), None) else { return handler() };
        let result = {
            let _guard = running.context().clone().attach();
            handler()
        };
        self.finish(&recipe, &running, &result);
        result
    }

    fn received<M, E>(&self, ambient: &Context, called: StartTime, result: Result<Vec<M>, E>) -> Result<Received<M>, E>
    where
        M: Message,
        E: Any,
    {
        let recipe = match &result {
            Ok(messages) => {
                let topics: Vec<&str> = messages.iter().map(Message::topic).collect();
                self.lifecycle.poll(&topics, topics.len())
            }
            // The subscription is not known here: a failed receive is traced as `poll`.
            Err(_) => self.lifecycle.poll_failed(&[]),
        };
        let Some(recipe) = recipe else {
            return result.map(|messages| Received { messages, poll: ambient.clone() });
        };
        let running = self.executor.start_poll(&recipe, ambient, called);
        let elapsed = called.elapsed();
        let error;
        let outcome = match &result {
            Ok(_) => PollResult::Received,
            Err(e) => {
                error = receive_error_name(e);
                PollResult::Failed { error_type: &error }
            }
        };
        self.executor.finish(&running, &recipe.finish(outcome, elapsed));
        result.map(|messages| Received { messages, poll: running.context().clone() })
    }

    /// Runs the receive call `receive` (e.g. a loop of `BaseConsumer::poll` collecting a batch)
    /// as a `poll {topic}` span: from the call until it returned, never the handlers (a receive
    /// that returned nothing is not traced, a failed one is). Hand the
    /// result to [`process_received`](Self::process_received).
    ///
    /// ```no_run
    /// # fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, source: rdkafka::consumer::BaseConsumer) -> Result<(), rdkafka::error::KafkaError> {
    /// use std::time::Duration;
    ///
    /// let received = traced.receive(|| {
    ///     let mut batch = Vec::new();
    ///     while let Some(message) = source.poll(Duration::from_millis(100)) {
    ///         batch.push(message?.detach());
    ///     }
    ///     Ok::<_, rdkafka::error::KafkaError>(batch)
    /// })?;
    /// traced.process_received(&received, |_message| Ok::<_, rdkafka::error::KafkaError>(()))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn receive<M, E, F>(&self, receive: F) -> Result<Received<M>, E>
    where
        M: Message,
        E: Any,
        F: FnOnce() -> Result<Vec<M>, E>,
    {
        let ambient = Context::current();
        let called = StartTime::now();
        let result = receive();
        self.received(&ambient, called, result)
    }

    /// [`receive`](Self::receive) for an async receive call (e.g. `StreamConsumer::recv`).
    ///
    /// ```no_run
    /// # async fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, source: rdkafka::consumer::StreamConsumer) -> Result<(), rdkafka::error::KafkaError> {
    /// let received = traced.receive_async(|| async { source.recv().await.map(|m| vec![m.detach()]) }).await?;
    /// traced.process_received_async(&received, |_message| async { Ok::<_, rdkafka::error::KafkaError>(()) }).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn receive_async<M, E, F, Fut>(&self, receive: F) -> Result<Received<M>, E>
    where
        M: Message,
        E: Any,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<M>, E>>,
    {
        let ambient = Context::current();
        let called = StartTime::now();
        let result = receive().await;
        self.received(&ambient, called, result)
    }

    /// Processes a batch a traced receive call returned: each message gets its own process span
    /// per the batch recipe (strategy `parent`: its producer's context is the parent, the poll
    /// span a link). `handler` runs once per message, in order, in that message's handler
    /// context; the first error stops the batch and is returned (messages after it are not
    /// handled).
    ///
    /// ```no_run
    /// # fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, received: kafka_trace::rdkafka::Received<rdkafka::message::OwnedMessage>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// traced.process_received(&received, |message| {
    ///     println!("{}", message.offset());
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// # }
    /// ```
    pub fn process_received<M, F, E>(&self, received: &Received<M>, handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&M) -> Result<(), E>,
        E: std::fmt::Display,
    {
        self.process_each(&received.messages, &received.poll, handler)
    }

    /// Processes a batch received without [`receive`](Self::receive): the current span stands
    /// in for the batch's poll span (no poll span is made, as no receive call was observed).
    ///
    /// ```no_run
    /// # fn run(traced: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>, batch: Vec<rdkafka::message::OwnedMessage>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    /// traced.process_batch(&batch, |message| {
    ///     println!("{}", message.offset());
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// # }
    /// ```
    pub fn process_batch<M, F, E>(&self, messages: &[M], handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&M) -> Result<(), E>,
        E: std::fmt::Display,
    {
        self.process_each(messages, &Context::current(), handler)
    }

    /// [`process_received`](Self::process_received) with an async `handler`: one message at a
    /// time, in order, each awaited inside its own process span with that message's handler
    /// context current across every `.await` of the handler. The first error stops the batch
    /// and is returned (messages after it are not handled).
    ///
    /// ```no_run
    /// # async fn run(consumer: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>,
    /// #              source: rdkafka::consumer::BaseConsumer) -> Result<(), rdkafka::error::KafkaError> {
    /// use std::time::Duration;
    /// use rdkafka::Message;
    ///
    /// let received = consumer.receive(|| {
    ///     let mut batch = Vec::new();
    ///     while let Some(message) = source.poll(Duration::from_millis(100)) {
    ///         batch.push(message?.detach());
    ///     }
    ///     Ok::<_, rdkafka::error::KafkaError>(batch)
    /// })?;
    /// consumer
    ///     .process_received_async(&received, |message| async move {
    ///         // Runs with this message's process span current, across awaits.
    ///         tokio::time::sleep(Duration::from_millis(1)).await;
    ///         println!("{:?}", message.payload());
    ///         Ok::<_, rdkafka::error::KafkaError>(())
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn process_received_async<'a, M, F, Fut, E>(&self, received: &'a Received<M>, handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&'a M) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        self.process_each_async(&received.messages, &received.poll, handler).await
    }

    /// [`process_batch`](Self::process_batch) with an async `handler` (see
    /// [`process_received_async`](Self::process_received_async)): the current span stands in
    /// for the batch's poll span.
    ///
    /// ```no_run
    /// # async fn run(consumer: kafka_trace::rdkafka::TracedConsumer<opentelemetry::global::BoxedTracer>,
    /// #              batch: Vec<rdkafka::message::OwnedMessage>) -> Result<(), std::io::Error> {
    /// use rdkafka::Message;
    ///
    /// consumer
    ///     .process_batch_async(&batch, |message| async move {
    ///         println!("offset {}", message.offset());
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn process_batch_async<'a, M, F, Fut, E>(&self, messages: &'a [M], handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&'a M) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        self.process_each_async(messages, &Context::current(), handler).await
    }

    async fn process_each_async<'a, M, F, Fut, E>(&self, messages: &'a [M], poll: &Context, mut handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&'a M) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        for message in messages {
            let ambient = Context::current();
            let result = match self.start(message, &ambient, Some(poll)) {
                None => handler(message).await,
                Some((recipe, running)) => {
                    let result = handler(message).with_context(running.context().clone()).await;
                    self.finish(&recipe, &running, &result);
                    result
                }
            };
            result?;
        }
        Ok(())
    }

    fn process_each<M, F, E>(&self, messages: &[M], poll: &Context, mut handler: F) -> Result<(), E>
    where
        M: Message,
        M::Headers: Headers,
        F: FnMut(&M) -> Result<(), E>,
        E: std::fmt::Display,
    {
        for message in messages {
            let ambient = Context::current();
            let result = match self.start(message, &ambient, Some(poll)) {
                None => handler(message),
                Some((recipe, running)) => {
                    let result = {
                        let _guard = running.context().clone().attach();
                        handler(message)
                    };
                    self.finish(&recipe, &running, &result);
                    result
                }
            };
            result?;
        }
        Ok(())
    }
}
