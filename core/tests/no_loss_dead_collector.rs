//! 100,000 traced messages through a real broker while the OTLP collector is unreachable:
//! every message arrives, in order, exactly once, and every span is accounted for.

mod support;

use std::time::Duration;

use futures::future::join_all;
use kafka_trace::otlp::{OtlpConfig, Telemetry};
use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::Context;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;
use support::*;

const MESSAGES: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_loses_no_message() {
    let topic = unique_topic("kt-dead-collector");
    create_topic(&topic, 1).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let telemetry = Telemetry::new(&OtlpConfig {
        service_name: Some("no-loss-test".into()),
        endpoint: Some(format!("http://127.0.0.1:{closed}")),
        export_timeout: Some(Duration::from_millis(500)),
        max_queue_size: Some(2048),
        ..OtlpConfig::default()
    })
    .expect("telemetry");

    let mut pc = config();
    pc.set("linger.ms", "5").set("enable.idempotence", "true").set("acks", "all");
    let producer = TracedProducer::new(&pc, telemetry.tracer(), TraceConfig::default()).expect("producer");
    let payloads: Vec<String> = (0..MESSAGES).map(|i| format!("{i:0>100}")).collect();
    let root = Context::new();
    for chunk in payloads.chunks(10_000) {
        let sends = chunk.iter().map(|p| producer.send_in(&root, FutureRecord::<(), _>::to(&topic).payload(p), Duration::from_secs(30)));
        for result in join_all(sends).await {
            result.map_err(|(e, _)| e).expect("every message is delivered");
        }
    }

    let consumer = TracedConsumer::new(&consumer_config(&topic), telemetry.tracer(), TraceConfig::default());
    let messages = consume(&assigned_consumer(&topic, 1), MESSAGES, Duration::from_secs(180));
    let mut next = 0usize;
    for message in &messages {
        consumer
            .process_sync(message, || {
                let payload = std::str::from_utf8(message.payload().unwrap_or_default()).unwrap();
                let index: usize = payload.parse().unwrap();
                assert_eq!(index, next, "out of order or duplicated at offset {}", message.offset());
                next += 1;
                Ok::<_, std::io::Error>(())
            })
            .unwrap();
    }
    assert_eq!(next, MESSAGES);

    let stats = telemetry.shutdown(Duration::from_secs(2));
    assert_eq!(stats.ended, 2 * MESSAGES as u64, "a send and a process span per message: {stats:?}");
    assert_eq!(stats.exported, 0);
    assert_eq!(stats.export_failed + stats.dropped, stats.ended, "{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");
    eprintln!("span accounting with a dead collector: {stats:?}");
}
