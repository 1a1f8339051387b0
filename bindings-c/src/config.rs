//! The tracer configuration: OTLP settings, the client, the core's options (spelled as the
//! core's `OPTION_NAMES`, snake_case), metrics on/off and the in-memory capture mode.

use std::ffi::c_char;
use std::time::Duration;

use kafka_trace_core::lifecycle::OPTION_NAMES;
use kafka_trace_core::otlp::OtlpConfig;
use kafka_trace_core::span::{ClientInfo, Options, Strategy};

use crate::codec::kt_str;
use crate::{ffi_boundary, handle_free, handle_mut, handle_new, kt_result, text, try_ffi, Opaque};

/// Settings of kt_tracer_new(); everything not set comes from the `OTEL_*` environment
/// (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TIMEOUT,
/// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_RESOURCE_ATTRIBUTES, ...). A plain value: the tracer copies what
/// it needs, so the config may be freed right after kt_tracer_new().
///
/// The options of the span model are named as in every kafka-trace binding (the core's one list,
/// snake_case here): `strategy`, `record_message_key`, `record_body_size`, `include_topics`,
/// `exclude_topics`, `client_id`, `consumer_group`, `bootstrap_servers`; each has a typed setter
/// `kt_tracer_config_set_<name>()` and kt_tracer_config_set() takes any of them by name.
pub struct kt_tracer_config {
    _private: [u8; 0],
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    pub(crate) otlp: OtlpConfig,
    pub(crate) client: ClientInfo,
    pub(crate) options: Options,
    pub(crate) no_metrics: bool,
    pub(crate) capture: bool,
}

impl Opaque for kt_tracer_config {
    type Inner = Config;
    const MAGIC: u64 = 0x6b74_5f63_6667_0003;
}

impl Config {
    /// Sets the option `name` (one of the core's `OPTION_NAMES`, snake_case) from its text form.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> kt_result {
        if !OPTION_NAMES.iter().any(|o| o.snake == name) {
            return kt_result::NotFound;
        }
        match name {
            "strategy" => match Strategy::parse(value) {
                Some(s) => self.options.strategy = s,
                None => return kt_result::InvalidArgument,
            },
            "record_message_key" => match parse_bool(value) {
                Some(b) => self.options.record_message_key = b,
                None => return kt_result::InvalidArgument,
            },
            "record_body_size" => match parse_bool(value) {
                Some(b) => self.options.record_body_size = b,
                None => return kt_result::InvalidArgument,
            },
            "include_topics" => self.options.topics.include = topic_list(value),
            "exclude_topics" => self.options.topics.exclude = topic_list(value),
            "client_id" => self.client.client_id = Some(value.to_owned()),
            "consumer_group" => self.client.consumer_group = Some(value.to_owned()),
            "bootstrap_servers" => self.client = std::mem::take(&mut self.client).with_bootstrap(value),
            // An option the core added that this version of the ABI cannot set yet.
            _ => return kt_result::NotFound,
        }
        kt_result::Ok
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn topic_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// A new configuration with nothing set (all from the environment; message keys recorded; parent
/// strategy `parent`; every topic traced; metrics on; exported over OTLP). Free with
/// kt_tracer_config_free().
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn kt_tracer_config_new() -> *mut kt_tracer_config {
    ffi_boundary!(std::ptr::null_mut(), { handle_new::<kt_tracer_config>(Config::default()) })
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

/// Applies `apply` to the config.
///
/// # Safety
/// `config` is NULL or live.
unsafe fn set_with(config: *mut kt_tracer_config, apply: impl FnOnce(&mut Config)) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: as documented above.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        apply(cfg);
        kt_result::Ok
    })
}

/// Sets the option `name` (`name_len` bytes) to `value` (`value_len` bytes, UTF-8 text), by the
/// name every kafka-trace binding uses for it: `strategy` (`parent` or `link`),
/// `record_message_key` and `record_body_size` (`true`/`false`, `1`/`0`), `include_topics` and
/// `exclude_topics` (comma-separated exact names or `*` globs; replaces the list),
/// `client_id`, `consumer_group`, `bootstrap_servers`. KT_RESULT_NOT_FOUND for another name,
/// KT_RESULT_INVALID_ARGUMENT for a value the option does not accept.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set(
    config: *mut kt_tracer_config,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let name = try_ffi!(unsafe { text(name, name_len) });
        // SAFETY: forwarded contract.
        unsafe { set_text(config, value, value_len, |c, v| c.set(name, v)) }
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

/// Sets the OTLP wire protocol: `http/protobuf` (the default) or `grpc` (as
/// OTEL_EXPORTER_OTLP_PROTOCOL spells them). KT_RESULT_INVALID_ARGUMENT for another value.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_protocol(config: *mut kt_tracer_config, protocol: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_text(config, protocol, len, |c, v| match kafka_trace_core::otlp::Protocol::parse(v) {
            Some(p) => {
                c.otlp.protocol = Some(p);
                kt_result::Ok
            }
            None => kt_result::InvalidArgument,
        })
    }
}

/// Adds a header sent with every OTLP export, e.g. `api-key` (name and value UTF-8 text).
/// OTEL_EXPORTER_OTLP_HEADERS is read as well; for the same name the environment's value wins.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_add_header(
    config: *mut kt_tracer_config,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: `config` is NULL or live; the strings are valid for their lengths (caller's contract).
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        let name = try_ffi!(unsafe { text(name, name_len) });
        let value = try_ffi!(unsafe { text(value, value_len) });
        if name.trim().is_empty() {
            return kt_result::InvalidArgument;
        }
        cfg.otlp.headers.push((name.trim().to_owned(), value.to_owned()));
        kt_result::Ok
    })
}

/// Sets the TLS files of the OTLP exporter, each a path to a PEM file or NULL to leave it unset:
/// `ca_file` (CA certificates trusted besides the system roots, as
/// OTEL_EXPORTER_OTLP_CERTIFICATE), `client_certificate_file` and `client_key_file` (mutual TLS;
/// both or neither). The files are read when the tracer is created (kt_tracer_new() fails then
/// when one is missing or invalid).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_tls_files(
    config: *mut kt_tracer_config,
    ca_file: *const c_char,
    ca_file_len: usize,
    client_certificate_file: *const c_char,
    client_certificate_file_len: usize,
    client_key_file: *const c_char,
    client_key_file_len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: `config` is NULL or live; each non-NULL path is valid for its length.
        let cfg = try_ffi!(unsafe { handle_mut(config) });
        let path = |p: *const c_char, len: usize| -> Result<Option<std::path::PathBuf>, kt_result> {
            if p.is_null() {
                return Ok(None);
            }
            // SAFETY: non-NULL and valid for `len` bytes (caller's contract).
            let t = unsafe { text(p, len) }?;
            Ok(Some(std::path::PathBuf::from(t)))
        };
        let ca = try_ffi!(path(ca_file, ca_file_len));
        let cert = try_ffi!(path(client_certificate_file, client_certificate_file_len));
        let key = try_ffi!(path(client_key_file, client_key_file_len));
        if cert.is_some() != key.is_some() {
            return kt_result::InvalidArgument;
        }
        cfg.otlp.certificate = ca;
        cfg.otlp.client_certificate = cert;
        cfg.otlp.client_key = key;
        kt_result::Ok
    })
}

/// Option `bootstrap_servers`: the Kafka `bootstrap.servers` list; its first entry gives
/// `server.address`/`server.port`.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_bootstrap_servers(config: *mut kt_tracer_config, servers: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_text(config, servers, len, |c, v| c.set("bootstrap_servers", v)) }
}

/// Option `client_id`: `client.id` (recorded as `messaging.client.id`).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_client_id(config: *mut kt_tracer_config, client_id: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_text(config, client_id, len, |c, v| c.set("client_id", v)) }
}

/// Option `consumer_group`: the consumer `group.id` (recorded as `messaging.consumer.group.name`
/// on process and poll spans).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_consumer_group(config: *mut kt_tracer_config, group: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_text(config, group, len, |c, v| c.set("consumer_group", v)) }
}

/// Option `strategy`: how a process span relates to the producer's context: `parent` (default:
/// the producer's span is the parent, one trace) or `link` (semconv-strict: a link).
/// KT_RESULT_INVALID_ARGUMENT for any other name.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_strategy(config: *mut kt_tracer_config, name: *const c_char, len: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_text(config, name, len, |c, v| c.set("strategy", v)) }
}

/// Option `record_message_key`: whether UTF-8 message keys are recorded as
/// `messaging.kafka.message.key` (default true).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_record_message_key(config: *mut kt_tracer_config, record: bool) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_with(config, |c| c.options.record_message_key = record) }
}

/// Option `record_body_size`: whether the payload length is recorded as
/// `messaging.message.body.size` (default false).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_record_body_size(config: *mut kt_tracer_config, record: bool) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_with(config, |c| c.options.record_body_size = record) }
}

/// Reads `count` topic names or patterns.
///
/// # Safety
/// `topics` is NULL (with `count` 0) or valid for `count` entries, each valid for its length.
pub(crate) unsafe fn topic_strs<'a>(topics: *const kt_str, count: usize) -> Result<Vec<&'a str>, kt_result> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if topics.is_null() {
        return Err(kt_result::NullArgument);
    }
    if count > isize::MAX as usize / std::mem::size_of::<kt_str>() {
        return Err(kt_result::InvalidArgument);
    }
    // SAFETY: as documented above.
    let entries = unsafe { std::slice::from_raw_parts(topics, count) };
    // SAFETY: as documented above.
    entries.iter().map(|t| unsafe { text(t.data, t.len) }).collect()
}

unsafe fn topic_patterns(topics: *const kt_str, count: usize) -> Result<Vec<String>, kt_result> {
    // SAFETY: forwarded contract.
    Ok(unsafe { topic_strs(topics, count) }?.into_iter().map(str::to_owned).collect())
}

/// Option `include_topics`: trace only these topics (`count` exact names or `*` globs, e.g.
/// `orders.*`; none = every topic). A message of another topic gets no span, no header and no
/// metric. Replaces the list; the strings are copied.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_include_topics(config: *mut kt_tracer_config, topics: *const kt_str, count: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let list = try_ffi!(unsafe { topic_patterns(topics, count) });
        // SAFETY: forwarded contract.
        unsafe { set_with(config, |c| c.options.topics.include = list) }
    })
}

/// Option `exclude_topics`: never trace these topics (exact names or `*` globs; wins over
/// include). Replaces the list; the strings are copied.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_exclude_topics(config: *mut kt_tracer_config, topics: *const kt_str, count: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: forwarded contract.
        let list = try_ffi!(unsafe { topic_patterns(topics, count) });
        // SAFETY: forwarded contract.
        unsafe { set_with(config, |c| c.options.topics.exclude = list) }
    })
}

/// Whether the messaging metrics are recorded (default true).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_metrics(config: *mut kt_tracer_config, enabled: bool) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_with(config, |c| c.no_metrics = !enabled) }
}

/// Capture mode, for your own unit tests (default false): the tracer exports nothing; it keeps
/// every sampled span and every metric data point in memory, through the same OpenTelemetry SDK
/// pipeline (sampler `ParentBased(AlwaysOn)`), and kt_tracer_captured_json() reads them back.
/// The OTLP settings are ignored.
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_capture(config: *mut kt_tracer_config, capture: bool) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe { set_with(config, |c| c.capture = capture) }
}

/// Sets the longest wait for one export request (milliseconds, > 0) and the span queue bound
/// (> 0); 0 keeps the environment's value (OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_BSP_MAX_QUEUE_SIZE).
///
/// Thread-safety: modifies the config; one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_config_set_export_limits(config: *mut kt_tracer_config, timeout_ms: u64, max_queue_size: usize) -> kt_result {
    // SAFETY: forwarded contract.
    unsafe {
        set_with(config, |c| {
            c.otlp.export_timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
            c.otlp.max_queue_size = (max_queue_size > 0).then_some(max_queue_size);
        })
    }
}
