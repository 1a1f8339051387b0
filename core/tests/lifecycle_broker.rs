//! The lifecycle through the rdkafka helpers on the real broker: bounded metric series
//! (1,000 messages over 3 partitions) and sampling by the remote parent.
#![cfg(feature = "rdkafka")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::join_all;
use kafka_trace::lifecycle::METRIC_ATTRIBUTE_KEYS;
use kafka_trace::otel::Instruments;
use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use support::*;

fn tracing() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    (exporter, provider)
}

/// One traced receive call: up to `max` messages, returning as soon as some arrived and the
/// next poll is empty (or after 200 ms).
fn receive_batch(consumer: &BaseConsumer, max: usize) -> Result<Vec<OwnedMessage>, KafkaError> {
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut batch = Vec::new();
    while batch.len() < max && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => batch.push(m.detach()),
            Some(Err(e)) => return Err(e),
            None if !batch.is_empty() => break,
            None => {}
        }
    }
    Ok(batch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_over_three_partitions_make_a_handful_of_series() {
    const MESSAGES: usize = 1_000;
    let topic = unique_topic("kt-cardinality");
    create_topic(&topic, 3).await;
    let (_spans, tracer_provider) = tracing();
    let tracer = tracer_provider.tracer("cardinality");
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(metrics.clone()).build()).build();
    let config = TraceConfig { metrics: Some(Instruments::new(&meter_provider.meter("cardinality"))), ..TraceConfig::default() };

    let producer = TracedProducer::new(&config_with("client.id", "card-producer"), tracer.clone(), config.clone()).expect("producer");
    let keys: Vec<String> = (0..MESSAGES).map(|i| format!("key-{i}")).collect();
    let root = Context::new();
    let sends = keys.iter().map(|key| {
        producer.send_in(&root, FutureRecord::to(&topic).key(key).payload("x"), Duration::from_secs(30))
    });
    let mut per_partition = BTreeMap::new();
    for result in join_all(sends).await {
        let delivery = result.map_err(|(e, _)| e).expect("delivered");
        *per_partition.entry(delivery.partition).or_insert(0) += 1;
    }
    assert_eq!(per_partition.len(), 3, "the keys spread over the 3 partitions: {per_partition:?}");

    let consumer = TracedConsumer::new(&consumer_config(&topic), tracer.clone(), config);
    let source = assigned_consumer(&topic, 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handled = 0;
    while handled < MESSAGES {
        assert!(Instant::now() < deadline, "only {handled} of {MESSAGES} messages within 60 s");
        let received = consumer.receive(|| receive_batch(&source, 250)).expect("receive");
        consumer
            .process_received(&received, |_| {
                handled += 1;
                Ok::<_, std::io::Error>(())
            })
            .expect("handled");
    }
    assert_eq!(handled, MESSAGES);

    meter_provider.force_flush().expect("flush");
    let exported = metrics.get_finished_metrics().expect("metrics");
    let last = exported.last().expect("an export");
    // name -> (attribute sets, total count)
    let mut series: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for metric in last.scope_metrics().flat_map(|sm| sm.metrics()) {
        let entry = series.entry(metric.name().to_owned()).or_default();
        let mut add = |attributes: Vec<(String, String)>, count: u64| {
            for (key, _) in &attributes {
                assert!(METRIC_ATTRIBUTE_KEYS.contains(&key.as_str()), "{}: unbounded key {key}", metric.name());
            }
            entry.0.insert(format!("{attributes:?}"));
            entry.1 += count;
        };
        let sorted = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            let mut v: Vec<(String, String)> = it.map(|kv| (kv.key.to_string(), kv.value.to_string())).collect();
            v.sort();
            v
        };
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                for p in sum.data_points() {
                    add(sorted(&mut p.attributes()), p.value());
                }
            }
            AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                for p in h.data_points() {
                    add(sorted(&mut p.attributes()), p.count());
                }
            }
            _ => panic!("{}: unexpected aggregation", metric.name()),
        }
    }
    let shape: BTreeMap<&str, usize> = series.iter().map(|(name, (sets, _))| (name.as_str(), sets.len())).collect();
    // Per partition for send (the acknowledged partition) and process; one series for receive.
    let want: BTreeMap<&str, usize> = [
        ("kafka_trace.e2e.latency", 3),
        ("messaging.client.consumed.messages", 3),
        ("messaging.client.operation.duration", 3 + 1),
        ("messaging.client.sent.messages", 3),
        ("messaging.process.duration", 3),
    ]
    .into_iter()
    .collect();
    assert_eq!(shape, want, "attribute sets per instrument: {series:#?}");
    assert_eq!(series["messaging.client.sent.messages"].1, MESSAGES as u64);
    assert_eq!(series["messaging.client.consumed.messages"].1, MESSAGES as u64);
    assert_eq!(series["messaging.process.duration"].1, MESSAGES as u64);
}

fn config_with(key: &str, value: &str) -> rdkafka::ClientConfig {
    let mut c = config();
    c.set(key, value).set("message.timeout.ms", "10000");
    c
}

fn traceparent_of(message: &OwnedMessage) -> String {
    let headers = message.headers().expect("headers");
    let header = headers.iter().find(|h| h.key == "traceparent").expect("a traceparent");
    String::from_utf8(header.value.expect("a value").to_vec()).expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_parent_decides_sampling_and_a_forward_keeps_its_trace() {
    let (input, output) = (unique_topic("kt-sampling-in"), unique_topic("kt-sampling-out"));
    create_topic(&input, 1).await;
    create_topic(&output, 1).await;
    let plain: FutureProducer = config().create().expect("producer");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    for flags in ["00", "01"] {
        let tp = format!("00-{trace_id}-00f067aa0ba902b7-{flags}");
        let headers = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(&tp) });
        plain.send(FutureRecord::<(), _>::to(&input).payload(flags).headers(headers), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");
    }
    let (spans, tracer_provider) = tracing();
    let tracer = tracer_provider.tracer("sampling");
    let producer = TracedProducer::new(&config_with("client.id", "forwarder"), tracer.clone(), TraceConfig::default()).expect("producer");
    let consumer = TracedConsumer::new(&consumer_config(&input), tracer.clone(), TraceConfig::default());
    let messages = consume(&assigned_consumer(&input, 1), 2, Duration::from_secs(30));
    let mut recording = Vec::new();
    for message in &messages {
        let payload = std::str::from_utf8(message.payload().expect("payload")).expect("text").to_owned();
        let forwarded = consumer
            .process(message, || async {
                recording.push((payload.clone(), Context::current().span().is_recording()));
                producer.send(FutureRecord::<(), _>::to(&output).payload(&payload), Duration::from_secs(10)).await.map_err(|(e, _)| e)
            })
            .await;
        forwarded.expect("forwarded");
    }
    assert_eq!(recording, vec![("00".to_owned(), false), ("01".to_owned(), true)]);

    let out = consume(&assigned_consumer(&output, 1), 2, Duration::from_secs(30));
    for message in &out {
        let flags = std::str::from_utf8(message.payload().unwrap()).unwrap();
        let tp = traceparent_of(message);
        assert!(tp.starts_with(&format!("00-{trace_id}-")), "{tp}: the forward left the trace");
        assert!(tp.ends_with(&format!("-{flags}")), "{tp}: want flags {flags}");
        assert_ne!(&tp[36..52], "00f067aa0ba902b7", "the forward writes its own span id");
    }
    let _ = tracer_provider.force_flush();
    let exported = spans.get_finished_spans().expect("spans");
    let names: BTreeSet<String> = exported.iter().map(|s| s.name.to_string()).collect();
    // Only the sampled message's process and forward spans are exported.
    assert_eq!(exported.len(), 2, "{names:?}");
    assert_eq!(names, [format!("process {input}"), format!("send {output}")].into_iter().collect());
    assert!(exported.iter().all(|s| s.span_context.trace_id().to_string() == trace_id));
}
