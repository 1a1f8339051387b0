//! Rust-side checks of the ABI; the C-side tests are in bindings-c/tests/.

use crate::*;

/// The checked-in header must be exactly what cbindgen generates from this source
/// (`KT_BLESS_HEADER=1 cargo test -p kafka-trace-c header` rewrites it).
#[test]
fn header_is_up_to_date() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../include/kafka_trace.h");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    if generated != checked_in {
        if std::env::var_os("KT_BLESS_HEADER").is_some_and(|v| v == "1") {
            std::fs::write(path, generated).expect("write include/kafka_trace.h");
        } else {
            let first = generated.lines().zip(checked_in.lines()).position(|(a, b)| a != b);
            let line = first.unwrap_or_else(|| generated.lines().count().min(checked_in.lines().count()));
            panic!(
                "include/kafka_trace.h is stale (first difference at line {}):\n  checked in: {:?}\n  generated:  {:?}\n\
                 run `KT_BLESS_HEADER=1 cargo test -p kafka-trace-c header` and commit it",
                line + 1,
                checked_in.lines().nth(line).unwrap_or("<end of file>"),
                generated.lines().nth(line).unwrap_or("<end of file>"),
            );
        }
    }
}

/// The header declares only our names: a C file that includes it next to <dlfcn.h> or
/// <execinfo.h> must not meet a second declaration of a libc function or type.
#[test]
fn header_declares_only_kt_names() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    let foreign: Vec<&str> = header
        .lines()
        .filter(|line| !line.starts_with(' ') && !line.starts_with('#') && !line.starts_with('/') && !line.starts_with('}'))
        .filter(|line| line.starts_with("typedef") || line.contains('('))
        .filter(|line| !line.contains("kt_") && !line.starts_with("extern \"C\""))
        .collect();
    assert!(foreign.is_empty(), "declarations without the kt_ prefix: {foreign:#?}");
}

#[test]
fn constants_match_the_core() {
    use kafka_trace_core::codec::traceparent::TRACEPARENT_LEN;
    assert_eq!(KT_TRACEPARENT_LEN, TRACEPARENT_LEN);
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    let mut parts = kafka_trace_core::VERSION.split('.');
    for name in ["MAJOR", "MINOR", "PATCH"] {
        let line = format!("#define KT_VERSION_{name} {}", parts.next().unwrap());
        assert!(header.contains(&line), "{line}");
    }
    let v = unsafe { std::ffi::CStr::from_ptr(kt_version()) };
    assert_eq!(v.to_str().unwrap(), kafka_trace_core::VERSION);
}

#[test]
fn every_core_code_has_the_same_number() {
    for code in kafka_trace_core::ErrorCode::ALL {
        assert_eq!(kt_result::from(code) as u32, code.code(), "{code:?}");
        let msg = unsafe { std::ffi::CStr::from_ptr(kt_result_message(code.code())) };
        assert_eq!(msg.to_str().unwrap(), code.message());
    }
}

#[test]
fn every_result_has_its_own_number_and_a_message() {
    let mut seen = std::collections::HashSet::new();
    for r in kt_result::ALL {
        assert!(seen.insert(*r as u32), "{r:?} reuses a number");
        let msg = unsafe { std::ffi::CStr::from_ptr(kt_result_message(*r as u32)) };
        assert_ne!(msg.to_str().unwrap(), "unknown kt_result", "{r:?}");
    }
    // every core code is a kt_result of the same number and name
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    for code in kafka_trace_core::ErrorCode::ALL {
        let line = format!("KT_RESULT_{} = {},", code.as_str().to_ascii_uppercase(), code.code());
        assert!(header.contains(&line), "{line}");
    }
}

#[test]
fn every_core_option_has_a_setter_and_a_name() {
    use crate::config::Config;
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    for option in kafka_trace_core::lifecycle::OPTION_NAMES {
        let setter = format!("kt_result kt_tracer_config_set_{}(", option.snake);
        assert!(header.contains(&setter), "no typed setter {setter}");
        let value = match option.snake {
            "strategy" => "link",
            "record_message_key" | "record_body_size" => "true",
            _ => "x:1",
        };
        assert_eq!(Config::default().set(option.snake, value), kt_result::Ok, "{}", option.snake);
    }
    assert_eq!(Config::default().set("consumerGroup", "g"), kt_result::NotFound);
    assert_eq!(Config::default().set("strategy", "sideways"), kt_result::InvalidArgument);
}

/// A send ended with librdkafka's latency ends at start + latency (SpanEnd::AfterStart); a poll
/// span freed without an end records nothing; ending a span the wrong way is refused.
#[test]
fn send_ends_at_broker_latency_and_poll_is_only_the_receive() {
    unsafe {
        let cfg = kt_tracer_config_new();
        assert_eq!(kt_tracer_config_set_capture(cfg, true), kt_result::Ok);
        let mut tracer = std::ptr::null_mut();
        assert_eq!(kt_tracer_new(cfg, &mut tracer), kt_result::Ok);
        kt_tracer_config_free(cfg);
        let m = kt_message {
            topic: c"orders".as_ptr(),
            topic_len: 6,
            partition: -1,
            offset: -1,
            key: std::ptr::null(),
            key_len: 0,
            payload: c"v".as_ptr().cast(),
            payload_len: 1,
            timestamp_ms: 0,
            headers: std::ptr::null(),
            header_count: 0,
        };
        let mut send = std::ptr::null_mut();
        assert_eq!(kt_tracer_start_send(tracer, &m, std::ptr::null(), std::ptr::null(), &mut send), kt_result::Ok);
        assert_eq!(kt_span_end_poll(send, std::ptr::null(), 0, 1), kt_result::WrongSpanKind);
        assert_eq!(kt_span_end_send_latency(send, 1, 7, 1500), kt_result::Ok);
        kt_span_free(send);
        let mut idle = std::ptr::null_mut();
        assert_eq!(kt_tracer_start_poll(tracer, std::ptr::null(), std::ptr::null(), &mut idle), kt_result::Ok);
        kt_span_free(idle); // never ended: no span
        let mut empty = std::ptr::null_mut();
        assert_eq!(kt_tracer_start_poll(tracer, std::ptr::null(), std::ptr::null(), &mut empty), kt_result::Ok);
        assert_eq!(kt_span_end_poll(empty, std::ptr::null(), 0, 0), kt_result::Ok); // nothing received: no span
        assert!(!kt_span_is_traced(empty));
        kt_span_free(empty);
        let mut len = 0usize;
        assert_eq!(kt_tracer_captured_json(tracer, std::ptr::null_mut(), 0, &mut len), kt_result::BufferTooSmall);
        let mut buf = vec![0u8; len + 1];
        assert_eq!(kt_tracer_captured_json(tracer, buf.as_mut_ptr().cast(), buf.len(), &mut len), kt_result::Ok);
        let doc: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        let spans = doc["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 1, "{doc}");
        let s = &spans[0];
        assert_eq!(s["name"], "send orders");
        assert_eq!(s["end_unix_nano"].as_u64().unwrap() - s["start_unix_nano"].as_u64().unwrap(), 1_500_000);
        let duration = doc["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "messaging.client.operation.duration").unwrap();
        assert_eq!(duration["sum"].as_f64().unwrap(), 0.0015);
        assert_eq!(kt_tracer_captured_clear(tracer), kt_result::Ok);
        assert_eq!(kt_tracer_captured_json(tracer, buf.as_mut_ptr().cast(), buf.len(), &mut len), kt_result::Ok);
        assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), r#"{"metrics":[],"spans":[]}"#);
        kt_tracer_free(tracer);
    }
}

#[test]
fn otlp_transport_settings_reach_the_config_and_bad_files_fail_at_creation() {
    use std::ptr::{null, null_mut};
    let s = |v: &str| (v.as_ptr().cast::<std::ffi::c_char>(), v.len());
    unsafe {
        let config = kt_tracer_config_new();
        assert!(!config.is_null());
        let (p, n) = s("grpc");
        assert_eq!(kt_tracer_config_set_protocol(config, p, n), kt_result::Ok);
        let (p, n) = s("http/json");
        assert_eq!(kt_tracer_config_set_protocol(config, p, n), kt_result::InvalidArgument);
        let ((k, kn), (v, vn)) = (s("api-key"), s("secret"));
        assert_eq!(kt_tracer_config_add_header(config, k, kn, v, vn), kt_result::Ok);
        let (k, kn) = s(" ");
        assert_eq!(kt_tracer_config_add_header(config, k, kn, v, vn), kt_result::InvalidArgument);
        assert_eq!(kt_tracer_config_add_header(null_mut(), k, kn, v, vn), kt_result::NullArgument);
        let (cert, cn) = s("/tmp/cert.pem");
        // A client certificate needs its key.
        assert_eq!(kt_tracer_config_set_tls_files(config, null(), 0, cert, cn, null(), 0), kt_result::InvalidArgument);
        let (ca, an) = s("/nonexistent/kafka-trace-ca.pem");
        assert_eq!(kt_tracer_config_set_tls_files(config, ca, an, null(), 0, null(), 0), kt_result::Ok);
        {
            let cfg = handle_mut(config).unwrap();
            assert_eq!(cfg.otlp.protocol, Some(kafka_trace_core::otlp::Protocol::Grpc));
            assert_eq!(cfg.otlp.headers, vec![("api-key".to_owned(), "secret".to_owned())]);
            assert_eq!(cfg.otlp.certificate.as_deref(), Some(std::path::Path::new("/nonexistent/kafka-trace-ca.pem")));
            assert_eq!(cfg.otlp.client_certificate, None);
        }
        // The missing CA file is a setup error when the tracer is created, never a silent drop.
        let mut tracer = null_mut();
        assert_ne!(kt_tracer_new(config, &mut tracer), kt_result::Ok);
        assert!(tracer.is_null());
        kt_tracer_config_free(config);
    }
}
