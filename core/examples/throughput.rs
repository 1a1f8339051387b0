//! rdkafka producer + consumer throughput with and without tracing, side by side in one run
//! against a real broker. Spans go through the SDK's batch processor to a no-op exporter, so the
//! figure is the cost of tracing itself, not of a collector.
//!
//! `cargo run --release -p kafka-trace --features rdkafka --example throughput -- [MESSAGES] [ROUNDS]`

use std::time::{Duration, Instant};

use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::testing::trace::NoopSpanExporter;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

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
    let c: BaseConsumer = config().set("group.id", format!("{topic}-g")).set("enable.auto.commit", "false").create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).expect("tpl");
    c.assign(&tpl).expect("assign");
    c
}

/// Produces then consumes `n` messages; returns messages per second over both phases.
async fn run(n: usize, traced: bool, provider: &SdkTracerProvider, round: usize) -> f64 {
    let topic = format!("kt-throughput-{}-{round}-{}", if traced { "traced" } else { "plain" }, std::process::id());
    fresh_topic(&topic).await;
    let payload = vec![b'x'; 100];
    let mut pc = config();
    pc.set("linger.ms", "5").set("acks", "1");
    let tracer = provider.tracer("throughput");
    let start = Instant::now();
    let plain: FutureProducer = pc.create().expect("producer");
    let traced_producer = TracedProducer::new(&pc, tracer.clone(), TraceConfig::default()).expect("producer");
    let root = Context::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let results = if traced {
            futures::future::join_all(chunk.iter().map(|_| traced_producer.send_in(&root, FutureRecord::<(), _>::to(&topic).payload(&payload), Duration::from_secs(30)))).await
        } else {
            futures::future::join_all(chunk.iter().map(|_| plain.send(FutureRecord::<(), _>::to(&topic).payload(&payload), Duration::from_secs(30)))).await
        };
        assert!(results.iter().all(Result::is_ok), "a send failed");
    }
    let consumer_helper = TracedConsumer::new(&config(), tracer, TraceConfig::default());
    let c = consumer(&topic);
    let mut received = 0usize;
    let mut bytes = 0usize;
    while received < n {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.expect("consume");
            let mut handle = || {
                bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
                Ok::<_, std::io::Error>(())
            };
            if traced {
                consumer_helper.process_sync(&m, handle).expect("handled");
            } else {
                handle().expect("handled");
            }
            received += 1;
        }
    }
    assert_eq!(bytes, n * 100);
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let provider = SdkTracerProvider::builder().with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter::new()).build()).build();
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so warm-up and broker state do not favour one side.
        if round % 2 == 0 {
            plain.push(run(n, false, &provider, round).await);
            traced.push(run(n, true, &provider, round).await);
        } else {
            traced.push(run(n, true, &provider, round).await);
            plain.push(run(n, false, &provider, round).await);
        }
        eprintln!("round {round}: plain {:.0} msg/s, traced {:.0} msg/s", plain[round], traced[round]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (p, t) = (median(&mut plain), median(&mut traced));
    println!("| messages | rounds | untraced msg/s (median) | traced msg/s (median) | traced / untraced |");
    println!("|---|---|---|---|---|");
    println!("| {n} x 100 B | {rounds} | {p:.0} | {t:.0} | {:.1}% |", 100.0 * t / p);
    let _ = provider.shutdown();
}
