//! Consumer-side faults on the real broker: a consumer-group rebalance in the middle of traced
//! batches. Consumer A processes a 4-partition topic in batches; consumer B joins (A loses
//! partitions mid-stream), then B dies in the middle of a batch (its handler fails, it stops
//! polling without committing or leaving the group; the broker hands its partitions back to A after
//! max.poll.interval.ms) so A processes B's uncommitted messages again. Checked: every message is
//! processed, every handler invocation runs inside its own process span whose parent is that
//! message's own send span, every process span is ended (exactly one exported span per handler
//! invocation, none for the messages B received but never handled), and no handler context leaks
//! into the next message or out of the batch.
#![cfg(feature = "rdkafka")]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, Tracer, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureRecord;
use rdkafka::Message;
use support::*;

const MESSAGES: usize = 300;

/// One handler invocation: the message's key, who ran it, and the span current inside it.
#[derive(Clone, Debug)]
struct Seen {
    key: String,
    consumer: &'static str,
    trace_id: TraceId,
    span_id: SpanId,
}

fn group_config(topic: &str, group: &str, client: &str) -> rdkafka::ClientConfig {
    let mut c = config();
    c.set("group.id", group)
        .set("client.id", client)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("max.poll.interval.ms", "7000")
        .set("heartbeat.interval.ms", "500")
        .set("partition.assignment.strategy", "range");
    let _ = topic;
    c
}

/// Polls one batch of up to `max` messages (whatever arrives within ~200 ms).
fn poll_batch(consumer: &BaseConsumer, max: usize) -> Result<Vec<OwnedMessage>, rdkafka::error::KafkaError> {
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(200);
    while batch.len() < max && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => batch.push(m.detach()),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    Ok(batch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_mid_batch_keeps_every_parent_and_ends_every_span() {
    let topic = unique_topic("kt-rebalance");
    let group = format!("{topic}-group");
    create_topic(&topic, 4).await;
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let tracer = provider.tracer("rebalance-test");

    // Each message is sent under its own root span: its own trace.
    let mut pc = config();
    pc.set("client.id", "rebalance-producer").set("message.timeout.ms", "10000").set("linger.ms", "5");
    let producer = TracedProducer::new(&pc, tracer.clone(), TraceConfig::default()).expect("producer");
    let mut sends = Vec::new();
    for i in 0..MESSAGES {
        let root = Context::new().with_span(tracer.start(format!("root-{i}")));
        let key = format!("m{i}");
        let payload = format!("{i}");
        let producer = &producer;
        let topic = &topic;
        sends.push(async move {
            let r = producer.send_in(&root, FutureRecord::to(topic).key(&key).payload(&payload).partition((i % 4) as i32), Duration::from_secs(10)).await;
            root.span().end();
            r.map_err(|(e, _)| e).expect("delivered");
        });
    }
    futures::future::join_all(sends).await;

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::new(Mutex::new(Vec::new()));
    let leaks: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let b_started = Arc::new(AtomicBool::new(false));

    // A consumer loop: traced receive + batch processing, commit after each batch. `die_after`:
    // fail the handler of that many-th message and stop polling without commit or close.
    let run = |name: &'static str, die_after: Option<usize>| {
        let (seen, leaks, stop, tracer) = (seen.clone(), leaks.clone(), stop.clone(), tracer.clone());
        let cfg = group_config(&topic, &group, name);
        let topic = topic.clone();
        std::thread::spawn(move || {
            let consumer: BaseConsumer = cfg.create().expect("consumer");
            consumer.subscribe(&[&topic]).expect("subscribe");
            let traced = TracedConsumer::new(&cfg, tracer, TraceConfig::default());
            let mut handled = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let received = match traced.receive(|| poll_batch(&consumer, 25)) {
                    Ok(r) => r,
                    Err(_) => continue, // e.g. a rebalance event surfaced as an error: poll again
                };
                if received.messages().is_empty() {
                    continue;
                }
                let mut died = false;
                let result = traced.process_received(&received, |m: &OwnedMessage| {
                    let cx = Context::current();
                    let sc = cx.span().span_context().clone();
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                    seen.lock().unwrap().push(Seen { key, consumer: name, trace_id: sc.trace_id(), span_id: sc.span_id() });
                    handled += 1;
                    // A is slow enough that B joins while most messages are still to come.
                    std::thread::sleep(Duration::from_millis(if name == "A" { 20 } else { 5 }));
                    if die_after == Some(handled) {
                        died = true;
                        return Err("killed in the middle of a batch");
                    }
                    Ok(())
                });
                if Context::current().span().span_context().is_valid() {
                    leaks.lock().unwrap().push(format!("{name}: a span is current after the batch"));
                }
                if died {
                    assert!(result.is_err());
                    // Killed: no commit, no close, no leave-group; the group notices by itself.
                    std::mem::forget(consumer);
                    return;
                }
                let _ = consumer.commit_consumer_state(CommitMode::Sync);
            }
            consumer.unsubscribe();
        })
    };

    let a = run("A", None);
    let wait = |what: &str, cond: &dyn Fn() -> bool, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("A to handle 40 messages", &|| seen.lock().unwrap().len() >= 40, 60);
    b_started.store(true, Ordering::SeqCst);
    let b = run("B", Some(30));
    wait("B to handle its 30 messages and die", &|| b.is_finished(), 90);
    b.join().expect("B");
    let keys = || seen.lock().unwrap().iter().map(|s| s.key.clone()).collect::<HashSet<_>>().len();
    wait("every message handled", &|| keys() == MESSAGES, 120);
    stop.store(true, Ordering::SeqCst);
    a.join().expect("A");

    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let key_of = |s: &opentelemetry_sdk::trace::SpanData| {
        s.attributes.iter().find(|kv| kv.key.as_str() == "messaging.kafka.message.key").map(|kv| match &kv.value {
            Value::String(v) => v.as_str().to_owned(),
            other => panic!("key {other:?}"),
        })
    };
    let send_of: HashMap<String, (TraceId, SpanId)> = spans
        .iter()
        .filter(|s| s.name == format!("send {topic}"))
        .map(|s| (key_of(s).expect("send key"), (s.span_context.trace_id(), s.span_context.span_id())))
        .collect();
    assert_eq!(send_of.len(), MESSAGES);
    let process: HashMap<SpanId, &opentelemetry_sdk::trace::SpanData> =
        spans.iter().filter(|s| s.name == format!("process {topic}")).map(|s| (s.span_context.span_id(), s)).collect();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.consumer == "B"), "B handled messages");
    assert_eq!(process.len(), seen.len(), "one ended process span per handler invocation, none for messages never handled");
    for s in &seen {
        let span = process.get(&s.span_id).unwrap_or_else(|| panic!("{} ({}): the handler did not run in an ended process span", s.key, s.consumer));
        assert_eq!(key_of(span).as_deref(), Some(s.key.as_str()), "the span current in the handler of {} is its own", s.key);
        let (trace, parent) = send_of[&s.key];
        assert_eq!(s.trace_id, trace, "{} ({}): the producer's trace", s.key, s.consumer);
        assert_eq!(span.parent_span_id, parent, "{} ({}): its own producer's send span is the parent", s.key, s.consumer);
    }
    assert_eq!(leaks.lock().unwrap().clone(), Vec::<String>::new());
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for s in &seen {
        *per_key.entry(&s.key).or_default() += 1;
    }
    let redelivered = per_key.values().filter(|&&n| n > 1).count();
    eprintln!(
        "rebalance: {} messages, {} handler runs (A {}, B {}), {redelivered} handled twice (B's uncommitted batch and in-flight batches at the rebalance)",
        MESSAGES,
        seen.len(),
        seen.iter().filter(|s| s.consumer == "A").count(),
        seen.iter().filter(|s| s.consumer == "B").count()
    );
}
