//! The executor: carries out the core's recipes ([`crate::lifecycle`]) on any OpenTelemetry
//! [`Tracer`] and [`Meter`]. It decides nothing: name, kind, attributes, parent, links, the
//! handler's context, the end attributes, status, end time and metric records all come from the
//! recipe and its [`Finish`].

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::metrics::Meter;
use opentelemetry::trace::{self as ot, Link, TraceContextExt, Tracer};
use opentelemetry::Context;

use super::convert::{key_values, to_kind, to_status};
use super::instruments::Instruments;
use super::propagator::{add_baggage, remote_span_context};
use crate::carrier::{extract_parts, Extracted, Headers};
use crate::codec::baggage::Baggage;
use crate::lifecycle::{Finish, HandlerContext, KeptRemote, PollRecipe, ProcessRecipe, RemoteInfo, SendRecipe, SpanEnd};
use crate::span::{ContextSource, SpanSpec};

/// What a consumed message's headers give the executor.
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
    pub fn of(extracted: Extracted<'_>) -> Self {
        let baggage = extracted.baggage.clone();
        match extracted.into_context() {
            Some(context) => Self {
                remote: Some(remote_span_context(&context.traceparent, &context.tracestate)),
                kept: Some(KeptRemote::of(&context)),
                baggage,
            },
            None => Self { remote: None, kept: None, baggage },
        }
    }

    /// From a message's header list (`None`: the message has no headers).
    pub fn from_headers<H: Headers + ?Sized>(headers: Option<&H>) -> Self {
        headers.map_or_else(Self::default, |h| Self::of(extract_parts(h)))
    }

    /// What the recipe needs to know.
    pub fn remote_info(&self) -> RemoteInfo {
        RemoteInfo { valid: self.remote.is_some() }
    }
}

/// The moment an operation started, on both clocks (the span's start time and the monotonic
/// clock its duration is measured on). Take it before the call a span covers, e.g. a receive
/// call whose recipe is only known once it returned.
#[derive(Copy, Clone, Debug)]
pub struct StartTime {
    at: SystemTime,
    clock: Instant,
}

impl StartTime {
    /// Now.
    pub fn now() -> Self {
        Self { at: SystemTime::now(), clock: Instant::now() }
    }

    /// The wall-clock time.
    pub fn at(&self) -> SystemTime {
        self.at
    }

    /// Time since the start, monotonic.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }
}

/// A span the executor started: finish it with [`Executor::finish`].
#[derive(Clone, Debug)]
pub struct Running {
    cx: Context,
    start: StartTime,
}

impl Running {
    /// The context with the span in it. For a send: the caller's context and the send span
    /// (inject it into the message). For a process: the handler's context, built per the
    /// recipe's [`HandlerContext`] (run the handler in it). For a poll: the caller's context and
    /// the poll span (the `poll` source of a batch's process recipes).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The span's context.
    pub fn span_context(&self) -> ot::SpanContext {
        self.cx.span().span_context().clone()
    }

    /// When the span started.
    pub fn start(&self) -> StartTime {
        self.start
    }

    /// Time since the span started, monotonic.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Carries out recipes on a tracer and, when given a meter, records their metrics.
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
    pub fn new(tracer: T, meter: Option<&Meter>) -> Self {
        Self { tracer, instruments: meter.map(Instruments::new) }
    }

    /// An executor with instruments created already (shared between clients).
    pub fn with_instruments(tracer: T, instruments: Option<Instruments>) -> Self {
        Self { tracer, instruments }
    }

    /// The tracer.
    pub fn tracer(&self) -> &T {
        &self.tracer
    }

    /// The instruments, when a meter was given.
    pub fn instruments(&self) -> Option<&Instruments> {
        self.instruments.as_ref()
    }

    /// Starts a send span as a child of `ambient`. Inject [`Running::context`] into the message
    /// ([`super::inject_context`]).
    pub fn start_send(&self, recipe: &SendRecipe, ambient: &Context) -> Running {
        let start = StartTime::now();
        let sources = Sources { ambient, remote: None, poll: None };
        let span = self.start_span(&recipe.span, &sources, start);
        Running { cx: ambient.with_span(span), start }
    }

    /// Starts the process span of one message (alone or in a batch; `poll` is the context of the
    /// batch's poll span, see [`Executor::start_poll`], or the caller's context when the client
    /// has no receive call of its own to trace) and builds the handler's context.
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
    pub fn start_poll(&self, recipe: &PollRecipe, ambient: &Context, called: StartTime) -> Running {
        let sources = Sources { ambient, remote: None, poll: None };
        let span = self.start_span(&recipe.span, &sources, called);
        Running { cx: ambient.with_span(span), start: called }
    }

    /// Ends the span of `running` per `finish` (end attributes, status, end time) and records
    /// every metric record of `finish`.
    pub fn finish(&self, running: &Running, finish: &Finish) {
        let span = running.cx.span();
        for kv in key_values(&finish.attributes) {
            span.set_attribute(kv);
        }
        if let Some(status) = to_status(&finish.status) {
            span.set_status(status);
        }
        match finish.end {
            SpanEnd::Now => span.end(),
            SpanEnd::AfterStart(d) => span.end_with_timestamp(running.start.at + d),
        }
        if let Some(instruments) = &self.instruments {
            instruments.record_all(&finish.metrics);
        }
    }

    fn start_span(&self, spec: &SpanSpec, sources: &Sources<'_>, start: StartTime) -> T::Span {
        let parent = sources.parent_context(spec.parent);
        let links: Vec<Link> = spec.links.iter().filter_map(|s| sources.span_context(*s)).map(Link::with_context).collect();
        self.tracer
            .span_builder(Cow::Owned(spec.name.clone()))
            .with_kind(to_kind(spec.kind))
            .with_attributes(key_values(&spec.attributes))
            .with_links(links)
            .with_start_time(start.at)
            .start_with_context(&self.tracer, &parent)
    }
}

/// The context a handler runs in, before the process span joins it: per `rule`, the ambient
/// context (its values and baggage), the message's baggage merged over it, and the kept remote.
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
