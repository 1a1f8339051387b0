//! The executor: carries out the core's recipes ([`crate::lifecycle`]) on any OpenTelemetry
//! [`Tracer`] and [`Meter`]. It decides nothing: name, kind, attributes, parent, links, the
//! handler's context, the end attributes, status, end time and metric records all come from the
//! recipe and its [`Finish`].

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::metrics::Meter;
use opentelemetry::trace::{self as ot, Link, Span as _, TraceContextExt, Tracer};
use opentelemetry::Context;

use super::convert::{key_value, to_kind, to_status};
use super::instruments::Instruments;
use super::propagator::{add_baggage, remote_span_context};
use crate::carrier::{extract_parts, Extracted, Headers};
use crate::codec::tracestate::TraceStateBuf;
use crate::codec::baggage::Baggage;
use crate::lifecycle::{Finish, HandlerContext, KeptRemote, PollRecipe, ProcessRecipe, RemoteInfo, SendRecipe, SpanEnd};
use crate::span::{ContextSource, SpanSpec};

/// What a consumed message's headers give the executor.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::MessageContext;
///
/// let headers: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec()),
///     ("baggage".into(), b"user=alice".to_vec()),
/// ];
/// let message = MessageContext::from_headers(Some(&headers));
/// let remote = message.remote.as_ref().unwrap();
/// assert_eq!(remote.span_id().to_string(), "00f067aa0ba902b7");
/// assert!(remote.is_remote());
/// assert_eq!(message.kept.as_ref().unwrap().flags.0, 0x03); // the random flag is kept
/// assert_eq!(message.baggage.get("user"), Some("alice"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MessageContext {
    /// The remote span context to continue or link, when the headers held a usable parent.
    pub remote: Option<ot::SpanContext>,
    /// The remote context as the core read it (random flag, every accepted tracestate member).
    pub kept: Option<KeptRemote>,
    /// The message's baggage (kept for a new root as well).
    pub baggage: Baggage,
}

impl MessageContext {
    /// From the core's extraction of the headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::extract_parts;
    /// use kafka_trace::otel::MessageContext;
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"not a traceparent".to_vec()), ("baggage".into(), b"k=v".to_vec())];
    /// let message = MessageContext::of(extract_parts(&headers));
    /// assert!(message.remote.is_none() && message.kept.is_none());
    /// assert_eq!(message.baggage.get("k"), Some("v")); // baggage survives a bad parent
    /// ```
    pub fn of(extracted: Extracted<'_>) -> Self {
        Self::read(&extracted)
    }

    /// [`of`](Self::of) through a reference: the extraction is read where it is, never moved
    /// (what [`Extracted::into_context`] would keep).
    fn read(extracted: &Extracted<'_>) -> Self {
        let baggage = extracted.baggage.clone();
        let Ok(traceparent) = extracted.parent else { return Self { remote: None, kept: None, baggage } };
        let tracestate = match &extracted.tracestate {
            Ok(state) => TraceStateBuf::from_state(state),
            Err(_) => TraceStateBuf::default(),
        };
        let remote = remote_span_context(&traceparent, &tracestate);
        // The tracestate moves into the kept remote: no copy.
        Self { remote: Some(remote), kept: Some(KeptRemote::with_state(&traceparent, tracestate)), baggage }
    }

    /// From a message's header list (`None`: the message has no headers).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::MessageContext;
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
    /// assert!(MessageContext::from_headers(Some(&headers)).remote.is_some());
    /// assert!(MessageContext::from_headers::<Vec<(String, Vec<u8>)>>(None).remote.is_none());
    /// ```
    pub fn from_headers<H: Headers + ?Sized>(headers: Option<&H>) -> Self {
        headers.map_or_else(Self::default, |h| Self::read(&extract_parts(h)))
    }

    /// What the recipe needs to know.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::RemoteInfo;
    /// use kafka_trace::otel::MessageContext;
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
    /// assert_eq!(MessageContext::from_headers(Some(&headers)).remote_info(), RemoteInfo { valid: true });
    /// assert_eq!(MessageContext::default().remote_info(), RemoteInfo { valid: false });
    /// ```
    pub fn remote_info(&self) -> RemoteInfo {
        RemoteInfo { valid: self.remote.is_some() }
    }
}

/// The moment an operation started, on both clocks (the span's start time and the monotonic
/// clock its duration is measured on). Take it before the call a span covers, e.g. a receive
/// call whose recipe is only known once it returned.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Lifecycle, PollResult};
/// use kafka_trace::otel::{Executor, StartTime};
/// use opentelemetry::Context;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let executor = Executor::new(provider.tracer("app"), None);
/// let called = StartTime::now();
/// // ... the receive call returns two messages from "orders" ...
/// let recipe = Lifecycle::default().poll(&["orders", "orders"], 2).unwrap();
/// let poll = executor.start_poll(&recipe, &Context::new(), called);
/// executor.finish(&poll, &recipe.finish(PollResult::Received, called.elapsed()));
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].start_time, called.at());
/// ```
#[derive(Copy, Clone, Debug)]
pub struct StartTime {
    at: SystemTime,
    clock: Instant,
}

impl StartTime {
    /// Now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::SystemTime;
    ///
    /// use kafka_trace::otel::StartTime;
    ///
    /// let before = SystemTime::now();
    /// let start = StartTime::now();
    /// assert!(start.at() >= before);
    /// ```
    pub fn now() -> Self {
        Self { at: SystemTime::now(), clock: Instant::now() }
    }

    /// The wall-clock time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    ///
    /// use kafka_trace::otel::StartTime;
    ///
    /// let start = StartTime::now();
    /// assert!(SystemTime::now().duration_since(start.at()).unwrap() < Duration::from_secs(60));
    /// ```
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// Time since the start, monotonic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::otel::StartTime;
    ///
    /// let start = StartTime::now();
    /// std::thread::sleep(Duration::from_millis(2));
    /// assert!(start.elapsed() >= Duration::from_millis(2));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }
}

/// A span the executor started: finish it with [`Executor::finish`].
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Lifecycle, SendResult};
/// use kafka_trace::otel::Executor;
/// use kafka_trace::span::MessageInfo;
/// use opentelemetry::Context;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let executor = Executor::new(provider.tracer("app"), None);
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().send(&message).unwrap();
/// let running = executor.start_send(&recipe, &Context::new());
/// assert!(exporter.get_finished_spans().unwrap().is_empty()); // still running
/// executor.finish(&running, &recipe.finish(SendResult::Acked { partition: 0, offset: 0 }, running.elapsed(), None));
/// assert_eq!(exporter.get_finished_spans().unwrap()[0].span_context, running.span_context());
/// ```
#[derive(Clone, Debug)]
pub struct Running {
    cx: Context,
    start: StartTime,
}

impl Running {
    pub(super) fn new(cx: Context, start: StartTime) -> Self {
        Self { cx, start }
    }

    /// The context with the span in it. For a send: the caller's context and the send span
    /// (inject it into the message). For a process: the handler's context, built per the
    /// recipe's [`HandlerContext`] (run the handler in it). For a poll: the caller's context and
    /// the poll span (the `poll` source of a batch's process recipes).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::Executor;
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::trace::TraceContextExt;
    /// use opentelemetry::{Context, KeyValue};
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let ambient = Context::new().with_value(KeyValue::new("request", "r-1"));
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let running = executor.start_send(&Lifecycle::default().send(&message).unwrap(), &ambient);
    /// // The caller's values stay, the send span is the active span.
    /// assert_eq!(running.context().get::<KeyValue>(), Some(&KeyValue::new("request", "r-1")));
    /// assert!(running.context().span().span_context().is_valid());
    /// ```
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The span's context.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::Executor;
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let running = executor.start_poll(&Lifecycle::default().poll(&["orders"], 1).unwrap(), &Context::new(), kafka_trace::otel::StartTime::now());
    /// assert!(running.span_context().is_sampled());
    /// assert!(!running.span_context().is_remote());
    /// ```
    pub fn span_context(&self) -> ot::SpanContext {
        self.cx.span().span_context().clone()
    }

    /// When the span started.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::{Executor, StartTime};
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let called = StartTime::now();
    /// let running = executor.start_poll(&Lifecycle::default().poll(&["orders"], 1).unwrap(), &Context::new(), called);
    /// assert_eq!(running.start().at(), called.at());
    /// ```
    pub fn start(&self) -> StartTime {
        self.start
    }

    /// Time since the span started, monotonic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::{Executor, StartTime};
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let running = executor.start_poll(&Lifecycle::default().poll(&["orders"], 1).unwrap(), &Context::new(), StartTime::now());
    /// std::thread::sleep(Duration::from_millis(2));
    /// assert!(running.elapsed() >= Duration::from_millis(2));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Carries out recipes on a tracer and, when given a meter, records their metrics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, PollResult, RemoteInfo, HandlerResult};
/// use kafka_trace::otel::{Executor, MessageContext, StartTime};
/// use kafka_trace::span::MessageInfo;
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry::Context;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let executor = Executor::new(provider.tracer("app"), None);
/// let lifecycle = Lifecycle::default();
///
/// // A batch: one poll span, then a process span per message, linked to the poll.
/// let called = StartTime::now();
/// let poll_recipe = lifecycle.poll(&["orders"], 1).unwrap();
/// let poll = executor.start_poll(&poll_recipe, &Context::new(), called);
/// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
/// let from_headers = MessageContext::from_headers(Some(&headers));
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = lifecycle.batch_process(&message, from_headers.remote_info(), 0).unwrap();
/// let process = executor.start_process(&recipe, &Context::new(), &from_headers, Some(poll.context()));
/// executor.finish(&process, &recipe.finish(HandlerResult::Returned, Duration::from_millis(1)));
/// executor.finish(&poll, &poll_recipe.finish(PollResult::Received, called.elapsed()));
///
/// let spans = exporter.get_finished_spans().unwrap();
/// let process_span = spans.iter().find(|s| s.name == "process orders").unwrap();
/// assert_eq!(process_span.parent_span_id.to_string(), "00f067aa0ba902b7");
/// assert_eq!(process_span.links.links[0].span_context, poll.span_context());
/// ```
#[derive(Clone, Debug)]
pub struct Executor<T> {
    tracer: T,
    instruments: Option<Instruments>,
}

impl<T> Executor<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// An executor on `tracer`, recording metrics on `meter` when given.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::Executor;
    ///
    /// let executor = Executor::new(opentelemetry::global::tracer("app"), Some(&opentelemetry::global::meter("app")));
    /// assert!(executor.instruments().is_some());
    /// assert!(Executor::new(opentelemetry::global::tracer("app"), None).instruments().is_none());
    /// ```
    pub fn new(tracer: T, meter: Option<&Meter>) -> Self {
        Self { tracer, instruments: meter.map(Instruments::new) }
    }

    /// An executor with instruments created already (shared between clients).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::{Executor, Instruments};
    ///
    /// let shared = Instruments::new(&opentelemetry::global::meter("app"));
    /// let producer = Executor::with_instruments(opentelemetry::global::tracer("producer"), Some(shared.clone()));
    /// let consumer = Executor::with_instruments(opentelemetry::global::tracer("consumer"), Some(shared));
    /// assert!(producer.instruments().is_some() && consumer.instruments().is_some());
    /// ```
    pub fn with_instruments(tracer: T, instruments: Option<Instruments>) -> Self {
        Self { tracer, instruments }
    }

    /// The tracer.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::Executor;
    /// use opentelemetry::trace::{Tracer, TraceContextExt};
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// executor.tracer().in_span("work", |cx| assert!(cx.span().span_context().is_valid()));
    /// assert_eq!(exporter.get_finished_spans().unwrap()[0].name, "work");
    /// ```
    pub fn tracer(&self) -> &T {
        &self.tracer
    }

    /// The instruments, when a meter was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{Instrument, MetricRecord};
    /// use kafka_trace::otel::Executor;
    ///
    /// let executor = Executor::new(opentelemetry::global::tracer("app"), Some(&opentelemetry::global::meter("app")));
    /// // Record a value of your own on the core's instruments.
    /// if let Some(instruments) = executor.instruments() {
    ///     instruments.record(&MetricRecord { instrument: Instrument::SentMessages, value: 1.0, attributes: vec![] });
    /// }
    /// # assert!(executor.instruments().is_some());
    /// ```
    pub fn instruments(&self) -> Option<&Instruments> {
        self.instruments.as_ref()
    }

    /// Starts a send span as a child of `ambient`. Inject [`Running::context`] into the message
    /// ([`super::inject_context`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::{inject_context, Executor};
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::trace::{TraceContextExt, Tracer};
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// let request = executor.tracer().start("handle request");
    /// let ambient = Context::new().with_span(request);
    /// let send = executor.start_send(&recipe, &ambient);
    /// let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    /// inject_context(send.context(), &mut headers);
    /// let expected = format!("00-{}-{}-01", send.span_context().trace_id(), send.span_context().span_id());
    /// assert_eq!(headers, [("traceparent".to_string(), expected.into_bytes())]);
    /// assert_eq!(send.span_context().trace_id(), ambient.span().span_context().trace_id()); // child of the request
    /// ```
    pub fn start_send(&self, recipe: &SendRecipe, ambient: &Context) -> Running {
        let start = StartTime::now();
        let sources = Sources { ambient, remote: None, poll: None };
        let span = self.start_span(&recipe.span, &sources, start);
        Running { cx: ambient.with_span(span), start }
    }

    /// Starts the process span of one message (alone or in a batch; `poll` is the context of the
    /// batch's poll span, see [`Executor::start_poll`], or the caller's context when the client
    /// has no receive call of its own to trace) and builds the handler's context.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle};
    /// use kafka_trace::otel::{Executor, MessageContext};
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::baggage::BaggageExt;
    /// use opentelemetry::trace::TraceContextExt;
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let headers: Vec<(String, Vec<u8>)> = vec![
    ///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
    ///     ("baggage".into(), b"user=alice".to_vec()),
    /// ];
    /// let from_headers = MessageContext::from_headers(Some(&headers));
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, from_headers.remote_info(), AmbientInfo::default(), 0).unwrap();
    /// let process = executor.start_process(&recipe, &Context::new(), &from_headers, None);
    /// // The handler's context: the process span (in the producer's trace) and the message's baggage.
    /// let cx = process.context();
    /// assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(cx.baggage().get("user").map(|v| v.as_str().to_string()), Some("alice".into()));
    /// ```
    pub fn start_process(
        &self,
        recipe: &ProcessRecipe,
        ambient: &Context,
        message: &MessageContext,
        poll: Option<&Context>,
    ) -> Running {
        let start = StartTime::now();
        let poll = poll.map(|p| p.span().span_context().clone());
        let sources = Sources { ambient, remote: message.remote.as_ref(), poll: poll.as_ref() };
        let span = self.start_span(&recipe.span, &sources, start);
        let cx = handler_context(recipe.handler, ambient, message).with_span(span);
        Running { cx, start }
    }

    /// Starts the poll span of a receive call that began at `called` and has returned (its recipe
    /// needs the topics and count it returned), as a child of `ambient`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{Lifecycle, PollResult};
    /// use kafka_trace::otel::{Executor, StartTime};
    /// use opentelemetry::trace::SpanKind;
    /// use opentelemetry::Context;
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let called = StartTime::now();
    /// let recipe = Lifecycle::default().poll(&["orders"], 10).unwrap();
    /// let poll = executor.start_poll(&recipe, &Context::new(), called);
    /// executor.finish(&poll, &recipe.finish(PollResult::Received, called.elapsed()));
    /// let span = &exporter.get_finished_spans().unwrap()[0];
    /// assert_eq!((span.name.as_ref(), &span.span_kind), ("poll orders", &SpanKind::Client));
    /// ```
    pub fn start_poll(&self, recipe: &PollRecipe, ambient: &Context, called: StartTime) -> Running {
        let sources = Sources { ambient, remote: None, poll: None };
        let span = self.start_span(&recipe.span, &sources, called);
        Running { cx: ambient.with_span(span), start: called }
    }

    /// Ends the span of `running` per `finish` (end attributes, status, end time) and records
    /// every metric record of `finish`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, SendResult};
    /// use kafka_trace::otel::Executor;
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::trace::Status;
    /// use opentelemetry::{Context, KeyValue};
    /// # use opentelemetry::trace::TracerProvider as _;
    /// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    /// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    ///
    /// let executor = Executor::new(provider.tracer("app"), None);
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// let send = executor.start_send(&recipe, &Context::new());
    /// let latency = Duration::from_millis(12);
    /// executor.finish(&send, &recipe.finish(SendResult::Failed { error_type: "MsgTimedOut" }, Duration::from_millis(15), Some(latency)));
    /// let span = &exporter.get_finished_spans().unwrap()[0];
    /// assert_eq!(span.status, Status::error("MsgTimedOut"));
    /// assert!(span.attributes.contains(&KeyValue::new("error.type", "MsgTimedOut")));
    /// assert_eq!(span.end_time.duration_since(span.start_time).unwrap(), latency);
    /// ```
    pub fn finish(&self, running: &Running, finish: &Finish) {
        let span = running.cx.span();
        // A span that does not record drops attributes and status: convert none.
        if span.is_recording() {
            for attribute in &finish.attributes {
                span.set_attribute(key_value(attribute));
            }
            if let Some(status) = to_status(&finish.status) {
                span.set_status(status);
            }
        }
        match finish.end {
            SpanEnd::Now => span.end(),
            SpanEnd::AfterStart(d) => span.end_with_timestamp(running.start.at + d),
        }
        if let Some(instruments) = &self.instruments {
            instruments.record_all(&finish.metrics);
        }
    }

    /// Starts the span of `spec`: the sampler sees only the sampling attributes
    /// ([`SpanSpec::sampling_attributes`]); the recorded ones are set only when the span records.
    pub(super) fn start_span(&self, spec: &SpanSpec, sources: &Sources<'_>, start: StartTime) -> T::Span {
        let mut sampling = Vec::with_capacity(spec.attributes.len());
        sampling.extend(spec.sampling_attributes().map(key_value));
        let head = SpanHead { name: Cow::Owned(spec.name.clone()), kind: to_kind(spec.kind), sampling, parent: spec.parent, links: &spec.links };
        let mut span = self.start_head(head, sources, start);
        if span.is_recording() {
            set_recorded(&mut span, spec);
        }
        span
    }

    /// Starts a span from its head: the sampler sees the sampling attributes only.
    pub(super) fn start_head(&self, head: SpanHead<'_>, sources: &Sources<'_>, start: StartTime) -> T::Span {
        let links: Vec<Link> = head.links.iter().filter_map(|s| sources.span_context(*s)).map(Link::with_context).collect();
        self.tracer
            .span_builder(head.name)
            .with_kind(head.kind)
            .with_attributes(head.sampling)
            .with_links(links)
            .with_start_time(start.at)
            .start_with_context(&self.tracer, &sources.parent_context(head.parent))
    }
}

/// The context a handler runs in, before the process span joins it: per `rule`, the ambient
/// context (its values and baggage), the message's baggage merged over it, and the kept remote.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::HandlerContext;
/// use kafka_trace::otel::{handler_context, kept_remote, MessageContext};
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::{Context, KeyValue};
///
/// let headers: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
///     ("baggage".into(), b"user=alice".to_vec()),
/// ];
/// let message = MessageContext::from_headers(Some(&headers));
/// let ambient = Context::new().with_baggage([KeyValue::new("user", "bob"), KeyValue::new("region", "eu")]);
/// let rule = HandlerContext { keep_ambient: true, message_baggage: true, keep_remote: true };
/// let cx = handler_context(rule, &ambient, &message);
/// assert_eq!(cx.baggage().get("user").map(|v| v.as_str().to_string()), Some("alice".into())); // message wins
/// assert_eq!(cx.baggage().get("region").map(|v| v.as_str().to_string()), Some("eu".into())); // ambient stays
/// assert_eq!(kept_remote(&cx).unwrap().trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
pub fn handler_context(rule: HandlerContext, ambient: &Context, message: &MessageContext) -> Context {
    let mut cx = if rule.keep_ambient { ambient.clone() } else { Context::new() };
    if rule.message_baggage {
        cx = add_baggage(cx, &message.baggage);
    }
    if rule.keep_remote {
        if let Some(kept) = &message.kept {
            cx = cx.with_value(kept.clone());
        }
    }
    cx
}

/// What a span starts with, whether taken from a recipe or from a [`super::StartCache`] entry.
pub(super) struct SpanHead<'a> {
    pub(super) name: Cow<'static, str>,
    pub(super) kind: ot::SpanKind,
    /// The sampling attributes ([`SpanSpec::sampling_attributes`]), the only ones the sampler sees.
    pub(super) sampling: Vec<opentelemetry::KeyValue>,
    pub(super) parent: ContextSource,
    pub(super) links: &'a [ContextSource],
}

/// Sets the attributes of `spec` that only a recording span takes ([`SpanSpec::recorded_attributes`]).
pub(super) fn set_recorded(span: &mut impl ot::Span, spec: &SpanSpec) {
    for attribute in spec.recorded_attributes() {
        span.set_attribute(key_value(attribute));
    }
}

/// The contexts a recipe's [`ContextSource`]s refer to.
pub(super) struct Sources<'a> {
    pub(super) ambient: &'a Context,
    pub(super) remote: Option<&'a ot::SpanContext>,
    pub(super) poll: Option<&'a ot::SpanContext>,
}

impl Sources<'_> {
    pub(super) fn span_context(&self, source: ContextSource) -> Option<ot::SpanContext> {
        let sc = match source {
            ContextSource::Ambient => Some(self.ambient.span().span_context().clone()),
            ContextSource::Remote => self.remote.cloned(),
            ContextSource::Poll => self.poll.cloned(),
        };
        sc.filter(ot::SpanContext::is_valid)
    }

    pub(super) fn parent_context(&self, source: ContextSource) -> Context {
        match source {
            ContextSource::Ambient => self.ambient.clone(),
            other => match self.span_context(other) {
                Some(sc) => self.ambient.with_remote_span_context(sc),
                // No usable parent: a root span, but keep the caller's context values.
                None => self.ambient.with_remote_span_context(ot::SpanContext::empty_context()),
            },
        }
    }
}
