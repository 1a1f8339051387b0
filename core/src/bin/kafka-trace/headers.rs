//! `headers-demo` and `decode`: what the core reads from real-world header lists and exactly
//! which headers a producer writes when it forwards the message as a child span.

use std::process::ExitCode;

use kafka_trace::carrier::{extract_parts, inject, Extracted};
use kafka_trace::{SpanId, TraceContext, TraceFlags, TraceId};

type HeaderList = Vec<(String, Option<Vec<u8>>)>;

/// Fixed ids so the demo output is reproducible.
const CHILD_SPAN: SpanId = SpanId([0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]);
const ROOT_TRACE: TraceId = TraceId([0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c]);

fn samples() -> Vec<(&'static str, HeaderList)> {
    let h = |list: &[(&str, &[u8])]| list.iter().map(|(n, v)| (n.to_string(), Some(v.to_vec()))).collect();
    vec![
        (
            "a message from a NestJS producer",
            h(&[
                ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                ("tracestate", b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123"),
                ("baggage", b"userId=alice,cart=%7B%22n%22%3A3%7D;ttl=60"),
            ]),
        ),
        (
            "a retried message carrying two copies in different case and a stale tracestate",
            h(&[
                ("app-id", b"orders"),
                ("TraceParent", b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03 "),
                ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"),
                ("tracestate", b" congo=t61rcWkgMzE ,, rojo=1 "),
            ]),
        ),
        (
            "a forwarder appended its own parent: the last header (the latest hop) is continued",
            h(&[
                ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"),
                ("baggage", b"tenant=acme"),
            ]),
        ),
        ("an upper-case trace id and non-UTF-8 bytes", h(&[("traceparent", b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), ("x-bin", b"\xff\xfe")])),
    ]
}

pub fn show_value(value: &Option<Vec<u8>>) -> String {
    match value {
        None => "null".to_owned(),
        Some(v) => match std::str::from_utf8(v) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("0x{}", v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        },
    }
}

fn forward(extracted: &Extracted<'_>, headers: &HeaderList) -> HeaderList {
    let context = match extracted.clone().into_context() {
        Some(parent) => parent.child(CHILD_SPAN),
        None => TraceContext::new_root(ROOT_TRACE, CHILD_SPAN, TraceFlags::SAMPLED, extracted.baggage.clone()),
    };
    let mut out = headers.clone();
    inject(&context, &mut out);
    out
}

fn print_text(title: &str, headers: &HeaderList) {
    println!("== {title}");
    println!("   received:");
    for (name, value) in headers {
        println!("     {name}: {}", show_value(value));
    }
    let extracted = extract_parts(headers);
    match &extracted.parent {
        Ok(tp) => println!("   parent:   trace {} span {} flags {:02x} (sampled: {})", tp.trace_id, tp.span_id, tp.flags.0, tp.flags.is_sampled()),
        Err(why) => println!("   parent:   none, new root trace ({why})"),
    }
    match &extracted.tracestate {
        Ok(ts) if ts.is_empty() => {}
        Ok(ts) => println!("   tracestate: {}", ts.members().iter().map(|m| format!("{}={}", m.key, m.value)).collect::<Vec<_>>().join(", ")),
        Err(why) => println!("   tracestate: discarded ({why})"),
    }
    for entry in extracted.baggage.entries() {
        println!("   baggage:  {} = {:?} {}", entry.key, entry.value, entry.properties.join(";"));
    }
    println!("   forwarded as child span {CHILD_SPAN}:");
    for (name, value) in forward(&extracted, headers) {
        println!("     {name}: {}", show_value(&value));
    }
    println!();
}

fn print_json(headers: &HeaderList) {
    let extracted = extract_parts(headers);
    let parent = match &extracted.parent {
        Ok(tp) => serde_json::json!({"valid": true, "trace_id": tp.trace_id.to_string(), "span_id": tp.span_id.to_string(), "flags": format!("{:02x}", tp.flags.0)}),
        Err(why) => serde_json::json!({"valid": false, "error": why.as_str()}),
    };
    let tracestate = match &extracted.tracestate {
        Ok(ts) => serde_json::json!(ts.members().iter().map(|m| [m.key, m.value]).collect::<Vec<_>>()),
        Err(why) => serde_json::json!({"error": why.as_str()}),
    };
    let baggage: Vec<_> = extracted.baggage.entries().iter().map(|e| serde_json::json!({"key": e.key, "value": e.value, "properties": e.properties})).collect();
    let forwarded: Vec<_> = forward(&extracted, headers).iter().map(|(n, v)| serde_json::json!({"name": n, "value": show_value(v)})).collect();
    let doc = serde_json::json!({"traceparent": parent, "tracestate": tracestate, "baggage": baggage, "forwarded": forwarded});
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

fn parse_header(arg: &str) -> Result<(String, Option<Vec<u8>>), String> {
    let (name, value) = arg.split_once('=').ok_or_else(|| format!("header {arg:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), Some(value.as_bytes().to_vec())))
}

/// `kafka-trace headers-demo`.
pub fn run_demo() -> ExitCode {
    println!("kafka-trace {}: what a consumer reads and a forwarding producer writes\n", kafka_trace::VERSION);
    for (title, headers) in samples() {
        print_text(title, &headers);
    }
    ExitCode::SUCCESS
}

/// `kafka-trace decode`.
pub fn run_decode(headers: &[String], json: bool) -> ExitCode {
    let parsed: Result<HeaderList, String> = headers.iter().map(|h| parse_header(h)).collect();
    match parsed {
        Ok(list) if json => {
            print_json(&list);
            ExitCode::SUCCESS
        }
        Ok(list) => {
            print_text("headers from the command line", &list);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kafka-trace: {e}");
            ExitCode::from(2)
        }
    }
}
