//! The Rust service of the example topology: consumes a topic with rdkafka and handles every
//! message inside a `process {topic}` span that continues the producer's trace (strategy
//! `parent`), exported over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (Jaeger, a collector).
//!
//! ```sh
//! cargo run -p kafka-trace --features rdkafka,otlp --example rust_consumer -- [BOOTSTRAP GROUP TOPIC [COUNT]]
//! ```
//! Arguments fall back to `KAFKA_BOOTSTRAP_SERVERS` (default 127.0.0.1:9092), `GROUP_ID` (default
//! `rust-consumer`) and `IN_TOPIC` (default `order.packed`, with `TOPIC_PREFIX` in front); COUNT 0 or
//! absent means run until killed. `OTEL_SERVICE_NAME` defaults to `rust-consumer`.
//!
//! Prints one line per message: `process TOPIC PARTITION OFFSET TRACE_ID SPAN_ID E2E_MS`, where the
//! ids are those of the process span (so a test can match the line to the trace in the backend).
//! Spans leave through the SDK's batch processor (`OTEL_BSP_SCHEDULE_DELAY`, default 5000 ms; the
//! dev stack sets 200 ms), so killing the process loses at most that window of spans, never a
//! message: offsets are committed only after the handler ran.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_trace::otlp::{OtlpConfig, Telemetry};
use kafka_trace::rdkafka::{TraceConfig, TracedConsumer};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::Message;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: rust_consumer [BOOTSTRAP GROUP TOPIC [COUNT]]  (env KAFKA_BOOTSTRAP_SERVERS, GROUP_ID, IN_TOPIC, TOPIC_PREFIX)");
        return;
    }
    let prefix = env_or("TOPIC_PREFIX", "");
    let bootstrap = args.first().cloned().unwrap_or_else(|| env_or("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
    let group = args.get(1).cloned().unwrap_or_else(|| env_or("GROUP_ID", "rust-consumer"));
    let topic = args.get(2).cloned().unwrap_or_else(|| env_or("IN_TOPIC", &format!("{prefix}order.packed")));
    let count: u64 = args.get(3).map(|c| c.parse().expect("COUNT is a number")).unwrap_or(0);
    let service = env_or("OTEL_SERVICE_NAME", "rust-consumer");

    let telemetry = Telemetry::new(&OtlpConfig { service_name: Some(service.clone()), ..OtlpConfig::default() }).expect("OTLP setup");
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("client.id", &service)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "true")
        .set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let traced = TracedConsumer::new(&config, telemetry.tracer(), TraceConfig::default());
    eprintln!("{service}: consuming {topic} on {bootstrap} as group {group}");

    let mut seen = 0u64;
    let stdout = std::io::stdout();
    while count == 0 || seen < count {
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                eprintln!("{service}: consume error: {e}");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let _ = traced.process_sync(&message, || {
            // The handler: the process span is the current context here.
            let cx = Context::current();
            let span = cx.span();
            let sc = span.span_context();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let e2e = message.timestamp().to_millis().map_or(-1, |t| (now - t).max(0));
            let mut out = stdout.lock();
            writeln!(
                out,
                "process {} {} {} {} {} {e2e}",
                message.topic(),
                message.partition(),
                message.offset(),
                hex(&sc.trace_id().to_bytes()),
                hex(&sc.span_id().to_bytes())
            )?;
            out.flush()
        });
        if let Err(e) = consumer.commit_message(&message, CommitMode::Async) {
            eprintln!("{service}: commit: {e}");
        }
        seen += 1;
    }
    let stats = telemetry.shutdown(Duration::from_secs(5));
    eprintln!("{service}: {seen} messages; spans {stats:?}");
}
