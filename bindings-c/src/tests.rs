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

#[test]
fn constants_match_the_core() {
    use kafka_trace::codec::traceparent::TRACEPARENT_LEN;
    assert_eq!(KT_TRACEPARENT_LEN, TRACEPARENT_LEN);
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    let mut parts = kafka_trace::VERSION.split('.');
    for name in ["MAJOR", "MINOR", "PATCH"] {
        let line = format!("#define KT_VERSION_{name} {}", parts.next().unwrap());
        assert!(header.contains(&line), "{line}");
    }
    let v = unsafe { std::ffi::CStr::from_ptr(kt_version()) };
    assert_eq!(v.to_str().unwrap(), kafka_trace::VERSION);
}

#[test]
fn every_core_code_has_the_same_number() {
    for code in kafka_trace::ErrorCode::ALL {
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
    for code in kafka_trace::ErrorCode::ALL {
        let line = format!("KT_RESULT_{} = {},", code.as_str().to_ascii_uppercase(), code.code());
        assert!(header.contains(&line), "{line}");
    }
}

#[test]
fn every_core_option_has_a_setter_and_a_name() {
    use crate::config::Config;
    let header = include_str!(concat!(env!("OUT_DIR"), "/kafka_trace.h"));
    for option in kafka_trace::lifecycle::OPTION_NAMES {
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
