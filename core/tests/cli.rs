//! Runs the `kafka-trace` binary the way README tells a new user to.
//!
//! - `demo` on the embedded mock cluster (no external service): the exact five-span chain per
//!   request, checked in its JSON output and in the printed trees.
//! - `inspect --json` against the real broker (`KAFKA_BOOTSTRAP`, default 127.0.0.1:9092, started
//!   by `scripts/kafka.sh start`): exact verdicts for messages with known headers.
//! - `headers-demo` and `decode`: the header samples, no broker.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

/// The binary, with no broker or collector inherited from the environment (test-all.sh exports
/// KAFKA_BOOTSTRAP, which would make `demo` use the real broker).
fn kafka_trace() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-trace"));
    command.env_remove("KAFKA_BOOTSTRAP").env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    command
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = kafka_trace().args(args).output().expect("run kafka-trace");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

// ---------------------------------------------------------------------------------------------
// demo on the embedded mock cluster

const CHAIN: [(&str, &str, &str); 5] = [
    ("GET /orders/{i}", "web", "SERVER"),
    ("send orders", "web", "PRODUCER"),
    ("process orders", "worker", "CONSUMER"),
    ("send shipments", "worker", "PRODUCER"),
    ("process shipments", "shipper", "CONSUMER"),
];

#[test]
fn demo_json_has_one_five_span_chain_per_request() {
    let (code, out, err) = run(&["demo", "--messages", "4", "--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("started an embedded mock Kafka cluster"), "{err}");
    assert!(err.contains("web sent 4/4 to orders · worker processed 4/4 and forwarded to shipments · shipper processed 4/4"), "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("demo --json is not JSON ({e}): {out}"));
    assert_eq!(doc["embedded_mock_cluster"], json!(true));
    assert_eq!(doc["complete_chains"], json!(4));
    let traces = doc["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 4, "{out}");

    let mut requests = Vec::new();
    for trace in traces {
        let spans = trace["spans"].as_array().expect("spans");
        assert_eq!(spans.len(), 5, "{trace:#}");
        // Spans are in start order; each is the parent of the next.
        let i = spans[0]["name"].as_str().and_then(|n| n.strip_prefix("GET /orders/")).and_then(|i| i.parse::<usize>().ok()).expect("request number");
        requests.push(i);
        for (k, (span, (name, service, kind))) in spans.iter().zip(CHAIN).enumerate() {
            assert_eq!(span["name"], json!(name.replace("{i}", &i.to_string())), "{trace:#}");
            assert_eq!(span["service"], json!(service), "{trace:#}");
            assert_eq!(span["kind"], json!(kind), "{trace:#}");
            assert_eq!(span["error"], Value::Null, "{trace:#}");
            let parent = if k == 0 { Value::Null } else { spans[k - 1]["span_id"].clone() };
            assert_eq!(span["parent_span_id"], parent, "span {k} of {trace:#}");
        }
        let attr = |k: usize, key: &str| spans[k]["attributes"][key].clone();
        assert_eq!(attr(0, "http.route"), json!("/orders/{id}"));
        assert_eq!(attr(0, "http.response.status_code"), json!(202));
        // The consumer spans describe exactly the message the producer spans sent.
        for (send, process, topic, group) in [(1, 2, "orders", "worker"), (3, 4, "shipments", "shipper")] {
            for key in ["messaging.destination.name", "messaging.destination.partition.id", "messaging.kafka.offset", "messaging.kafka.message.key"] {
                assert_ne!(attr(send, key), Value::Null, "{key} on span {send}: {trace:#}");
                assert_eq!(attr(send, key), attr(process, key), "{key}: {trace:#}");
            }
            assert_eq!(attr(send, "messaging.destination.name"), json!(topic));
            assert_eq!(attr(send, "messaging.kafka.message.key"), json!(format!("order-{i}")));
            assert_eq!(attr(process, "messaging.consumer.group.name"), json!(group));
            assert_eq!(attr(send, "messaging.system"), json!("kafka"));
            let latency = attr(process, "kafka_trace.e2e_latency_ms").as_f64().unwrap_or_else(|| panic!("e2e latency on span {process}: {trace:#}"));
            assert!((0.0..60_000.0).contains(&latency), "{latency}");
        }
    }
    requests.sort_unstable();
    assert_eq!(requests, [1, 2, 3, 4]);
}

#[test]
fn demo_prints_each_trace_as_a_tree() {
    let (code, out, err) = run(&["demo", "--messages", "3"]);
    assert_eq!(code, 0, "stderr: {err}");
    let blocks: Vec<&str> = out.split("\n\n").filter(|b| b.starts_with("trace ")).collect();
    assert_eq!(blocks.len(), 3, "{out}");
    for (n, block) in blocks.iter().enumerate() {
        let i = n + 1;
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines.len(), 6, "{block}");
        assert_eq!(lines[0].len(), "trace ".len() + 32, "{block}");
        let expected = [
            (format!("  GET /orders/{i} "), "web", "SERVER"),
            ("  └─ send orders ".to_owned(), "web", "PRODUCER"),
            ("     └─ process orders ".to_owned(), "worker", "CONSUMER"),
            ("        └─ send shipments ".to_owned(), "worker", "PRODUCER"),
            ("           └─ process shipments ".to_owned(), "shipper", "CONSUMER"),
        ];
        for (line, (prefix, service, kind)) in lines[1..].iter().zip(expected) {
            assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}\n{block}");
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert!(columns.windows(2).any(|w| w == [service, kind]), "{line:?}: {service} {kind}");
            assert!(line.contains(" ms"), "{line}");
        }
        assert!(lines[2].contains("topic=orders") && lines[2].contains(&format!("key=order-{i}")) && lines[2].contains("offset="), "{block}");
        assert!(lines[3].contains("group=worker") && lines[3].contains("e2e="), "{block}");
        assert!(lines[5].contains("topic=shipments") && lines[5].contains("group=shipper") && lines[5].contains("e2e="), "{block}");
    }
    assert!(out.ends_with("3 traces, each GET /orders/{i} → send orders → process orders → send shipments → process shipments\n"), "{out}");
}

#[test]
fn demo_with_an_unreachable_broker_fails_fast_and_says_why() {
    let started = Instant::now();
    let (code, out, err) = run(&["demo", "--bootstrap", "127.0.0.1:1", "--timeout", "3"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("cannot reach Kafka at 127.0.0.1:1 within 3 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// inspect against the real broker

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap()).set("socket.timeout.ms", "10000").set("message.timeout.ms", "30000");
    config
}

fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn create_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config().create().expect("admin client");
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))).request_timeout(Some(Duration::from_secs(20)));
    let results = admin.create_topics([&topic], &options).await.unwrap_or_else(|e| {
        panic!("cannot reach the Kafka broker at {} ({e}); start it with `bash scripts/kafka.sh start`", bootstrap())
    });
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("create topic {topic}: {code}"));
    }
}

const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

/// The messages, in order, with the headers each one carries.
fn messages() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let tp = |trace: &str, span: &str, flags: &str| format!("00-{trace}-{span}-{flags}");
    vec![
        (
            "valid",
            vec![
                ("traceparent", tp(TRACE_A, "00f067aa0ba902b7", "01")),
                ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()),
                ("baggage", "userId=alice,tier=gold;p".into()),
            ],
        ),
        ("upper-case", vec![("traceparent", tp(&TRACE_A.to_uppercase(), "00f067aa0ba902b7", "01")), ("tracestate", "rojo=1".into())]),
        ("conflicting", vec![("traceparent", tp(TRACE_A, "00f067aa0ba902b7", "01")), ("TraceParent", tp(TRACE_A, "b7ad6b7169203331", "01"))]),
        ("identical-copies", vec![("traceparent", tp(TRACE_B, "b7ad6b7169203331", "01")), ("TRACEPARENT", format!(" {}\t", tp(TRACE_B, "b7ad6b7169203331", "01")))]),
        ("none", vec![("app-id", "orders".into())]),
        ("bad-tracestate", vec![("traceparent", tp(TRACE_A, "1111111111111111", "00")), ("tracestate", "UPPER=1".into())]),
    ]
}

async fn produce_samples(topic: &str) {
    let producer: FutureProducer = client_config().create().expect("producer");
    for (key, headers) in messages() {
        let mut owned = OwnedHeaders::new();
        for (name, value) in &headers {
            owned = owned.insert(Header { key: name, value: Some(value.as_bytes()) });
        }
        producer
            .send(FutureRecord::to(topic).key(key).payload("{}").partition(0).headers(owned), Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {key} to {topic}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_json_reports_exact_verdicts_from_a_real_broker() {
    let topic = unique_topic("kt-cli-inspect");
    create_topic(&topic).await;
    produce_samples(&topic).await;

    let boot = bootstrap();
    let args = ["inspect", "--bootstrap", boot.as_str(), "--topic", topic.as_str(), "--from-beginning", "--limit", "6", "--json", "--timeout", "30"];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "stderr: {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect --json is not JSON ({e}): {out}"));
    let messages = doc["messages"].as_array().expect("messages");
    let keys: Vec<&str> = messages.iter().map(|m| m["key"].as_str().unwrap_or("?")).collect();
    assert_eq!(keys, ["valid", "upper-case", "conflicting", "identical-copies", "none", "bad-tracestate"], "{out}");
    let offsets: Vec<i64> = messages.iter().map(|m| m["offset"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);

    let valid = &messages[0];
    assert_eq!(
        valid["traceparent"],
        json!({"valid": true, "value": format!("00-{TRACE_A}-00f067aa0ba902b7-01"), "trace_id": TRACE_A, "span_id": "00f067aa0ba902b7", "flags": "01", "sampled": true})
    );
    assert_eq!(valid["tracestate"], json!({"valid": true, "members": [["rojo", "00f067aa0ba902b7"], ["congo", "t61rcWkgMzE"]]}));
    assert_eq!(
        valid["baggage"],
        json!({"entries": [{"key": "userId", "value": "alice", "properties": []}, {"key": "tier", "value": "gold", "properties": ["p"]}], "dropped": 0})
    );
    assert_eq!(valid["duplicate_headers"], json!({}));

    assert_eq!(messages[1]["traceparent"]["valid"], json!(false));
    assert_eq!(messages[1]["traceparent"]["error"], json!("traceparent_trace_id"));
    // An invalid parent means its tracestate is ignored, not reported as discarded.
    assert_eq!(messages[1]["tracestate"], json!({"valid": true, "members": []}));
    assert_eq!(messages[1]["duplicate_headers"], json!({}));

    // Kafka carriers read the last traceparent (the latest hop), and inspect still flags the repeat.
    assert_eq!(messages[2]["traceparent"]["valid"], json!(true));
    assert_eq!(messages[2]["traceparent"]["span_id"], json!("b7ad6b7169203331"));
    assert_eq!(messages[2]["duplicate_headers"], json!({"traceparent": 2}));

    assert_eq!(messages[3]["traceparent"]["valid"], json!(true), "identical copies count once");
    assert_eq!(messages[3]["traceparent"]["trace_id"], json!(TRACE_B));
    assert_eq!(messages[3]["duplicate_headers"], json!({"traceparent": 2}));

    assert_eq!(messages[4]["traceparent"]["valid"], json!(false));
    assert_eq!(messages[4]["traceparent"]["error"], json!("missing"));
    assert_eq!(messages[4]["headers"], json!([{"name": "app-id", "value": "orders"}]));

    assert_eq!(messages[5]["traceparent"]["sampled"], json!(false));
    assert_eq!(messages[5]["tracestate"]["valid"], json!(false));
    assert_eq!(messages[5]["tracestate"]["error"], json!("tracestate_key"));

    for message in messages {
        let latency = message["e2e_latency_ms"].as_f64().expect("record timestamp");
        assert!((0.0..600_000.0).contains(&latency), "{latency}");
    }

    let mut summary = doc["summary"].clone();
    let latency = summary.as_object_mut().and_then(|s| s.remove("e2e_latency_ms")).expect("latency summary");
    assert_eq!(
        summary,
        json!({
            "messages": 6,
            "with_valid_context": 4,
            "coverage_pct": 66.7,
            "missing": 1,
            "invalid": 1,
            "invalid_by_reason": {"traceparent_trace_id": 1},
            "tracestate_discarded_by_reason": {"tracestate_key": 1},
            "baggage_members_dropped": 0,
            "messages_with_duplicate_headers": 2,
            "duplicate_headers_by_name": {"traceparent": 2},
            "distinct_traces": 2,
        })
    );
    assert_eq!(latency["count"], json!(6));
    let p = |k: &str| latency[k].as_f64().unwrap_or_else(|| panic!("{k} in {latency}"));
    assert!(0.0 <= p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("max"), "{latency}");

    // The same topic in text form.
    let (code, out, err) = run(&["inspect", "--bootstrap", boot.as_str(), "--topic", topic.as_str(), "--from-beginning", "--limit", "6", "--timeout", "30"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("  coverage        4/6 (66.7%) with a valid trace context\n"), "{out}");
    assert!(out.contains("  traceparent  INVALID  traceparent_trace_id: "), "{out}");
    assert!(out.contains("  DUPLICATE    traceparent ×2\n"), "{out}");
    assert!(out.contains("  tracestate   DISCARDED tracestate_key: "), "{out}");
}

#[test]
fn inspect_explains_an_unknown_topic_and_an_unreachable_broker() {
    let boot = bootstrap();
    let missing = unique_topic("kt-cli-no-such-topic");
    let (code, _, err) = run(&["inspect", "--bootstrap", boot.as_str(), "--topic", missing.as_str(), "--timeout", "5"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("topic {missing} does not exist")) || err.contains("cannot reach Kafka"), "{err}");

    let started = Instant::now();
    let (code, _, err) = run(&["inspect", "--bootstrap", "127.0.0.1:1", "--topic", "orders", "--timeout", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach Kafka at 127.0.0.1:1"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let (code, _, err) = run(&["inspect", "--topic", "orders"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no bootstrap servers"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// header samples, no broker

#[test]
fn headers_demo_shows_the_forwarded_headers_of_every_sample() {
    let (code, out, err) = run(&["headers-demo"]);
    assert_eq!(code, 0, "stderr: {err}");
    // The forwarded NestJS message keeps its trace, state and baggage under the child span.
    assert!(out.contains("     traceparent: \"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01\"\n     tracestate: \"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123\"\n     baggage: \"userId=alice,cart={%22n%22:3};ttl=60\"\n"), "{out}");
    // The retried message loses its duplicate and its white space.
    assert!(out.contains("     app-id: \"orders\"\n     traceparent: \"00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-03\"\n     tracestate: \"congo=t61rcWkgMzE,rojo=1\"\n\n"), "{out}");
    // Two different parents: the last one (the latest hop) is continued.
    assert!(out.contains("parent:   trace 4bf92f3577b34da6a3ce929d0e0e4736 span b7ad6b7169203331 flags 01 (sampled: true)"), "{out}");
    assert!(out.contains("(traceparent_trace_id)"), "{out}");
    assert_eq!(out.matches("forwarded as child span b7ad6b7169203331:").count(), 4);
}

#[test]
fn decode_json_reports_the_error_code() {
    let (code, out, _) = run(&["decode", "--json", "-H", "traceparent=00-00000000000000000000000000000000-00f067aa0ba902b7-01"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["traceparent"], json!({"valid": false, "error": "traceparent_zero_trace_id"}));
}

#[test]
fn decode_rejects_a_header_without_equals() {
    let (code, _, err) = run(&["decode", "-H", "traceparent"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not NAME=VALUE"), "{err}");
}
