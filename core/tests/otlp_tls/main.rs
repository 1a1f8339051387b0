//! OTLP to a real backend: TLS with a private CA, an `api-key` header, http/protobuf and gRPC,
//! mutual TLS and gzip — configured only through the standard `OTEL_EXPORTER_OTLP_*` environment
//! of the `kafka-trace demo` binary, received by a local TLS receiver ([`receiver`]) that checks
//! the header and counts the spans. Certificates come from `scripts/otlp-tls-certs.sh` (openssl).
//!
//! Every demo run must finish (a deadline kills it and fails the test): a wrong CA, header or
//! missing client certificate costs spans — counted as failed or dropped — never messages.

mod receiver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kafka_trace::otlp::{OtlpConfig, Protocol, Telemetry};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _};
use receiver::Receiver;
use serde_json::Value;

const API_KEY: &str = "NRAK-test key/with=odd chars";
/// The same key as OTEL_EXPORTER_OTLP_HEADERS spells it (W3C baggage-style, percent-encoded).
const API_KEY_HEADER: &str = "api-key=NRAK-test%20key%2Fwith%3Dodd%20chars";
const MESSAGES: usize = 5;
/// Spans per demo message: GET /orders/{i}, send orders (web); process orders, send shipments
/// (worker); process shipments (shipper).
const SPANS_PER_MESSAGE: usize = 5;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// The certificates of scripts/otlp-tls-certs.sh, made once per test process.
fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kafka-trace-otlp-tls-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/otlp-tls-certs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run otlp-tls-certs.sh");
        assert!(
            out.status.success(),
            "otlp-tls-certs.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn cert(name: &str) -> String {
    certs().join(name).display().to_string()
}

/// What one `kafka-trace demo --json` run printed.
#[derive(Debug)]
struct DemoRun {
    code: i32,
    stderr: String,
    /// Spans in the printed traces (the in-memory copy the demo checks).
    printed_spans: usize,
    complete_chains: u64,
}

impl DemoRun {
    /// `(exported, total)` from "exported all N spans" or "only E of N spans reached ...".
    fn exported_of(&self) -> (usize, usize) {
        if let Some(rest) = self.stderr.split("exported all ").nth(1) {
            let n = rest.split_whitespace().next().unwrap().parse().unwrap();
            return (n, n);
        }
        let rest = self
            .stderr
            .split("only ")
            .nth(1)
            .unwrap_or_else(|| panic!("no OTLP summary in: {}", self.stderr));
        let words: Vec<&str> = rest.split_whitespace().collect();
        (words[0].parse().unwrap(), words[2].parse().unwrap())
    }

    /// `(refused or unreachable, dropped)` of the warning line.
    fn failed_and_dropped(&self) -> (usize, usize) {
        let rest = self
            .stderr
            .split("OTLP collector at ")
            .nth(1)
            .expect("warning line");
        let inside = rest.split('(').nth(1).unwrap().split(')').next().unwrap();
        let numbers: Vec<usize> = inside
            .split_whitespace()
            .filter_map(|w| w.trim_end_matches(',').parse().ok())
            .collect();
        (numbers[0], numbers[1])
    }
}

/// Runs the demo with exactly the OTLP variables given (none inherited), on the embedded mock
/// cluster unless `bootstrap_topics` names a broker and topics; kills it after 120 s.
fn demo(env: &[(&str, String)], bootstrap_topics: Option<(&str, &str, &str)>) -> DemoRun {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-trace"));
    command.args([
        "demo",
        "--json",
        "--messages",
        &MESSAGES.to_string(),
        "--timeout",
        "60",
    ]);
    if let Some((bootstrap, orders, shipments)) = bootstrap_topics {
        command.args([
            "--bootstrap",
            bootstrap,
            "--orders-topic",
            orders,
            "--shipments-topic",
            shipments,
        ]);
    }
    command.env_remove("KAFKA_BOOTSTRAP");
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start kafka-trace demo");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kafka-trace demo hung for 120 s; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("demo --json ({e}): {stdout}\nstderr: {stderr}"));
    let printed_spans = doc["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| t["spans"].as_array().unwrap().len())
        .sum();
    DemoRun {
        code: out.status.code().unwrap_or(-1),
        stderr,
        printed_spans,
        complete_chains: doc["complete_chains"].as_u64().unwrap_or(0),
    }
}

fn https(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

fn expected_by_service() -> BTreeMap<String, usize> {
    BTreeMap::from([
        ("web".to_owned(), 2 * MESSAGES),
        ("worker".to_owned(), 2 * MESSAGES),
        ("shipper".to_owned(), MESSAGES),
    ])
}

/// The demo completed and every span it printed reached the receiver, exactly once.
fn assert_all_arrived(run: &DemoRun, receiver: &Receiver, endpoint: &str) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.complete_chains, MESSAGES as u64, "{}", run.stderr);
    assert_eq!(run.printed_spans, MESSAGES * SPANS_PER_MESSAGE);
    assert!(
        run.stderr.contains(&format!(
            "exported all {} spans over OTLP to {endpoint}",
            run.printed_spans
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("OTLP export of"),
        "no export failed: {}",
        run.stderr
    );
    let counts = receiver.counts();
    assert_eq!(counts.spans, run.printed_spans, "{counts:?}");
    assert_eq!(counts.by_service, expected_by_service(), "{counts:?}");
    assert_eq!(counts.traces, MESSAGES, "{counts:?}");
    assert_eq!(counts.unauthorized, 0, "{counts:?}");
}

/// The demo completed, the receiver got nothing, and every span is counted as failed or dropped.
/// `cause` must appear in the failure line, so a user can tell what is wrong.
fn assert_none_arrived(run: &DemoRun, receiver: &Receiver, cause: &str) -> (usize, usize) {
    assert_eq!(run.code, 0, "the messages are not affected: {}", run.stderr);
    assert_eq!(run.complete_chains, MESSAGES as u64, "{}", run.stderr);
    let total = MESSAGES * SPANS_PER_MESSAGE;
    assert_eq!(run.printed_spans, total);
    assert_eq!(run.exported_of(), (0, total), "{}", run.stderr);
    let (failed, dropped) = run.failed_and_dropped();
    assert_eq!(failed + dropped, total, "{}", run.stderr);
    assert_eq!(receiver.counts().spans, 0, "{:?}", receiver.counts());
    // One line per failing pipeline (three services), not one per batch or span.
    let failures: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("kafka-trace: OTLP export of"))
        .collect();
    for line in &failures {
        eprintln!("  demo said: {line}");
    }
    let lines = failures.len();
    assert!(
        (1..=3).contains(&lines),
        "{lines} failure lines: {}",
        run.stderr
    );
    assert!(
        failures.iter().all(|l| l.contains(cause)),
        "the failure lines name {cause:?}: {failures:#?}"
    );
    (failed, dropped)
}

#[test]
fn http_protobuf_over_tls_with_private_ca_and_api_key_delivers_every_span() {
    let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
    let endpoint = https(receiver.http_port);
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let (orders, shipments) = (
        format!("kt-otlp-tls-orders-{unique}"),
        format!("kt-otlp-tls-shipments-{unique}"),
    );
    let bootstrap =
        std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    let run = demo(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("ca.pem")),
            ("OTEL_EXPORTER_OTLP_HEADERS", API_KEY_HEADER.to_owned()),
        ],
        Some((&bootstrap, &orders, &shipments)),
    );
    assert_all_arrived(&run, &receiver, &endpoint);
    assert_eq!(receiver.counts().gzip_requests, 0);
}

#[test]
fn grpc_over_tls_with_private_ca_and_api_key_delivers_every_span() {
    let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
    let endpoint = https(receiver.grpc_port);
    let run = demo(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("ca.pem")),
            ("OTEL_EXPORTER_OTLP_HEADERS", API_KEY_HEADER.to_owned()),
        ],
        None,
    );
    assert_all_arrived(&run, &receiver, &endpoint);
}

#[test]
fn signal_specific_variables_win_over_the_generic_ones() {
    // The generic endpoint points at a closed port and the generic CA is the wrong one: only the
    // TRACES_ variables can make the spans arrive.
    let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = demo(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", https(closed)),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", https(receiver.http_port)),
            ),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("other-ca.pem")),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", cert("ca.pem")),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=wrong".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                API_KEY_HEADER.to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "http/protobuf".to_owned(),
            ),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The demo names the generic endpoint in its summary; the receiver's count is the proof.
    assert_eq!(
        run.exported_of(),
        (MESSAGES * SPANS_PER_MESSAGE, MESSAGES * SPANS_PER_MESSAGE),
        "{}",
        run.stderr
    );
    assert_eq!(receiver.counts().spans, MESSAGES * SPANS_PER_MESSAGE);
    assert_eq!(receiver.counts().by_service, expected_by_service());
}

#[test]
fn a_wrong_ca_exports_nothing_and_the_demo_completes() {
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
        let port = if protocol == "grpc" {
            receiver.grpc_port
        } else {
            receiver.http_port
        };
        let started = Instant::now();
        let run = demo(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", https(port)),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("other-ca.pem")),
                ("OTEL_EXPORTER_OTLP_HEADERS", API_KEY_HEADER.to_owned()),
            ],
            None,
        );
        let (failed, dropped) =
            assert_none_arrived(&run, &receiver, "invalid peer certificate: UnknownIssuer");
        eprintln!(
            "{protocol} wrong CA: failed {failed}, dropped {dropped}, {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(
            receiver.counts().unauthorized,
            0,
            "no request got through the handshake"
        );
        if protocol == "http/protobuf" {
            assert!(
                receiver.counts().failed_handshakes > 0,
                "{:?}",
                receiver.counts()
            );
        }
    }
}

#[test]
fn a_wrong_api_key_is_refused_counted_and_logged_once() {
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
        let port = if protocol == "grpc" {
            receiver.grpc_port
        } else {
            receiver.http_port
        };
        let run = demo(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", https(port)),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("ca.pem")),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=wrong".to_owned()),
            ],
            None,
        );
        let cause = if protocol == "grpc" {
            "gRPC code: Unauthenticated"
        } else {
            "status code: 401"
        };
        let (failed, dropped) = assert_none_arrived(&run, &receiver, cause);
        assert_eq!(
            (failed, dropped),
            (MESSAGES * SPANS_PER_MESSAGE, 0),
            "{protocol}: every span reached the refusing receiver"
        );
        assert!(
            receiver.counts().unauthorized >= 3,
            "{protocol}: one refused request per service at least: {:?}",
            receiver.counts()
        );
    }
}

#[test]
fn mutual_tls_with_gzip_over_both_protocols() {
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start(runtime(), certs(), API_KEY, true);
        let port = if protocol == "grpc" {
            receiver.grpc_port
        } else {
            receiver.http_port
        };
        let endpoint = https(port);
        let base = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", cert("ca.pem")),
            ("OTEL_EXPORTER_OTLP_HEADERS", API_KEY_HEADER.to_owned()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
        ];
        // Without a client certificate the receiver refuses the handshake.
        let run = demo(&base, None);
        // The client notices the refusal in the handshake or on the first read.
        assert_none_arrived(&run, &receiver, "failed");
        // With one, everything arrives, gzip-compressed.
        let mut with_identity = base.clone();
        with_identity.push(("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert("client.pem")));
        with_identity.push(("OTEL_EXPORTER_OTLP_CLIENT_KEY", cert("client.key")));
        let run = demo(&with_identity, None);
        assert_all_arrived(&run, &receiver, &endpoint);
        let counts = receiver.counts();
        assert!(
            counts.gzip_requests >= 3 && counts.gzip_requests == counts.span_requests,
            "{protocol}: {counts:?}"
        );
    }
}

/// The C ABI's path: `Telemetry` from an explicit `OtlpConfig` (no environment), spans and
/// metrics over gRPC with TLS and the header.
#[test]
fn telemetry_from_explicit_config_exports_spans_and_metrics_over_grpc() {
    let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
    let telemetry = Telemetry::new(&OtlpConfig {
        service_name: Some("explicit-config".into()),
        endpoint: Some(https(receiver.grpc_port)),
        protocol: Some(Protocol::Grpc),
        headers: vec![("api-key".into(), API_KEY.into())],
        certificate: Some(certs().join("ca.pem")),
        export_timeout: Some(Duration::from_secs(5)),
        ..OtlpConfig::default()
    })
    .expect("setup");
    let tracer = telemetry.tracer();
    for i in 0..100 {
        tracer.start(format!("span {i}")).end();
    }
    telemetry
        .meter_provider
        .meter("otlp-tls-test")
        .u64_counter("kt.test.count")
        .build()
        .add(7, &[]);
    let stats = telemetry.shutdown(Duration::from_secs(10));
    assert_eq!(
        (
            stats.ended,
            stats.exported,
            stats.export_failed,
            stats.dropped
        ),
        (100, 100, 0, 0),
        "{stats:?}"
    );
    let counts = receiver.counts();
    assert_eq!(counts.spans, 100, "{counts:?}");
    assert_eq!(
        counts.by_service,
        BTreeMap::from([("explicit-config".to_owned(), 100)])
    );
    assert!(
        counts.metric_names.iter().any(|n| n == "kt.test.count"),
        "{counts:?}"
    );
}

/// The same over http/protobuf, also from within a Tokio runtime (the blocking HTTP client must
/// not be built or dropped on a runtime thread).
#[test]
fn telemetry_from_explicit_config_exports_over_http_inside_a_runtime() {
    let receiver = Receiver::start(runtime(), certs(), API_KEY, false);
    let endpoint = https(receiver.http_port);
    let stats = runtime().block_on(async move {
        let telemetry = Telemetry::new(&OtlpConfig {
            service_name: Some("explicit-http".into()),
            endpoint: Some(endpoint),
            headers: vec![("api-key".into(), API_KEY.into())],
            certificate: Some(certs().join("ca.pem")),
            export_timeout: Some(Duration::from_secs(5)),
            ..OtlpConfig::default()
        })
        .expect("setup");
        let tracer = telemetry.tracer();
        for i in 0..50 {
            tracer.start(format!("span {i}")).end();
        }
        telemetry
            .meter_provider
            .meter("otlp-tls-test")
            .u64_counter("kt.test.http")
            .build()
            .add(1, &[]);
        tokio::task::spawn_blocking(move || telemetry.shutdown(Duration::from_secs(10)))
            .await
            .unwrap()
    });
    assert_eq!(
        (
            stats.ended,
            stats.exported,
            stats.export_failed,
            stats.dropped
        ),
        (50, 50, 0, 0),
        "{stats:?}"
    );
    let counts = receiver.counts();
    assert_eq!(counts.spans, 50, "{counts:?}");
    assert!(
        counts.metric_names.iter().any(|n| n == "kt.test.http"),
        "{counts:?}"
    );
}
