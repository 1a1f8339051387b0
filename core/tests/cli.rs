//! Runs the `kafka-trace` binary the way README tells a new user to.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-trace")).args(args).output().expect("run kafka-trace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn demo_shows_the_forwarded_headers_of_every_sample() {
    let (code, out, err) = run(&["demo"]);
    assert_eq!(code, 0, "stderr: {err}");
    // The forwarded NestJS message keeps its trace, state and baggage under the child span.
    assert!(out.contains("     traceparent: \"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01\"\n     tracestate: \"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123\"\n     baggage: \"userId=alice,cart={%22n%22:3};ttl=60\"\n"), "{out}");
    // The retried message loses its duplicate and its white space.
    assert!(out.contains("     app-id: \"orders\"\n     traceparent: \"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-03\"\n     tracestate: \"congo=t61rcWkgMzE,rojo=1\"\n\n"), "{out}");
    assert!(out.contains("parent:   none, new root trace (several traceparent headers with different values (traceparent_duplicate))"), "{out}");
    assert!(out.contains("(traceparent_trace_id)"), "{out}");
    assert_eq!(out.matches("forwarded as child span b7ad6b7169203331:").count(), 4);
}

#[test]
fn decode_json_reports_the_error_code() {
    let (code, out, _) = run(&["decode", "--json", "-H", "traceparent=00-00000000000000000000000000000000-00f067aa0ba902b7-01"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["traceparent"], serde_json::json!({"valid": false, "error": "traceparent_zero_trace_id"}));
}

#[test]
fn decode_rejects_a_header_without_equals() {
    let (code, _, err) = run(&["decode", "-H", "traceparent"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not NAME=VALUE"), "{err}");
}
