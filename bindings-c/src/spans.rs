//! Spans: `send {topic}`, `process {topic}` (one message, alone or inside a batch) and
//! `poll {topic}` spans executed from the core's recipes (`kafka_trace_core::lifecycle`): the core says
//! the name, kind, attributes, parent, links, the handler's context, the end and the metric
//! records; this file reads the C arguments and hands them to the core's executor
//! (`kafka_trace_core::otel::Executor`) on the tracer's SDK.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use kafka_trace_core::lifecycle::{Finish, HandlerResult, KeptRemote, PollResult, ProcessRecipe, SendRecipe, SendResult};
use kafka_trace_core::otel::{add_baggage, remote_span_context, trace_context_of, Kept, MessageContext, Running, StartTime, Started};
use kafka_trace_core::span::MessageInfo;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::Context;

use crate::codec::{inject_through, kt_context, kt_header, kt_header_setter, kt_str, CHeaders, Context as KtContext};
use crate::config::topic_strs;
use crate::tracer::{kt_tracer, live_tracer, Shared};
use crate::{bytes, ffi_boundary, handle_free, handle_mut, handle_new, handle_ref, kt_result, text, try_ffi, write_out, Opaque};

/// A Kafka message as the span functions see it; fields map to librdkafka's `rd_kafka_message_t`.
/// Zero-initialize it (`kt_message m = {0};` in C, `kt_message m{};` in C++), then set `partition`
/// and `offset` to -1 when unknown. Nothing is kept after the call.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct kt_message {
    /// Topic name (UTF-8, `topic_len` bytes, need not be NUL-terminated). Required.
    pub topic: *const c_char,
    /// Length of `topic`.
    pub topic_len: usize,
    /// Partition, or -1 when unknown (RD_KAFKA_PARTITION_UA).
    pub partition: i32,
    /// Offset, or -1 when unknown.
    pub offset: i64,
    /// Message key, or NULL for none (recorded only when it is UTF-8).
    pub key: *const u8,
    /// Length of `key`.
    pub key_len: usize,
    /// Payload pointer, only tested for NULL (a tombstone); the payload is never read.
    pub payload: *const c_void,
    /// Payload length (recorded only if enabled in the core's options).
    pub payload_len: usize,
    /// Record timestamp in milliseconds since the Unix epoch, or <= 0 when unknown.
    pub timestamp_ms: i64,
    /// The message's headers (kt_tracer_start_process() reads the trace context from them);
    /// NULL with 0 for none.
    pub headers: *const kt_header,
    /// Number of headers.
    pub header_count: usize,
}

/// A span of a tracer: `send {topic}` (PRODUCER), `process {topic}` (CONSUMER) or
/// `poll {topic}` (CLIENT). Ended once by a kt_span_end*() function, freed by kt_span_free(). A
/// span of a topic the tracer does not trace (include/exclude topics) is a valid handle that
/// records nothing (kt_span_is_traced()). It keeps what it needs of its tracer, but a span ended
/// after kt_tracer_shutdown() is not exported.
pub struct kt_span {
    _private: [u8; 0],
}

enum State {
    Send(SendRecipe),
    Process(ProcessRecipe),
    /// Started from the start cache, the span does not record: the tracer's metrics come from
    /// the recipe kept for the span's situation.
    KeptSend(Kept<SendRecipe>),
    KeptProcess(Kept<ProcessRecipe>),
    /// Started from the start cache without a recipe: the span does not record and the tracer
    /// records no metrics; ending it only ends it.
    Unrecorded { send: bool },
    /// Started by kt_tracer_start_poll(): the SDK span is made when the receive call returned
    /// (its topics and message count name it), with the start time of this call.
    PendingPoll,
    /// An ended poll span.
    Poll,
    /// A filtered topic: no span, no header, no metric.
    Untraced { send: bool },
}

pub(crate) struct Span {
    /// The span's context (the handler's context for a process span, built by the core's
    /// executor); for an untraced span or a pending poll, the context it was started in.
    cx: Context,
    /// The running SDK span, for a traced span.
    running: Option<Running>,
    state: State,
    shared: Arc<Shared>,
    /// When the caller started the operation (a poll's span starts there).
    start: StartTime,
    ended: bool,
}

impl Opaque for kt_span {
    type Inner = Span;
    const MAGIC: u64 = 0x6b74_5f73_706e_0005;
}

/// Reads the C message.
///
/// # Safety
/// `message` is NULL or valid, with valid pointers.
unsafe fn message_info<'a>(message: *const kt_message) -> Result<(MessageInfo<'a>, CHeaders<'a>), kt_result> {
    if message.is_null() {
        return Err(kt_result::NullArgument);
    }
    // SAFETY: as documented above.
    let m = unsafe { &*message };
    // SAFETY: as documented above.
    let topic = unsafe { text(m.topic, m.topic_len) }?;
    // SAFETY: as documented above.
    let key = if m.key.is_null() { None } else { Some(unsafe { bytes(m.key, m.key_len) }?) };
    // SAFETY: as documented above.
    let headers = unsafe { CHeaders::new(m.headers, m.header_count) }?;
    let info = MessageInfo {
        topic,
        partition: (m.partition >= 0).then_some(m.partition),
        offset: (m.offset >= 0).then_some(m.offset),
        key,
        payload_len: (!m.payload.is_null()).then_some(m.payload_len),
        timestamp_ms: (m.timestamp_ms > 0).then_some(m.timestamp_ms),
    };
    Ok((info, headers))
}

/// The context of an optional span or context of the caller.
///
/// # Safety
/// Both are NULL or live.
unsafe fn context_of(span: *const kt_span, context: *const kt_context) -> Result<Context, kt_result> {
    if !span.is_null() && !context.is_null() {
        return Err(kt_result::InvalidArgument);
    }
    if !span.is_null() {
        // SAFETY: as documented above.
        let s = unsafe { handle_ref(span) }?;
        return Ok(s.cx.clone());
    }
    if !context.is_null() {
        // SAFETY: as documented above.
        let ctx: &KtContext = unsafe { handle_ref(context) }?;
        return Ok(otel_context(ctx));
    }
    Ok(Context::new())
}

/// The OpenTelemetry context of a `kt_context`: its baggage, and its traceparent as a remote
/// parent with the core's kept remote, so what a child propagates keeps the random flag and
/// every tracestate member.
pub(crate) fn otel_context(ctx: &KtContext) -> Context {
    let base = add_baggage(Context::new(), &ctx.inner.baggage);
    match ctx.valid() {
        Ok(trace) => base.with_remote_span_context(remote_span_context(&trace.traceparent, &trace.tracestate)).with_value(KeptRemote::of(trace)),
        Err(_) => base,
    }
}

/// The receive side of one message handed to the application at `start` (the librdkafka
/// plugin's on_consume): the core's poll recipe for one message of `topic`, in `ambient`, ended
/// at once. Nothing for a topic that is not traced.
pub(crate) fn record_receive(shared: &Arc<Shared>, topic: &str, ambient: &Context, start: StartTime) {
    let Some(recipe) = shared.lifecycle.poll(&[topic], 1) else { return };
    let finish = recipe.finish(PollResult::Received, start.elapsed());
    let running = shared.executor.start_poll(&recipe, ambient, start);
    shared.executor.finish(&running, &finish);
}

fn new_span(shared: &Arc<Shared>, cx: Context, running: Option<Running>, state: State, start: StartTime) -> *mut kt_span {
    handle_new::<kt_span>(Span { cx, running, state, shared: shared.clone(), start, ended: false })
}

/// What the librdkafka plugin (`crate::plugin`) needs of spans without going through handles:
/// the same recipes and the same executor as kt_tracer_start_send() / kt_tracer_start_process().
impl Span {
    /// The send span of `info` as a child of `ambient`; `None` for a topic that is not traced.
    pub(crate) fn start_send(shared: &Arc<Shared>, info: &MessageInfo<'_>, ambient: &Context) -> Option<Span> {
        let (running, state) = send_state(shared.executor.start_send_cached(&shared.starts, &shared.lifecycle, info, ambient)?);
        Some(Span { cx: running.context().clone(), start: running.start(), running: Some(running), state, shared: shared.clone(), ended: false })
    }

    /// The span's context (the handler's context for a process span).
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Ends a send span acknowledged at `partition`/`offset`, `latency` after its start when known.
    pub(crate) fn end_acked(&mut self, partition: i32, offset: i64, latency: Option<Duration>) -> kt_result {
        self.finish(Outcome::Acked { partition, offset, latency })
    }

    /// Ends the span as failed with `error_type`.
    pub(crate) fn end_failed(&mut self, error_type: &str) -> kt_result {
        self.finish(Outcome::Failed(error_type))
    }

    /// Ends the span successfully.
    pub(crate) fn end_ok(&mut self) -> kt_result {
        self.finish(Outcome::Success)
    }
}

thread_local! {
    /// The context kt_context_set_current() / kt_span_set_current() made current on this thread:
    /// the parent of the send spans the librdkafka plugin starts on this thread.
    static CURRENT: std::cell::RefCell<Option<Context>> = const { std::cell::RefCell::new(None) };
}

/// This thread's current context (kt_context_set_current()), if any.
pub(crate) fn current_context() -> Option<Context> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

fn set_current(cx: Option<Context>) {
    let _ = CURRENT.try_with(|c| *c.borrow_mut() = cx);
}

/// Makes `context` (copied) this thread's current context, or clears it when `context` is NULL.
/// The kafka_trace librdkafka plugin (`plugin.library.paths=libkafka_trace.so`) parents the `send`
/// span of every message produced on this thread under it (a remote context keeps its W3C Level 2
/// random flag and tracestate members); without a current context each send starts a new trace.
/// A context without a valid traceparent makes only its baggage current.
///
/// Thread-safety: affects the calling thread only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_set_current(context: *const kt_context) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if context.is_null() {
            set_current(None);
            return kt_result::Ok;
        }
        // SAFETY: a live context.
        let cx = try_ffi!(unsafe { context_of(std::ptr::null(), context) });
        set_current(Some(cx));
        kt_result::Ok
    })
}

/// Makes the context of `span` (e.g. the process span of the message being handled) this
/// thread's current context, or clears it when `span` is NULL: see kt_context_set_current(). The
/// span may be ended and freed afterwards; its context stays current until changed.
///
/// Thread-safety: affects the calling thread only; read-only on the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_set_current(span: *const kt_span) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if span.is_null() {
            set_current(None);
            return kt_result::Ok;
        }
        // SAFETY: a live span.
        let cx = try_ffi!(unsafe { context_of(span, std::ptr::null()) });
        set_current(Some(cx));
        kt_result::Ok
    })
}

/// A started span's state: its recipe, the kept one, or neither.
fn state_of<R>(started: Started<R>, recipe: fn(R) -> State, kept: fn(Kept<R>) -> State, send: bool) -> (Running, State) {
    let state = match (started.recipe, started.kept) {
        (Some(r), _) => recipe(r),
        (None, Some(k)) => kept(k),
        (None, None) => State::Unrecorded { send },
    };
    (started.running, state)
}

fn send_state(started: Started<SendRecipe>) -> (Running, State) {
    state_of(started, State::Send, State::KeptSend, true)
}

fn process_state(started: Started<ProcessRecipe>) -> (Running, State) {
    state_of(started, State::Process, State::KeptProcess, false)
}

fn traced(shared: &Arc<Shared>, (running, state): (Running, State)) -> *mut kt_span {
    let cx = running.context().clone();
    let start = running.start();
    new_span(shared, cx, Some(running), state, start)
}

/// Starts the `send {topic}` PRODUCER span for `*message` (topic, partition, key, payload; offset
/// and headers are ignored). Its parent is `parent_span` (e.g. the process span of the message
/// being forwarded) or `parent_context` (e.g. a context extracted from an HTTP request), at most
/// one of them non-NULL (else KT_RESULT_INVALID_ARGUMENT); with neither, the span starts a new
/// trace. Inject it into the outgoing message with kt_span_inject() (or kt_span_context() and
/// kt_context_inject_headers()): a send that continues a remote trace keeps its W3C Level 2
/// random flag and every tracestate member. End it from the delivery report with
/// kt_span_end_send_latency() (or kt_span_end_send(), kt_span_end_error()), then kt_span_free().
/// For a topic that is not traced, `*out` is a span that records nothing and injects nothing.
/// KT_RESULT_SHUT_DOWN after kt_tracer_shutdown().
///
/// Thread-safety: the tracer may be used by many threads at once; each span by one at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_start_send(
    tracer: *const kt_tracer,
    message: *const kt_message,
    parent_span: *const kt_span,
    parent_context: *const kt_context,
    out: *mut *mut kt_span,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes live handles and a valid message.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        // SAFETY: as above.
        let (info, _) = try_ffi!(unsafe { message_info(message) });
        // SAFETY: as above.
        let ambient = try_ffi!(unsafe { context_of(parent_span, parent_context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let shared = &t.shared;
        let handle = match shared.executor.start_send_cached(&shared.starts, &shared.lifecycle, &info, &ambient) {
            None => new_span(shared, ambient, None, State::Untraced { send: true }, StartTime::now()),
            Some(started) => traced(shared, send_state(started)),
        };
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle) };
        kt_result::Ok
    })
}

/// Starts the `process {topic}` CONSUMER span around your handler of one consumed `*message`
/// (topic, partition, offset, key, payload, timestamp and headers; the consumer group comes from
/// the tracer config). `ambient_span` or `ambient_context` (at most one non-NULL, else
/// KT_RESULT_INVALID_ARGUMENT) is the context you are in, e.g. a span of your poll loop; with the
/// default `parent` strategy the producer's context read from the headers is the parent and the
/// ambient span a link; without a usable context in the headers the ambient span is the parent
/// (or a new trace starts). The span's context (kt_span_context()) is your handler's context:
/// the ambient context's baggage with the message's baggage merged over it, and this span; make
/// the span the parent of sends made while handling the message (kt_tracer_start_send()). An
/// unsampled producer gives an unsampled (non-recording) span whose ids still propagate. End it
/// with kt_span_end() or kt_span_end_error(), then kt_span_free(). For a topic that is not
/// traced, `*out` is a span that records nothing and whose context is the ambient one.
///
/// Thread-safety: the tracer may be used by many threads at once; each span by one at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_start_process(
    tracer: *const kt_tracer,
    message: *const kt_message,
    ambient_span: *const kt_span,
    ambient_context: *const kt_context,
    out: *mut *mut kt_span,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes live handles and a valid message.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        // SAFETY: as above.
        let (info, headers) = try_ffi!(unsafe { message_info(message) });
        // SAFETY: as above.
        let ambient = try_ffi!(unsafe { context_of(ambient_span, ambient_context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let shared = &t.shared;
        let message = MessageContext::from_headers(Some(&headers));
        let handle = match shared.executor.start_process_cached(&shared.starts, &shared.lifecycle, &info, &message, &ambient, None) {
            None => new_span(shared, ambient, None, State::Untraced { send: false }, StartTime::now()),
            Some(started) => traced(shared, process_state(started)),
        };
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle) };
        kt_result::Ok
    })
}

/// Starts the `process {topic}` CONSUMER span of one message of a batch your batch handler
/// processes, e.g. each message rd_kafka_consume_batch_queue() returned. `poll_span` is the poll
/// span of that receive call (kt_tracer_start_poll(), ended; may be NULL): with the default
/// `parent` strategy the message's producer context is the parent and the poll span a link, a
/// message without a usable context hangs under the poll span; strategy `link` reverses them.
/// `ambient_context` (may be NULL) is the context your batch handler runs in; the span's context
/// (kt_span_context()) keeps its baggage with the message's baggage merged over it. End and free
/// as kt_tracer_start_process().
///
/// Thread-safety: the tracer may be used by many threads at once; each span by one at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_start_batch_process(
    tracer: *const kt_tracer,
    message: *const kt_message,
    poll_span: *const kt_span,
    ambient_context: *const kt_context,
    out: *mut *mut kt_span,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes live handles and a valid message.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        // SAFETY: as above.
        let (info, headers) = try_ffi!(unsafe { message_info(message) });
        // SAFETY: as above.
        let ambient = try_ffi!(unsafe { context_of(std::ptr::null(), ambient_context) });
        let poll = if poll_span.is_null() {
            None
        } else {
            // SAFETY: as above.
            let p: &Span = try_ffi!(unsafe { handle_ref(poll_span) });
            p.running.as_ref().map(Running::context)
        };
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let shared = &t.shared;
        let message = MessageContext::from_headers(Some(&headers));
        let handle = match shared.executor.start_process_cached(&shared.starts, &shared.lifecycle, &info, &message, &ambient, poll) {
            None => new_span(shared, ambient, None, State::Untraced { send: false }, StartTime::now()),
            Some(started) => traced(shared, process_state(started)),
        };
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle) };
        kt_result::Ok
    })
}

/// Starts timing a receive call: call it right before rd_kafka_consumer_poll(),
/// rd_kafka_consume_batch_queue() or the like, and end it right after with kt_span_end_poll()
/// (the topics and the number of messages the call returned name the `poll {topic}` CLIENT span;
/// it never includes your handlers) or kt_span_end_poll_error(). The span's parent is
/// `parent_span` or `parent_context` (at most one non-NULL), else a new trace. A poll span freed
/// without being ended (e.g. the call returned nothing and you do not want a span for it)
/// records nothing. Pass the ended span to kt_tracer_start_batch_process(). The span's context
/// (kt_span_context()) exists once it ended.
///
/// Thread-safety: the tracer may be used by many threads at once; each span by one at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_start_poll(
    tracer: *const kt_tracer,
    parent_span: *const kt_span,
    parent_context: *const kt_context,
    out: *mut *mut kt_span,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        let start = StartTime::now();
        // SAFETY: the caller passes live handles.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        // SAFETY: as above.
        let ambient = try_ffi!(unsafe { context_of(parent_span, parent_context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let handle = new_span(&t.shared, ambient, None, State::PendingPoll, start);
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle) };
        kt_result::Ok
    })
}

/// Whether the span records anything: false for a span of a topic the tracer does not trace
/// (include/exclude topics) and for a poll span whose topics were all filtered out. NULL or an
/// invalid handle gives false.
///
/// Thread-safety: read-only on the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_is_traced(span: *const kt_span) -> bool {
    ffi_boundary!(false, {
        // SAFETY: NULL or a live span.
        match unsafe { handle_ref(span) } {
            Ok(s) => !matches!(s.state, State::Untraced { .. }),
            Err(_) => false,
        }
    })
}

/// Calls `setter` for `traceparent`, `tracestate` and `baggage` with what this span propagates,
/// exactly like kt_context_inject() (see kt_header_setter). Works before and after the span
/// ended. A send span of a topic that is not traced calls nothing (the headers stay as they are).
///
/// Thread-safety: read-only on the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_inject(span: *const kt_span, setter: kt_header_setter, userdata: *mut c_void) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live span.
        let s = try_ffi!(unsafe { handle_ref(span) });
        let Some(setter) = setter else { return kt_result::NullArgument };
        if matches!(s.state, State::Untraced { send: true }) {
            return kt_result::Ok;
        }
        let Some(trace) = trace_context_of(&s.cx) else { return kt_result::Missing };
        // SAFETY: the callback contract of kt_header_setter.
        unsafe { inject_through(&trace, setter, userdata) }
    })
}

/// Copies what this span propagates into `context`: its trace id, its span id, its flags, the
/// tracestate and the baggage, e.g. for kt_context_inject_headers() or to read ids with
/// kt_context_traceparent(). For a process span this is the handler's context (the ambient
/// baggage with the message's merged over it); for a span that continues a remote trace it keeps
/// the W3C Level 2 random flag and every tracestate member that trace carried.
/// KT_RESULT_NOT_TRACED for a send span of a topic that is not traced. KT_RESULT_MISSING when
/// there is no span (a filtered process span without an ambient span): like kt_context_extract()
/// without a traceparent, `context` then holds the baggage alone.
///
/// Thread-safety: read-only on the span; modifies `context`.
#[no_mangle]
pub unsafe extern "C" fn kt_span_context(span: *const kt_span, context: *mut kt_context) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: live handles.
        let s = try_ffi!(unsafe { handle_ref(span) });
        // SAFETY: as above.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        if matches!(s.state, State::Untraced { send: true }) {
            return kt_result::NotTraced;
        }
        let Some(trace) = trace_context_of(&s.cx) else {
            // No span: like kt_context_extract() without a traceparent, the baggage alone.
            let mut baggage = kafka_trace_core::codec::baggage::Baggage::default();
            for (key, (value, _)) in s.cx.baggage().iter() {
                let _ = baggage.insert(key.as_str(), value.as_str());
            }
            *ctx = KtContext::default();
            ctx.inner.baggage = baggage;
            return kt_result::Missing;
        };
        ctx.inner = trace;
        ctx.parent = Ok(());
        ctx.tracestate = Ok(());
        kt_result::Ok
    })
}

/// How the caller ended a span.
enum Outcome<'a> {
    /// kt_span_end(): success without details.
    Success,
    /// kt_span_end_send*().
    Acked { partition: i32, offset: i64, latency: Option<Duration> },
    /// kt_span_end_error().
    Failed(&'a str),
    /// kt_span_end_poll*().
    Polled { topics: Vec<&'a str>, count: usize, error: Option<&'a str> },
}

impl Span {
    fn finish(&mut self, outcome: Outcome<'_>) -> kt_result {
        if self.ended {
            return kt_result::AlreadyEnded;
        }
        // Read the clock only for a finish that is built (not for a span that is only ended).
        let start = self.start;
        let finish: Finish = match (&self.state, outcome) {
            (State::Untraced { .. }, _) => {
                self.ended = true;
                return kt_result::Ok;
            }
            (State::Unrecorded { send: true }, Outcome::Acked { .. } | Outcome::Success | Outcome::Failed(_))
            | (State::Unrecorded { send: false }, Outcome::Success | Outcome::Failed(_)) => {
                self.ended = true;
                if let Some(running) = &self.running {
                    self.shared.executor.end_unrecorded(running);
                }
                return kt_result::Ok;
            }
            (State::Send(r), Outcome::Acked { partition, offset, latency }) => r.finish(SendResult::Acked { partition, offset }, start.elapsed(), latency),
            (State::Send(r), Outcome::Success) => r.finish(SendResult::Acked { partition: -1, offset: -1 }, start.elapsed(), None),
            (State::Send(r), Outcome::Failed(e)) => r.finish(SendResult::Failed { error_type: e }, start.elapsed(), None),
            (State::Process(r), Outcome::Success) => r.finish(HandlerResult::Returned, start.elapsed()),
            (State::Process(r), Outcome::Failed(e)) => r.finish(HandlerResult::Failed { error_type: e }, start.elapsed()),
            (State::KeptSend(k), outcome @ (Outcome::Acked { .. } | Outcome::Success | Outcome::Failed(_))) => {
                let (result, latency) = match outcome {
                    Outcome::Acked { partition, offset, latency } => (SendResult::Acked { partition, offset }, latency),
                    Outcome::Failed(e) => (SendResult::Failed { error_type: e }, None),
                    _ => (SendResult::Acked { partition: -1, offset: -1 }, None),
                };
                self.ended = true;
                if let Some(running) = &self.running {
                    self.shared.executor.finish_kept_send(running, k, result, start.elapsed(), latency);
                }
                return kt_result::Ok;
            }
            (State::KeptProcess(k), outcome @ (Outcome::Success | Outcome::Failed(_))) => {
                let result = match outcome {
                    Outcome::Failed(e) => HandlerResult::Failed { error_type: e },
                    _ => HandlerResult::Returned,
                };
                self.ended = true;
                if let Some(running) = &self.running {
                    self.shared.executor.finish_kept_process(running, k, result, start.elapsed());
                }
                return kt_result::Ok;
            }
            (State::PendingPoll, Outcome::Failed(e)) => return self.end_poll(&[], 0, Some(e)),
            (State::PendingPoll, Outcome::Polled { topics, count, error }) => return self.end_poll(&topics, count, error),
            (State::Poll, _) => return kt_result::AlreadyEnded,
            _ => return kt_result::WrongSpanKind,
        };
        self.ended = true;
        if let Some(running) = &self.running {
            self.shared.executor.finish(running, &finish);
        }
        kt_result::Ok
    }

    /// The receive call returned: the poll recipe for what it returned, its span started when the
    /// call was and ended now.
    fn end_poll(&mut self, topics: &[&str], count: usize, error: Option<&str>) -> kt_result {
        self.ended = true;
        let recipe = match error {
            None => self.shared.lifecycle.poll(topics, count),
            Some(_) => self.shared.lifecycle.poll_failed(topics),
        };
        let Some(recipe) = recipe else {
            self.state = State::Untraced { send: false };
            return kt_result::Ok;
        };
        let result = error.map_or(PollResult::Received, |e| PollResult::Failed { error_type: e });
        let finish = recipe.finish(result, self.start.elapsed());
        let running = self.shared.executor.start_poll(&recipe, &self.cx, self.start);
        self.shared.executor.finish(&running, &finish);
        self.cx = running.context().clone();
        self.running = Some(running);
        self.state = State::Poll;
        kt_result::Ok
    }
}

/// Ends the span with `outcome`, once.
///
/// # Safety
/// `span` is NULL or live.
unsafe fn end(span: *mut kt_span, outcome: Outcome<'_>) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: as documented above.
        let s = try_ffi!(unsafe { handle_mut(span) });
        s.finish(outcome)
    })
}

/// Ends a send span on the broker's acknowledgement at the moment this is called: `partition` and
/// `offset` (-1 when unknown) are recorded. Prefer kt_span_end_send_latency() from a delivery
/// report. KT_RESULT_ALREADY_ENDED when it was already ended (nothing recorded),
/// KT_RESULT_WRONG_SPAN_KIND for another kind of span.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_send(span: *mut kt_span, partition: i32, offset: i64) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { end(span, Outcome::Acked { partition, offset, latency: None }) }
}

/// Ends a send span on the broker's acknowledgement as librdkafka measured it: `latency_us` is
/// `rd_kafka_message_latency(rkmessage)` (microseconds from the produce call to the
/// acknowledgement; -1 when unknown, which ends the span now). The span then ends at its start
/// plus that latency, not at the later moment the delivery report was served, and the send
/// duration metric records the same latency. `partition` and `offset` (-1 when unknown) are
/// recorded.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_send_latency(span: *mut kt_span, partition: i32, offset: i64, latency_us: i64) -> kt_result {
    let latency = u64::try_from(latency_us).ok().map(Duration::from_micros);
    // SAFETY: forwarded contract.
    unsafe { end(span, Outcome::Acked { partition, offset, latency }) }
}

/// Ends a span as failed: `error_type` (`len` bytes of UTF-8, e.g. librdkafka's error name from
/// rd_kafka_err2name() for a send, your exception class for a handler; empty gives `_OTHER`)
/// becomes `error.type` and the span status Error. On a poll span, the same as
/// kt_span_end_poll_error() with no topics.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_error(span: *mut kt_span, error_type: *const c_char, len: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let error_type = try_ffi!(unsafe { text(error_type, len) });
        // SAFETY: forwarded contract.
        unsafe { end(span, Outcome::Failed(error_type)) }
    })
}

/// Ends a span successfully: a process span whose handler returned (a send span: acknowledged
/// at an unknown partition and offset).
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end(span: *mut kt_span) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { end(span, Outcome::Success) }
}

/// Ends a poll span (kt_tracer_start_poll()) when the receive call returned `message_count`
/// messages of `topics` (`topic_count` entries: one per message or one per topic; the span is
/// named `poll {topic}` when they are all the same topic, `poll` otherwise). A receive that
/// returned nothing (`message_count` 0; an idle consumer polls in a loop) and one whose topics are
/// all filtered out record nothing (kt_span_is_traced() then gives false).
/// KT_RESULT_WRONG_SPAN_KIND for another kind of span.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_poll(span: *mut kt_span, topics: *const kt_str, topic_count: usize, message_count: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let topics = try_ffi!(unsafe { topic_strs(topics, topic_count) });
        // SAFETY: forwarded contract.
        unsafe { end(span, Outcome::Polled { topics, count: message_count, error: None }) }
    })
}

/// Ends a poll span whose receive call failed with `error_type` (`len` bytes of UTF-8, e.g.
/// rd_kafka_err2name(); empty gives `_OTHER`): `error.type` and the status Error. `topics` are
/// the topics the call was for (your subscription; may be empty), a failed receive is traced
/// unless they are all filtered out.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_poll_error(
    span: *mut kt_span,
    topics: *const kt_str,
    topic_count: usize,
    error_type: *const c_char,
    len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let topics = try_ffi!(unsafe { topic_strs(topics, topic_count) });
        // SAFETY: forwarded contract.
        let error_type = try_ffi!(unsafe { text(error_type, len) });
        // SAFETY: forwarded contract.
        unsafe { end(span, Outcome::Polled { topics, count: 0, error: Some(error_type) }) }
    })
}

/// Frees a span, ending it successfully first if it was not ended (kt_span_end()); a poll span
/// that was not ended records nothing. NULL is ignored.
///
/// Thread-safety: no other thread may be using the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_free(span: *mut kt_span) {
    ffi_boundary!((), {
        // SAFETY: NULL or a live span.
        if let Ok(s) = unsafe { handle_mut(span) } {
            if !s.ended && !matches!(s.state, State::PendingPoll) {
                let _ = s.finish(Outcome::Success);
            }
        }
        // SAFETY: as above.
        unsafe { handle_free(span) }
    })
}
