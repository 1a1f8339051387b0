//! Spans: a tracer exporting over OTLP (the core's `otlp::Telemetry`), `send {topic}` and
//! `process {topic}` spans whose names, kinds, attributes, parents and links come from the core's
//! span model (`kafka_trace::span`) through its OpenTelemetry bridge (`kafka_trace::otel`).

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_trace::otel::{add_baggage, end_span, remote_span_context, start_span, trace_context_of, KafkaMetrics, SpanSources};
use kafka_trace::otlp::{OtlpConfig, SpanStats, Telemetry};
use kafka_trace::span::{self, ClientInfo, MessageInfo, Options, Outcome, SpanKind, SpanSpec, Strategy};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::Context;
use opentelemetry_sdk::trace::SdkTracer;

use crate::codec::{inject_through, kt_context, kt_header, kt_header_setter, CHeaders, Context as KtContext};
use crate::{bytes, ffi_boundary, handle_free, handle_mut, handle_new, handle_ref, kt_result, text, try_ffi, write_out, Opaque};

/// What happened to the spans a tracer ended (see kt_tracer_stats()).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct kt_span_stats {
    /// Sampled spans that ended.
    pub ended: u64,
    /// Spans the OTLP receiver accepted.
    pub exported: u64,
    /// Spans sent that the receiver did not accept (unreachable, timed out, refused).
    pub export_failed: u64,
    /// Spans never sent: dropped from the full queue (the queue is bounded and never blocks the
    /// caller), or still queued (0 after kt_tracer_shutdown()).
    pub dropped: u64,
}

impl From<SpanStats> for kt_span_stats {
    fn from(s: SpanStats) -> Self {
        Self { ended: s.ended, exported: s.exported, export_failed: s.export_failed, dropped: s.dropped }
    }
}

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

/// Settings of kt_tracer_new(); everything not set comes from the `OTEL_*` environment
/// (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT,
/// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_RESOURCE_ATTRIBUTES, ...). A plain value: the tracer copies what
/// it needs, so the config may be freed right after kt_tracer_new().
pub struct kt_tracer_config {
    _private: [u8; 0],
}

pub(crate) struct Config {
    otlp: OtlpConfig,
    client: ClientInfo,
    options: Options,
    metrics: bool,
}

impl Opaque for kt_tracer_config {
    type Inner = Config;
    const MAGIC: u64 = 0x6b74_5f63_6667_0003;
}

/// Exports spans (and the messaging metrics) over OTLP/HTTP from a bounded queue on a background
/// thread; starting and ending spans never blocks on the network.
pub struct kt_tracer {
    _private: [u8; 0],
}

pub(crate) struct Tracer {
    telemetry: Telemetry,
    tracer: SdkTracer,
    client: ClientInfo,
    options: Options,
    metrics: Option<KafkaMetrics>,
    shut_down: AtomicBool,
}

impl Opaque for kt_tracer {
    type Inner = Tracer;
    const MAGIC: u64 = 0x6b74_5f74_7263_0004;
}

/// A `send {topic}` (PRODUCER) or `process {topic}` (CONSUMER) span. Ended once by a
/// kt_span_end*() function, freed by kt_span_free(). It keeps what it needs of its tracer, but a
/// span ended after kt_tracer_shutdown() is not exported.
pub struct kt_span {
    _private: [u8; 0],
}

pub(crate) struct Span {
    cx: Context,
    spec: SpanSpec,
    started: Instant,
    metrics: Option<KafkaMetrics>,
    ended: bool,
}

impl Opaque for kt_span {
    type Inner = Span;
    const MAGIC: u64 = 0x6b74_5f73_706e_0005;
}

/// A new configuration with nothing set (all from the environment; message keys recorded; parent
/// strategy `parent`; metrics on). Free with kt_tracer_config_free().
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn kt_tracer_config_new() -> *mut kt_tracer_config {
    ffi_boundary!(std::ptr::null_mut(), {
        handle_new::<kt_tracer_config>(Config {
            otlp: OtlpConfig::default(),
            client: ClientInfo::default(),
            options: Options::default(),
            metrics: true,
        })
    })
}

/// Frees a configuration (NULL is ignored).
///
/// Thread-safety: no other thread may be using the handle.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_free(config: *mut kt_tracer_config) {
    // SAFETY: NULL or a live config from kt_tracer_config_new().
    ffi_boundary!((), { unsafe { handle_free(config) } })
}

/// Applies `apply` to the config with the UTF-8 text `value`.
///
/// # Safety
/// `config` is NULL or live; `value` is valid for `len` bytes.
unsafe fn set_text(config: *mut kt_tracer_config, value: *const c_char, len: usize, apply: impl FnOnce(&mut Config, &str) -> kt_result) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: as documented above.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        let value = try_ffi!(unsafe { text(value, len) });
        apply(cfg, value)
    })
}

/// Sets `service.name` (UTF-8, `len` bytes). Default: OTEL_SERVICE_NAME.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_service_name(config: *mut kt_tracer_config, name: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, name, len, |c, v| {
            c.otlp.service_name = Some(v.to_owned());
            kt_result::Ok
        })
    }
}

/// Sets the OTLP/HTTP base endpoint, e.g. `http://127.0.0.1:4318` (`/v1/traces` and `/v1/metrics`
/// are appended). Default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_endpoint(config: *mut kt_tracer_config, endpoint: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, endpoint, len, |c, v| {
            c.otlp.endpoint = Some(v.to_owned());
            kt_result::Ok
        })
    }
}

/// Sets the Kafka `bootstrap.servers` list; its first entry gives `server.address`/`server.port`.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_bootstrap_servers(config: *mut kt_tracer_config, servers: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, servers, len, |c, v| {
            c.client = std::mem::take(&mut c.client).with_bootstrap(v);
            kt_result::Ok
        })
    }
}

/// Sets `client.id` (recorded as `messaging.client.id`).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_client_id(config: *mut kt_tracer_config, client_id: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, client_id, len, |c, v| {
            c.client.client_id = Some(v.to_owned());
            kt_result::Ok
        })
    }
}

/// Sets the consumer `group.id` (recorded as `messaging.consumer.group.name` on process spans).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_consumer_group(config: *mut kt_tracer_config, group: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, group, len, |c, v| {
            c.client.consumer_group = Some(v.to_owned());
            kt_result::Ok
        })
    }
}

/// Sets how a process span relates to the producer's context: `parent` (default: the producer's
/// span is the parent, one trace) or `link` (semconv-strict: a link). KT_RESULT_INVALID_ARGUMENT
/// for any other name.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_strategy(config: *mut kt_tracer_config, name: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, name, len, |c, v| match Strategy::parse(v) {
            Some(s) => {
                c.options.strategy = s;
                kt_result::Ok
            }
            None => kt_result::InvalidArgument,
        })
    }
}

/// Whether UTF-8 message keys are recorded as `messaging.kafka.message.key` (default true).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_record_message_key(config: *mut kt_tracer_config, record: bool) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: NULL or a live config.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        cfg.options.record_message_key = record;
        kt_result::Ok
    })
}

/// Whether the messaging metrics are recorded and exported (default true).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_metrics(config: *mut kt_tracer_config, enabled: bool) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: NULL or a live config.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        cfg.metrics = enabled;
        kt_result::Ok
    })
}

/// Sets the longest wait for one export request (milliseconds, > 0) and the span queue bound
/// (> 0); 0 keeps the environment's value (OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_MAX_QUEUE_SIZE).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_export_limits(config: *mut kt_tracer_config, timeout_ms: u64, max_queue_size: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: NULL or a live config.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        cfg.otlp.export_timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        cfg.otlp.max_queue_size = (max_queue_size > 0).then_some(max_queue_size);
        kt_result::Ok
    })
}

/// Creates a tracer from `config` (NULL: the `OTEL_*` environment alone) into `*out`. Nothing is
/// contacted here: an unreachable receiver shows up later as failed exports (kt_tracer_stats()),
/// never as an error or a wait. KT_RESULT_TELEMETRY_SETUP when the exporter cannot be built
/// (e.g. a malformed endpoint). Free with kt_tracer_free().
///
/// Thread-safety: may be called from any thread; the config must not be modified meanwhile.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_new(config: *const kt_tracer_config, out: *mut *mut kt_tracer) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let default;
        let cfg = if config.is_null() {
            default = Config { otlp: OtlpConfig::default(), client: ClientInfo::default(), options: Options::default(), metrics: true };
            &default
        } else {
            // SAFETY: a live config.
            try_ffi!(unsafe { handle_ref(config) })
        };
        let telemetry = match Telemetry::new(&cfg.otlp) {
            Ok(t) => t,
            Err(_) => return kt_result::TelemetrySetup,
        };
        let tracer = telemetry.tracer();
        let metrics = cfg.metrics.then(|| KafkaMetrics::new(&telemetry.meter_provider.meter(env!("CARGO_PKG_NAME"))));
        let handle = handle_new::<kt_tracer>(Tracer {
            telemetry,
            tracer,
            client: cfg.client.clone(),
            options: cfg.options.clone(),
            metrics,
            shut_down: AtomicBool::new(false),
        });
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle) };
        kt_result::Ok
    })
}

/// The tracer, refusing one that was shut down.
///
/// # Safety
/// `tracer` is NULL or live.
unsafe fn live_tracer<'a>(tracer: *const kt_tracer) -> Result<&'a Tracer, kt_result> {
    // SAFETY: as documented above.
    let t = unsafe { handle_ref(tracer) }?;
    if t.shut_down.load(Ordering::Acquire) {
        return Err(kt_result::ShutDown);
    }
    Ok(t)
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
    let key = if m.key.is_null() { None } else { Some(unsafe { bytes(m.key, m.key_len) }?) };
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

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The OpenTelemetry context of an optional parent span or context.
///
/// # Safety
/// Both are NULL or live.
unsafe fn parent_of(span: *const kt_span, context: *const kt_context) -> Result<Context, kt_result> {
    if !span.is_null() && !context.is_null() {
        return Err(kt_result::InvalidArgument);
    }
    if !span.is_null() {
        // SAFETY: as documented above.
        return Ok(unsafe { handle_ref(span) }?.cx.clone());
    }
    if !context.is_null() {
        // SAFETY: as documented above.
        let ctx: &KtContext = unsafe { handle_ref(context) }?;
        let base = add_baggage(Context::new(), &ctx.inner.baggage);
        return Ok(match ctx.valid() {
            Ok(trace) => base.with_remote_span_context(remote_span_context(&trace.traceparent, &trace.tracestate)),
            Err(_) => base,
        });
    }
    Ok(Context::new())
}

fn finish_start(tracer: &Tracer, spec: SpanSpec, sources: &SpanSources<'_>, out: *mut *mut kt_span) -> kt_result {
    let cx = start_span(&tracer.tracer, &spec, sources);
    let handle = handle_new::<kt_span>(Span { cx, spec, started: Instant::now(), metrics: tracer.metrics.clone(), ended: false });
    // SAFETY: `out` was checked non-null by the caller and is writable by contract.
    unsafe { write_out(out, handle) };
    kt_result::Ok
}

/// Starts the `send {topic}` PRODUCER span for `*message` (topic, partition, key; offset and
/// headers are ignored). Its parent is `parent_span` (e.g. the process span of the message being
/// forwarded) or `parent_context` (e.g. a context extracted from an HTTP request), at most one
/// of them non-NULL (else KT_RESULT_INVALID_ARGUMENT); with neither, the span starts a new trace.
/// Inject it into the outgoing message with kt_span_inject(), end it with kt_span_end_send() or
/// kt_span_end_error() from the delivery report, then kt_span_free(). KT_RESULT_SHUT_DOWN after
/// kt_tracer_shutdown().
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
        let (info, _) = try_ffi!(unsafe { message_info(message) });
        let ambient = try_ffi!(unsafe { parent_of(parent_span, parent_context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let spec = span::send_span(&info, &t.client, &t.options);
        finish_start(t, spec, &SpanSources { ambient: Some(&ambient), ..SpanSources::default() }, out)
    })
}

/// Starts the `process {topic}` CONSUMER span for a consumed `*message` (topic, partition, offset,
/// key, timestamp and headers; the consumer group comes from the tracer config). With the
/// default `parent` strategy the producer's context read from the headers is the parent and
/// `ambient` (an enclosing span of yours, may be NULL) a link; without a usable context in the
/// headers, `ambient` is the parent (or a new trace starts). The message's baggage is carried on.
/// Make it the parent of sends made while handling the message (kt_tracer_start_send()); end it
/// with kt_span_end() or kt_span_end_error(), then kt_span_free().
///
/// Thread-safety: the tracer may be used by many threads at once; each span by one at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_start_process(
    tracer: *const kt_tracer,
    message: *const kt_message,
    ambient: *const kt_span,
    out: *mut *mut kt_span,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes live handles and a valid message.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        let (info, headers) = try_ffi!(unsafe { message_info(message) });
        let ambient = try_ffi!(unsafe { parent_of(ambient, std::ptr::null()) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let parts = kafka_trace::carrier::extract_parts(&headers);
        let baggage = parts.baggage.clone();
        let remote = parts.into_context().map(|c| remote_span_context(&c.traceparent, &c.tracestate));
        let ambient_valid = ambient.span().span_context().is_valid();
        let spec = span::process_span(&info, &t.client, &t.options, remote.is_some(), ambient_valid, now_ms());
        let ambient = add_baggage(ambient, &baggage);
        finish_start(t, spec, &SpanSources { ambient: Some(&ambient), remote, poll: None }, out)
    })
}

/// Calls `setter` for `traceparent`, `tracestate` and `baggage` with this span's context, exactly
/// like kt_context_inject() (see kt_header_setter). Works before and after the span ended.
///
/// Thread-safety: read-only on the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_inject(span: *const kt_span, setter: kt_header_setter, userdata: *mut c_void) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live span.
        let s = try_ffi!(unsafe { handle_ref(span) });
        let Some(setter) = setter else { return kt_result::NullArgument };
        let Some(trace) = trace_context_of(&s.cx) else { return kt_result::Missing };
        // SAFETY: the callback contract of kt_header_setter.
        unsafe { inject_through(&trace, setter, userdata) }
    })
}

/// Copies this span's context (trace id, its span id, flags, tracestate, baggage) into `context`,
/// e.g. for kt_context_inject_headers() or to read ids with kt_context_traceparent().
///
/// Thread-safety: read-only on the span; modifies `context`.
#[no_mangle]
pub unsafe extern "C" fn kt_span_context(span: *const kt_span, context: *mut kt_context) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: live handles.
        let s = try_ffi!(unsafe { handle_ref(span) });
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        let Some(trace) = trace_context_of(&s.cx) else { return kt_result::Missing };
        ctx.inner = trace;
        ctx.parent = Ok(());
        ctx.tracestate = Ok(());
        kt_result::Ok
    })
}

/// Ends the span with `outcome`, once.
///
/// # Safety
/// `span` is NULL or live.
unsafe fn end(span: *mut kt_span, outcome: impl FnOnce() -> Outcome) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: as documented above.
        let s = try_ffi!(unsafe { handle_mut(span) });
        if s.ended {
            return kt_result::AlreadyEnded;
        }
        s.ended = true;
        let outcome = outcome();
        end_span(&s.cx, &outcome);
        if let Some(metrics) = &s.metrics {
            match s.spec.kind {
                SpanKind::Producer => metrics.record_send(&s.spec, &outcome, s.started.elapsed()),
                SpanKind::Consumer => metrics.record_process(&s.spec, &outcome, s.started.elapsed()),
                SpanKind::Client => metrics.record_poll(&s.spec, s.started.elapsed()),
            }
        }
        kt_result::Ok
    })
}

/// Ends a send span on the broker's acknowledgement: `partition` and `offset` (-1 when unknown)
/// are recorded. KT_RESULT_ALREADY_ENDED when it was already ended (nothing recorded).
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_send(span: *mut kt_span, partition: i32, offset: i64) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { end(span, || span::send_outcome(Ok((partition, offset)))) }
}

/// Ends a span as failed: `error_type` (`len` bytes of UTF-8, e.g. librdkafka's error name from
/// rd_kafka_err2name(); empty gives `_OTHER`) becomes `error.type` and the span status Error.
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end_error(span: *mut kt_span, error_type: *const c_char, len: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let error_type = try_ffi!(unsafe { text(error_type, len) });
        // SAFETY: forwarded contract.
        unsafe { end(span, || span::error_outcome(error_type)) }
    })
}

/// Ends a span successfully (a process span whose handler succeeded).
///
/// Thread-safety: modifies the span; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_span_end(span: *mut kt_span) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { end(span, || Outcome { attributes: Vec::new(), error: None }) }
}

/// Frees a span, ending it successfully first if it was not ended. NULL is ignored.
///
/// Thread-safety: no other thread may be using the span.
#[no_mangle]
pub unsafe extern "C" fn kt_span_free(span: *mut kt_span) {
    ffi_boundary!((), {
        // SAFETY: NULL or a live span.
        if unsafe { handle_ref(span) }.is_ok_and(|s| !s.ended) {
            // SAFETY: as above.
            let _ = unsafe { kt_span_end(span) };
        }
        // SAFETY: as above.
        unsafe { handle_free(span) }
    })
}

/// Exports everything queued so far and waits for it (blocks; for tests and before exit).
/// KT_RESULT_EXPORT_FAILED when the receiver could not be reached or refused.
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_flush(tracer: *const kt_tracer) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        let spans = t.telemetry.tracer_provider.force_flush();
        let metrics = t.telemetry.meter_provider.force_flush();
        if spans.is_ok() && metrics.is_ok() {
            kt_result::Ok
        } else {
            kt_result::ExportFailed
        }
    })
}

/// The span counters so far into `*out`.
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_stats(tracer: *const kt_tracer, out: *mut kt_span_stats) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        // SAFETY: non-null, writable.
        unsafe { write_out(out, t.telemetry.span_stats().into()) };
        kt_result::Ok
    })
}

/// Exports what is queued (waiting at most `timeout_ms` per signal) and stops exporting; the final
/// counts go to `*stats` (may be NULL). Later kt_tracer_start_*() calls return KT_RESULT_SHUT_DOWN;
/// a second shutdown returns KT_RESULT_SHUT_DOWN and does nothing. Still free the tracer.
///
/// Thread-safety: may be called while other threads use the tracer (their later calls fail).
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_shutdown(tracer: *const kt_tracer, timeout_ms: u64, stats: *mut kt_span_stats) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        if t.shut_down.swap(true, Ordering::AcqRel) {
            return kt_result::ShutDown;
        }
        let final_stats = t.telemetry.shutdown(Duration::from_millis(timeout_ms));
        if !stats.is_null() {
            // SAFETY: non-null, writable.
            unsafe { write_out(stats, final_stats.into()) };
        }
        kt_result::Ok
    })
}

/// Frees a tracer, shutting it down first (up to 5 s) if kt_tracer_shutdown() was not called.
/// NULL is ignored.
///
/// Thread-safety: no other thread may be using the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_free(tracer: *mut kt_tracer) {
    ffi_boundary!((), {
        // SAFETY: NULL or a live tracer.
        if let Ok(t) = unsafe { handle_ref(tracer) } {
            if !t.shut_down.swap(true, Ordering::AcqRel) {
                t.telemetry.shutdown(Duration::from_secs(5));
            }
        }
        // SAFETY: as above.
        unsafe { handle_free(tracer) }
    })
}
