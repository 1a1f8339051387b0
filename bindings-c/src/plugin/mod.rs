//! libkafka_trace as a librdkafka plugin: any librdkafka client (kcat, confluent-kafka-python/-go/
//! -dotnet, plain C programs) traces its messages when configured with
//! `plugin.library.paths=/path/to/libkafka_trace.so`, without a code change.
//!
//! librdkafka calls `conf_init()` when that property is set; the plugin then registers
//! configuration interceptors (its `kafka_trace.*` properties, configuration copies, `on_new`)
//! and, for each client created from such a configuration, message interceptors:
//! - `on_send` (the producing thread, inside `rd_kafka_produce*()`): starts the `send {topic}`
//!   span from the core's send recipe, as a child of the thread's current context
//!   (kt_context_set_current() / kt_span_set_current()), else of the context a `traceparent` the
//!   application already put on the message, else a new trace; and writes its context into the
//!   message's headers (replacing any `traceparent`/`tracestate`/`baggage` there).
//! - `on_acknowledgement` (a librdkafka broker thread, when the broker answered; or the producing
//!   thread when the partitioner failed; or at purge/destroy): ends that span with the partition
//!   and offset, or `error.type` = `rd_kafka_err2name()`, at its start plus
//!   `rd_kafka_message_latency()`.
//! - `on_consume` (the polling thread, before the application gets the message): the receive side,
//!   a `poll {topic}` span of one message from the core's poll recipe, in the thread's current
//!   context. librdkafka has no hook at the start of a receive call, so that span marks the
//!   hand-over and has no duration; the message's own context is read from its headers
//!   (`kt_rdkafka_message_context()` in kafka_trace_rdkafka.h).
//!
//! Where the send span lives between `on_send` and `on_acknowledgement`: in a per-client map
//! keyed by the span id that `on_send` wrote into the message's own `traceparent` header, which
//! `on_acknowledgement` reads back. The message identifies its span itself, so a reused message
//! address (librdkafka frees a message after its delivery report) can never end the wrong span,
//! the application's `_private` opaque is untouched, and a span whose message never came back
//! (none known: librdkafka acknowledges every message it accepted, also on purge and on
//! partitioner failure) is ended as `_OTHER` when the client is destroyed. Nothing here blocks:
//! the map's lock is held for one insert or remove, the exporter queue is bounded and drops
//! rather than waits.
//!
//! Every interceptor returns `RD_KAFKA_RESP_ERR_NO_ERROR`, catches panics and logs a problem to
//! stderr once per kind (`kafka_trace plugin: ...`); messages are never held, dropped or
//! reordered. Configuration mistakes (an unknown `kafka_trace.*` property, a bad value) are
//! refused by `rd_kafka_conf_set()` like librdkafka's own properties.
//!
//! The interceptors modify the headers of the message in `on_send`, which librdkafka's
//! documentation declares immutable there. librdkafka serializes a message's header list when it
//! writes the batch (`rd_kafka_msg_wire_size()` / `rd_kafka_msgset_writer_write_msg_headers()`
//! read `rkm_headers` then), so headers added in `on_send` are sent; the only size check that
//! misses them is `message.max.bytes` at produce time (≈ 100 bytes more per message).

pub(crate) mod rdkafka;

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use kafka_trace_core::carrier;
use kafka_trace_core::lifecycle::OPTION_NAMES;
use kafka_trace_core::otel::{trace_context_of, StartTime};
use kafka_trace_core::span::MessageInfo;
use opentelemetry::Context;

use self::rdkafka::{Api, RdMessage, CONF_INVALID, CONF_OK, CONF_UNKNOWN};
use crate::codec::{inject_through, CHeaders, Context as KtContext};
use crate::config::Config;
use crate::spans::{current_context, otel_context, Span};
use crate::tracer::Tracer;

/// The interceptor name librdkafka lists and refuses twice on one configuration.
const NAME: &CStr = c"kafka_trace";
/// Prefix of the plugin's properties.
const PREFIX: &str = "kafka_trace.";
/// Properties besides the core's options.
const OWN_PROPERTIES: &[&str] = &["service_name", "endpoint", "metrics", "capture_file", "shutdown_timeout_ms", "enabled"];
/// librdkafka's `RD_KAFKA_RESP_ERR__INVALID_ARG`.
const ERR_INVALID_ARG: c_int = -186;

static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn api() -> Option<&'static Api> {
    API.get().and_then(|a| a.as_ref().ok())
}

/// Logs `message` once per `flag` (the plugin never floods stderr from a message path).
fn log_once(flag: &AtomicBool, message: impl FnOnce() -> String) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("kafka_trace plugin: {}", message());
    }
}

fn log(message: &str) {
    eprintln!("kafka_trace plugin: {message}");
}

/// Runs an interceptor body with panics caught; interceptors always return NO_ERROR.
fn guarded(body: impl FnOnce()) -> c_int {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
        log_once(&PANICKED, || "internal error (panic) in an interceptor; the message was not affected".to_owned());
    }
    0
}

/// The `kafka_trace.*` properties of one librdkafka configuration.
#[derive(Clone)]
struct Settings {
    config: Config,
    /// Option names set explicitly (the client's own `client.id`, `group.id` and
    /// `bootstrap.servers` fill the others).
    set: HashSet<String>,
    capture_file: Option<PathBuf>,
    shutdown_timeout: Duration,
    enabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { config: Config::default(), set: HashSet::new(), capture_file: None, shutdown_timeout: Duration::from_secs(5), enabled: true }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Settings {
    /// Applies `kafka_trace.<name>` = `value`; `Err` explains a refusal.
    fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        let bad = |what: &str| Err(format!("invalid value \"{value}\" for {PREFIX}{name}: {what}"));
        match name {
            "service_name" => self.config.otlp.service_name = Some(value.to_owned()),
            "endpoint" => self.config.otlp.endpoint = Some(value.to_owned()),
            "metrics" => match parse_bool(value) {
                Some(b) => self.config.no_metrics = !b,
                None => return bad("expected true or false"),
            },
            "enabled" => match parse_bool(value) {
                Some(b) => self.enabled = b,
                None => return bad("expected true or false"),
            },
            "capture_file" => {
                self.capture_file = (!value.is_empty()).then(|| PathBuf::from(value));
                self.config.capture = self.capture_file.is_some();
            }
            "shutdown_timeout_ms" => match value.trim().parse::<u64>() {
                Ok(ms) => self.shutdown_timeout = Duration::from_millis(ms),
                Err(_) => return bad("expected milliseconds"),
            },
            _ if OPTION_NAMES.iter().any(|o| o.snake == name) => match self.config.set(name, value) {
                crate::kt_result::Ok => {
                    self.set.insert(name.to_owned());
                }
                _ => return bad("see the option's documentation"),
            },
            _ => {
                let mut known: Vec<String> = OPTION_NAMES.iter().map(|o| format!("{PREFIX}{}", o.snake)).collect();
                known.extend(OWN_PROPERTIES.iter().map(|p| format!("{PREFIX}{p}")));
                return Err(format!("unknown property {PREFIX}{name} (known: {})", known.join(", ")));
            }
        }
        Ok(())
    }
}

/// What one traced client (`rd_kafka_t`) keeps.
struct Client {
    tracer: Tracer,
    /// Send spans between on_send and on_acknowledgement, by the span id in the message's
    /// `traceparent` header.
    pending: Mutex<HashMap<[u8; 8], Span>>,
    capture_file: Option<PathBuf>,
    shutdown_timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The interceptor state of one librdkafka configuration object (the `ic_opaque` of every
/// interceptor registered on it): allocated when the plugin is added to the configuration (or the
/// configuration is copied), freed by on_conf_destroy (librdkafka calls it when the configuration,
/// or the client that took it over, is destroyed: after the client's last interceptor call).
struct PluginConf {
    settings: Mutex<Settings>,
    client: RwLock<Option<Arc<Client>>>,
}

impl PluginConf {
    fn client(&self) -> Option<Arc<Client>> {
        self.client.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Writes `text` into librdkafka's error buffer.
///
/// # Safety
/// `errstr` is NULL or writable for `size` bytes.
unsafe fn write_err(errstr: *mut c_char, size: usize, text: &str) {
    if errstr.is_null() || size == 0 {
        return;
    }
    let n = text.len().min(size - 1);
    // SAFETY: n + 1 <= size bytes are written.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), errstr.cast::<u8>(), n);
        *errstr.add(n) = 0;
    }
}

/// Adds the configuration interceptors to `conf` with a fresh state.
///
/// # Safety
/// `conf` is a live `rd_kafka_conf_t`.
unsafe fn register(api: &Api, conf: *mut c_void) -> Result<(), String> {
    let state = Box::into_raw(Box::new(PluginConf { settings: Mutex::new(Settings::default()), client: RwLock::new(None) })).cast::<c_void>();
    // SAFETY: librdkafka's functions on a live conf; `state` outlives the conf (freed in
    // on_conf_destroy, which librdkafka calls once per conf these were added to).
    let rc = unsafe {
        [
            (api.conf_add_on_conf_set)(conf, NAME.as_ptr(), on_conf_set, state),
            (api.conf_add_on_conf_dup)(conf, NAME.as_ptr(), on_conf_dup, state),
            (api.conf_add_on_new)(conf, NAME.as_ptr(), on_new, state),
            (api.conf_add_on_conf_destroy)(conf, NAME.as_ptr(), on_conf_destroy, state),
        ]
    };
    if rc.iter().all(|&r| r == 0) {
        return Ok(());
    }
    if rc[3] != 0 {
        // on_conf_destroy is not registered: nobody else frees the state.
        // SAFETY: from Box::into_raw above; not reachable from a conf that will free it.
        drop(unsafe { Box::from_raw(state.cast::<PluginConf>()) });
    }
    Err(format!("cannot add the interceptors (librdkafka results {rc:?})"))
}

/// librdkafka's plugin entry point (`plugin.library.paths`): resolves librdkafka's functions from
/// the library that loaded the plugin and adds the configuration interceptors. Not declared in
/// kafka_trace.h: only librdkafka calls it.
///
/// # Safety
/// Called by librdkafka with a live configuration and writable `errstr` of `errstr_size` bytes.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn conf_init(conf: *mut c_void, plug_opaquep: *mut *mut c_void, errstr: *mut c_char, errstr_size: usize) -> c_int {
    let result = std::panic::catch_unwind(|| {
        rdkafka::pin_self();
        let api = match API.get_or_init(|| Api::resolve(rdkafka::caller_object())) {
            Ok(api) => api,
            Err(e) => return Err(format!("cannot find librdkafka's functions: {e}")),
        };
        // SAFETY: a live conf from librdkafka.
        unsafe { register(api, conf) }
    });
    if !plug_opaquep.is_null() {
        // SAFETY: writable by librdkafka's contract.
        unsafe { *plug_opaquep = std::ptr::null_mut() };
    }
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            // SAFETY: librdkafka's error buffer.
            unsafe { write_err(errstr, errstr_size, &format!("kafka_trace plugin: {e}")) };
            ERR_INVALID_ARG
        }
        Err(_) => {
            // SAFETY: as above.
            unsafe { write_err(errstr, errstr_size, "kafka_trace plugin: internal error (panic) in conf_init") };
            ERR_INVALID_ARG
        }
    }
}

unsafe extern "C" fn on_conf_set(_conf: *mut c_void, name: *const c_char, val: *const c_char, errstr: *mut c_char, errstr_size: usize, opaque: *mut c_void) -> c_int {
    let result = std::panic::catch_unwind(|| {
        if name.is_null() {
            return Ok(false);
        }
        // SAFETY: librdkafka passes NUL-terminated strings.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        let Some(option) = name.strip_prefix(PREFIX) else { return Ok(false) };
        // SAFETY: as above (NULL resets to the empty value).
        let value = if val.is_null() { String::new() } else { unsafe { CStr::from_ptr(val) }.to_string_lossy().into_owned() };
        // SAFETY: the state registered with this interceptor, live until on_conf_destroy.
        let state = unsafe { &*opaque.cast::<PluginConf>() };
        lock(&state.settings).apply(option, &value).map(|()| true)
    });
    match result {
        Ok(Ok(true)) => CONF_OK,
        Ok(Ok(false)) => CONF_UNKNOWN,
        Ok(Err(e)) => {
            // SAFETY: librdkafka's error buffer.
            unsafe { write_err(errstr, errstr_size, &e) };
            CONF_INVALID
        }
        Err(_) => CONF_UNKNOWN,
    }
}

unsafe extern "C" fn on_conf_dup(new_conf: *mut c_void, _old: *const c_void, _n: usize, _filter: *const *const c_char, _opaque: *mut c_void) -> c_int {
    // librdkafka then replays the `kafka_trace.*` properties onto the copy through on_conf_set.
    guarded(|| {
        if let Some(api) = api() {
            // SAFETY: a live conf from librdkafka.
            if let Err(e) = unsafe { register(api, new_conf) } {
                log(&format!("configuration copy not traced: {e}"));
            }
        }
    })
}

unsafe extern "C" fn on_conf_destroy(opaque: *mut c_void) -> c_int {
    guarded(|| {
        // SAFETY: the state registered with this conf; librdkafka calls this once, last.
        let state = unsafe { Box::from_raw(opaque.cast::<PluginConf>()) };
        if let Some(client) = state.client() {
            close(&client);
        }
    })
}

/// Ends what is still pending, exports what is queued (bounded wait) and writes the capture file.
fn close(client: &Client) {
    let leftover: Vec<Span> = lock(&client.pending).drain().map(|(_, s)| s).collect();
    for mut span in leftover {
        let _ = span.end_failed("_OTHER");
    }
    client.tracer.shutdown(client.shutdown_timeout);
    if let Some(path) = &client.capture_file {
        if let Ok(store) = client.tracer.captured() {
            if let Err(e) = std::fs::write(path, store.to_json()) {
                log(&format!("cannot write {}: {e}", path.display()));
            }
        }
    }
}

unsafe extern "C" fn on_new(rk: *mut c_void, conf: *const c_void, opaque: *mut c_void, _errstr: *mut c_char, _size: usize) -> c_int {
    guarded(|| {
        let Some(api) = api() else { return };
        // SAFETY: the state registered with this conf.
        let state = unsafe { &*opaque.cast::<PluginConf>() };
        let mut settings = lock(&state.settings).clone();
        if !settings.enabled {
            return;
        }
        for (property, option) in [(c"bootstrap.servers", "bootstrap_servers"), (c"client.id", "client_id"), (c"group.id", "consumer_group")] {
            if settings.set.contains(option) {
                continue;
            }
            // SAFETY: librdkafka's live conf of the new client.
            if let Some(value) = unsafe { api.conf_value(conf, property) } {
                let _ = settings.config.set(option, &value);
            }
        }
        let tracer = match Tracer::new(&settings.config) {
            Ok(t) => t,
            Err(e) => {
                log(&format!("not tracing this client: cannot set up the exporter ({})", crate::result_message(e as u32).to_string_lossy()));
                return;
            }
        };
        let client = Arc::new(Client { tracer, pending: Mutex::new(HashMap::new()), capture_file: settings.capture_file.clone(), shutdown_timeout: settings.shutdown_timeout });
        let previous = state.client.write().unwrap_or_else(std::sync::PoisonError::into_inner).replace(client);
        if let Some(previous) = previous {
            // A configuration whose rd_kafka_new() failed, used again.
            close(&previous);
        }
        // SAFETY: librdkafka's functions on the new, live client; `opaque` outlives it.
        let rc = unsafe {
            [
                (api.add_on_send)(rk, NAME.as_ptr(), on_send, opaque),
                (api.add_on_acknowledgement)(rk, NAME.as_ptr(), on_acknowledgement, opaque),
                (api.add_on_consume)(rk, NAME.as_ptr(), on_consume, opaque),
            ]
        };
        if rc.iter().any(|&r| r != 0) {
            log(&format!("cannot add the message interceptors (librdkafka {} from {}: results {rc:?})", api.version(), api.origin));
        }
    })
}

/// A kt_header_setter over an `rd_kafka_headers_t`.
struct Target<'a> {
    api: &'a Api,
    headers: *mut c_void,
}

unsafe extern "C" fn set_header(userdata: *mut c_void, name: *const c_char, name_len: usize, value: *const u8, value_len: usize) -> c_int {
    // SAFETY: `userdata` is the Target of this injection; `name` is NUL-terminated, `value` valid
    // for `value_len` bytes (kt_header_setter's contract).
    unsafe {
        let t = &*userdata.cast::<Target<'_>>();
        (t.api.header_remove)(t.headers, name);
        if !value.is_null() && (t.api.header_add)(t.headers, name, name_len as isize, value.cast(), value_len as isize) != 0 {
            return -1;
        }
    }
    0
}

/// The message's fields as the core reads them.
///
/// # Safety
/// `msg` is live; the result borrows it.
unsafe fn message_info<'a>(api: &Api, msg: *const RdMessage) -> Option<MessageInfo<'a>> {
    // SAFETY: live message by contract.
    let m = unsafe { &*msg };
    // SAFETY: as above.
    let topic = std::str::from_utf8(unsafe { api.topic(msg) }?).ok()?;
    let key = (!m.key.is_null()).then(|| {
        // SAFETY: librdkafka's key pointer is valid for key_len bytes.
        unsafe { std::slice::from_raw_parts(m.key.cast::<u8>(), m.key_len) }
    });
    let mut ts_type = 0;
    // SAFETY: as above.
    let ts = unsafe { (api.message_timestamp)(msg, &mut ts_type) };
    Some(MessageInfo {
        topic,
        partition: (m.partition >= 0).then_some(m.partition),
        offset: (m.offset >= 0).then_some(m.offset),
        key,
        payload_len: (!m.payload.is_null()).then_some(m.len),
        timestamp_ms: (ts > 0).then_some(ts),
    })
}

static INJECT_FAILED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" fn on_send(_rk: *mut c_void, msg: *mut RdMessage, opaque: *mut c_void) -> c_int {
    guarded(|| {
        let Some(api) = api() else { return };
        // SAFETY: the state registered with this client's conf.
        let Some(client) = (unsafe { &*opaque.cast::<PluginConf>() }).client() else { return };
        // SAFETY: librdkafka's live message, ours to read during the call.
        let Some(mut info) = (unsafe { message_info(api, msg) }) else { return };
        // Not acknowledged yet: whatever librdkafka put in offset means nothing.
        info.offset = None;
        // SAFETY: as above.
        let existing = unsafe { api.headers_of(msg) };
        let ambient = current_context().unwrap_or_else(|| {
            // No current context: continue a traceparent the application already wrote, if any.
            // SAFETY: the views point into the message's live headers.
            match unsafe { CHeaders::new(existing.as_ptr(), existing.len()) } {
                Ok(headers) => {
                    let mut ctx = KtContext::default();
                    ctx.extract(&headers);
                    otel_context(&ctx)
                }
                Err(_) => Context::new(),
            }
        });
        drop(existing);
        let Some(mut span) = Span::start_send(&client.tracer.shared, &info, &ambient) else { return };
        let Some(trace) = trace_context_of(span.context()) else { return };
        let span_id = trace.traceparent.span_id.0;
        let mut headers = std::ptr::null_mut();
        // SAFETY: live message; a producer message without headers gets a new list it then owns.
        unsafe {
            if (api.message_headers)(msg, &mut headers) != 0 || headers.is_null() {
                headers = (api.headers_new)(4);
                (api.message_set_headers)(msg, headers);
            }
        }
        let mut target = Target { api, headers };
        // SAFETY: set_header's contract with `target`, live for the call.
        let rc = unsafe { inject_through(&trace, set_header, (&mut target as *mut Target<'_>).cast()) };
        if rc != crate::kt_result::Ok {
            log_once(&INJECT_FAILED, || "cannot write the trace headers into a message (librdkafka refused a header); its send span is ended at once".to_owned());
            let _ = span.end_ok();
            return;
        }
        lock(&client.pending).insert(span_id, span);
    })
}

/// The span id of the `traceparent` (the last one) in the message's headers.
///
/// # Safety
/// `msg` is live.
unsafe fn carried_span_id(api: &Api, msg: *const RdMessage) -> Option<[u8; 8]> {
    // SAFETY: live message by contract.
    let list = unsafe { api.headers_of(msg) };
    // SAFETY: the views point into the message's live headers.
    let headers = unsafe { CHeaders::new(list.as_ptr(), list.len()) }.ok()?;
    let id = carrier::extract_parts(&headers).parent.ok().map(|tp| tp.span_id.0);
    id
}

unsafe extern "C" fn on_acknowledgement(_rk: *mut c_void, msg: *mut RdMessage, opaque: *mut c_void) -> c_int {
    guarded(|| {
        let Some(api) = api() else { return };
        // SAFETY: the state registered with this client's conf.
        let Some(client) = (unsafe { &*opaque.cast::<PluginConf>() }).client() else { return };
        // SAFETY: librdkafka's live message.
        let Some(id) = (unsafe { carried_span_id(api, msg) }) else { return };
        let Some(mut span) = lock(&client.pending).remove(&id) else { return };
        // SAFETY: as above.
        let m = unsafe { &*msg };
        if m.err != 0 {
            let _ = span.end_failed(&api.err_name(m.err));
        } else {
            // SAFETY: as above.
            let latency = unsafe { (api.message_latency)(msg) };
            let latency = u64::try_from(latency).ok().map(Duration::from_micros);
            let _ = span.end_acked(m.partition, m.offset, latency);
        }
    })
}

unsafe extern "C" fn on_consume(_rk: *mut c_void, msg: *mut RdMessage, opaque: *mut c_void) -> c_int {
    guarded(|| {
        let Some(api) = api() else { return };
        // SAFETY: the state registered with this client's conf.
        let Some(client) = (unsafe { &*opaque.cast::<PluginConf>() }).client() else { return };
        // SAFETY: librdkafka's live message.
        if unsafe { (*msg).err } != 0 {
            return;
        }
        // SAFETY: as above.
        let Some(topic) = (unsafe { api.topic(msg) }).and_then(|t| std::str::from_utf8(t).ok()) else { return };
        let ambient = current_context().unwrap_or_default();
        crate::spans::record_receive(&client.tracer.shared, topic, &ambient, StartTime::now());
    })
}

#[cfg(test)]
mod tests {
    use super::Settings;
    use kafka_trace_core::lifecycle::OPTION_NAMES;
    use kafka_trace_core::span::Strategy;

    #[test]
    fn every_option_name_is_a_plugin_property() {
        for option in OPTION_NAMES {
            let value = match option.snake {
                "strategy" => "link",
                "record_message_key" | "record_body_size" => "true",
                _ => "x",
            };
            let mut s = Settings::default();
            assert_eq!(s.apply(option.snake, value), Ok(()), "kafka_trace.{}", option.snake);
            assert!(s.set.contains(option.snake));
        }
    }

    #[test]
    fn values_are_checked_and_unknown_names_refused() {
        let mut s = Settings::default();
        assert_eq!(s.apply("strategy", "link"), Ok(()));
        assert_eq!(s.config.options.strategy, Strategy::Link);
        assert!(s.apply("strategy", "sideways").unwrap_err().contains("kafka_trace.strategy"));
        assert!(s.apply("metrics", "maybe").is_err());
        assert_eq!(s.apply("metrics", "off"), Ok(()));
        assert!(s.config.no_metrics);
        let e = s.apply("stratgy", "link").unwrap_err();
        assert!(e.contains("unknown property kafka_trace.stratgy") && e.contains("kafka_trace.include_topics"), "{e}");
        assert_eq!(s.apply("include_topics", "orders, billing.*"), Ok(()));
        assert_eq!(s.config.options.topics.include, vec!["orders".to_owned(), "billing.*".to_owned()]);
        assert_eq!(s.apply("capture_file", "/tmp/x.json"), Ok(()));
        assert!(s.config.capture);
        assert_eq!(s.apply("shutdown_timeout_ms", "250"), Ok(()));
        assert_eq!(s.shutdown_timeout.as_millis(), 250);
    }
}
