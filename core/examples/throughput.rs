//! rdkafka producer + consumer throughput in three modes, side by side in one run against a real
//! broker (issue 12's benchmark contract):
//!
//! - `none`: plain `FutureProducer::send` and `BaseConsumer::poll`, no tracing;
//! - `kafka-trace`: `TracedProducer::send_in` and `TracedConsumer::process_sync`;
//! - `sdk-floor`: the same two spans per message (a PRODUCER `send {topic}` span around the send,
//!   ended at the acknowledgement with partition and offset; a CONSUMER `process {topic}` span
//!   around the handler, its context attached while the handler runs) started and ended directly
//!   with `opentelemetry_sdk` around the plain rdkafka calls: no kafka-trace logic, no header work.
//!   What kafka-trace costs above the SDK's own cost is the gap between this and `kafka-trace`.
//!
//! Spans go through the SDK's batch processor to a no-op exporter, so the figure is the cost of
//! tracing, not of a collector. Sampling comes from `KT_BENCH_SAMPLING`: `1.0` (default, every
//! span recorded) or a ratio such as `0.01` (`ParentBased(TraceIdRatioBased(0.01))`).
//!
//! Each round runs every mode once, in a rotating order; each run produces `MESSAGES` messages of
//! 100 bytes to a fresh single-partition topic, then consumes them. Reported per mode (median over
//! rounds): messages per second over both phases, and CPU µs per message (this process's
//! user + system CPU time over the same window, divided by the messages; the broker's CPU is not
//! counted). Human output goes to stderr, one `BENCH_ROW {json}` line per mode to stdout.
//!
//! ```sh
//! cargo run --release -p kafka-trace --features rdkafka --example throughput -- [MESSAGES] [ROUNDS]
//! KT_BENCH_SAMPLING=0.01 cargo run --release -p kafka-trace --features rdkafka --example throughput
//! ```
//!
//! Defaults: 20,000 messages, 3 rounds (9 runs, well under 90 s on a quiet 2-core machine).
//! `KT_BENCH_MODES=kafka-trace,none` runs only those modes (e.g. one mode under
//! `valgrind --tool=callgrind` for instructions per message).

#[path = "../benches/support/cpu_clock.rs"]
mod cpu_clock;
#[path = "support/floor.rs"]
mod floor;

use std::time::{Duration, Instant};

use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::testing::trace::NoopSpanExporter;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider, Tracer};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message as _, Offset, TopicPartitionList};

const PAYLOAD: usize = 100;

#[derive(Copy, Clone, Debug, PartialEq)]
enum Mode {
    None,
    KafkaTrace,
    SdkFloor,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::None, Mode::KafkaTrace, Mode::SdkFloor];

    fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::KafkaTrace => "kafka-trace",
            Mode::SdkFloor => "sdk-floor",
        }
    }
}

/// This process's user + system CPU time.
fn process_cpu() -> Duration {
    Duration::from_nanos(cpu_clock::now_ns(cpu_clock::PROCESS))
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into()));
    c
}

async fn fresh_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> = config().create().expect("admin");
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for r in admin.create_topics([&topic], &AdminOptions::new()).await.expect("broker reachable") {
        r.expect("topic created");
    }
}

fn consumer(topic: &str) -> BaseConsumer {
    let c: BaseConsumer =
        config().set("group.id", format!("{topic}-g")).set("enable.auto.commit", "false").create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    c
}

/// The SDK floor's send: its span around the plain send.
async fn floor_send(tracer: &Tracer, producer: &FutureProducer, topic: &str, payload: &[u8]) -> bool {
    let span = floor::send_span(tracer, topic, payload.len());
    let result = producer.send(FutureRecord::<(), _>::to(topic).payload(payload), Duration::from_secs(30)).await;
    floor::end_send(span, result.as_ref().ok().map(|d| (d.partition, d.offset)));
    result.is_ok()
}

/// The SDK floor's process span around a handler, its context current while the handler runs.
fn floor_process<R>(tracer: &Tracer, message: &rdkafka::message::BorrowedMessage<'_>, handler: impl FnOnce() -> R) -> R {
    let at = (message.topic(), message.partition(), message.offset());
    floor::process(tracer, at, message.payload().map_or(0, <[u8]>::len), handler)
}

struct Measured {
    msgs_per_s: f64,
    cpu_us_per_msg: f64,
}

/// Produces then consumes `n` messages in `mode`.
async fn run(n: usize, mode: Mode, provider: &SdkTracerProvider, round: usize) -> Measured {
    let topic = format!("kt-throughput-{}-{round}-{}", mode.name(), std::process::id());
    fresh_topic(&topic).await;
    let payload = vec![b'x'; PAYLOAD];
    let mut pc = config();
    pc.set("linger.ms", "5").set("acks", "1");
    let tracer = provider.tracer("throughput");
    let plain: FutureProducer = pc.create().expect("producer");
    let traced_producer = TracedProducer::new(&pc, tracer.clone(), TraceConfig::default()).expect("producer");
    let traced_consumer = TracedConsumer::new(&config(), tracer.clone(), TraceConfig::default());
    let c = consumer(&topic);
    let root = Context::new();

    let (start, cpu_start) = (Instant::now(), process_cpu());
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(10_000) {
        let ok = match mode {
            Mode::None => futures::future::join_all(chunk.iter().map(|_| {
                plain.send(FutureRecord::<(), _>::to(&topic).payload(&payload), Duration::from_secs(30))
            }))
            .await
            .iter()
            .all(Result::is_ok),
            Mode::KafkaTrace => futures::future::join_all(chunk.iter().map(|_| {
                traced_producer.send_in(&root, FutureRecord::<(), _>::to(&topic).payload(&payload), Duration::from_secs(30))
            }))
            .await
            .iter()
            .all(Result::is_ok),
            Mode::SdkFloor => futures::future::join_all(chunk.iter().map(|_| floor_send(&tracer, &plain, &topic, &payload)))
                .await
                .into_iter()
                .all(|ok| ok),
        };
        assert!(ok, "a send failed");
    }
    let mut received = 0usize;
    let mut bytes = 0usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < n {
        assert!(Instant::now() < deadline, "{mode:?}: only {received} of {n} messages consumed in 120 s");
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let mut handle = || {
                bytes += m.payload().map_or(0, <[u8]>::len);
                Ok::<_, std::io::Error>(())
            };
            match mode {
                Mode::None => handle().expect("handled"),
                Mode::KafkaTrace => traced_consumer.process_sync(&m, handle).expect("handled"),
                Mode::SdkFloor => floor_process(&tracer, &m, handle).expect("handled"),
            }
            received += 1;
        }
    }
    let (elapsed, cpu) = (start.elapsed(), process_cpu() - cpu_start);
    assert_eq!(bytes, n * PAYLOAD);
    Measured { msgs_per_s: n as f64 / elapsed.as_secs_f64(), cpu_us_per_msg: cpu.as_secs_f64() * 1e6 / n as f64 }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let ratio: f64 = std::env::var("KT_BENCH_SAMPLING").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let (sampler, sampling) = if ratio >= 1.0 {
        (Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), "full".to_owned())
    } else {
        (Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))), format!("{}%", ratio * 100.0))
    };
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter::new()).build())
        .build();

    let selected = std::env::var("KT_BENCH_MODES").unwrap_or_default();
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| selected.is_empty() || selected.split(',').any(|s| s.trim() == m.name()))
        .collect();
    assert!(!modes.is_empty(), "KT_BENCH_MODES selects none of none, kafka-trace, sdk-floor");
    let mut results: Vec<Vec<Measured>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Rotate the order so warm-up and broker state favour no mode.
        for k in 0..modes.len() {
            let i = (k + round) % modes.len();
            let m = run(n, modes[i], &provider, round).await;
            eprintln!("round {round}: {:<11} {:>9.0} msg/s {:>7.2} µs CPU/msg", modes[i].name(), m.msgs_per_s, m.cpu_us_per_msg);
            results[i].push(m);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("\n{n} x {PAYLOAD} B, {rounds} rounds, sampling {sampling}, load average {}", load.trim());
    eprintln!("| mode | msg/s (median) | CPU µs/msg (median) | msg/s vs none |");
    eprintln!("|---|---:|---:|---:|");
    let none = modes.iter().position(|m| *m == Mode::None).map(|i| median(results[i].iter().map(|m| m.msgs_per_s).collect()));
    for (mode, runs) in modes.iter().zip(&results) {
        let rate = median(runs.iter().map(|m| m.msgs_per_s).collect());
        let cpu = median(runs.iter().map(|m| m.cpu_us_per_msg).collect());
        let vs_none = none.map_or_else(|| "–".to_owned(), |none| format!("{:.1}%", 100.0 * rate / none));
        eprintln!("| {} | {rate:.0} | {cpu:.2} | {vs_none} |", mode.name());
        println!(
            "BENCH_ROW {{\"group\": \"rust-rdkafka\", \"row\": \"produce + consume {n} x {PAYLOAD} B (rdkafka FutureProducer + BaseConsumer)\", \"mode\": \"{}\", \"sampling\": \"{sampling}\", \"value\": {rate:.0}, \"unit\": \"msg/s\", \"cpu_us_per_msg\": {cpu:.3}}}",
            mode.name()
        );
    }
    let _ = provider.shutdown();
}
