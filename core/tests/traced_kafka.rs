//! The traced rdkafka producer and consumer against a real broker, spans checked in the SDK's
//! in-memory exporter: parent chains, links, batches, attributes, failures, bad headers.

mod support;

use std::time::Duration;

use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use kafka_trace::span::{Options, Strategy};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use support::*;

struct Harness {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

fn harness() -> Harness {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let tracer = provider.tracer("traced-kafka-test");
    Harness { exporter, provider, tracer }
}

impl Harness {
    fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().expect("spans")
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "spans named {name:?}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0]
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

fn assert_child(child: &SpanData, parent: &SpanData) {
    assert_eq!(child.span_context.trace_id(), parent.span_context.trace_id(), "{} and {} are in different traces", child.name, parent.name);
    assert_eq!(child.parent_span_id, parent.span_context.span_id(), "{} is not a child of {}", child.name, parent.name);
}

fn producer_config() -> rdkafka::ClientConfig {
    let mut c = config();
    c.set("client.id", "test-producer").set("message.timeout.ms", "10000");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_forward_consume_is_one_trace_with_every_attribute() {
    let (orders, shipments) = (unique_topic("kt-orders"), unique_topic("kt-shipments"));
    create_topic(&orders, 1).await;
    create_topic(&shipments, 1).await;
    let h = harness();
    let producer = TracedProducer::new(&producer_config(), h.tracer.clone(), TraceConfig::default()).expect("producer");
    let consumer = TracedConsumer::new(&consumer_config(&orders), h.tracer.clone(), TraceConfig::default());

    let request = Context::new().with_span(h.tracer.span_builder("GET /orders").with_kind(SpanKind::Server).start(&h.tracer));
    producer
        .send_in(&request, FutureRecord::to(&orders).key("order-1").payload("{}"), Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .expect("delivered");
    request.span().end();

    // Hop 1: consume and forward, copying all headers of the consumed message (the usual
    // mistake that duplicates trace headers without a replace policy).
    let received = consume(&assigned_consumer(&orders, 1), 1, Duration::from_secs(30));
    let message = &received[0];
    consumer
        .process(message, || async {
            let headers = message.headers().cloned().unwrap_or_else(OwnedHeaders::new).insert(Header { key: "app", value: Some("x") });
            let record = FutureRecord::to(&shipments).key("order-1").payload("{}").headers(headers);
            producer.send(record, Duration::from_secs(10)).await.map(|_| ()).map_err(|(e, _)| e)
        })
        .await
        .expect("forwarded");

    // Hop 2.
    let forwarded = consume(&assigned_consumer(&shipments, 1), 1, Duration::from_secs(30));
    assert_eq!(header_count(&forwarded[0], "traceparent"), 1, "forwarding duplicated traceparent");
    assert_eq!(header_count(&forwarded[0], "tracestate"), 0, "no tracestate was ever set: none may be written");
    let shipper = TracedConsumer::new(&consumer_config(&shipments), h.tracer.clone(), TraceConfig::default());
    shipper.process_sync(&forwarded[0], || Ok::<_, std::io::Error>(())).expect("processed");

    let spans = h.spans();
    let root = one(&spans, "GET /orders");
    let send_orders = one(&spans, &format!("send {orders}"));
    let process_orders = one(&spans, &format!("process {orders}"));
    let send_shipments = one(&spans, &format!("send {shipments}"));
    let process_shipments = one(&spans, &format!("process {shipments}"));
    assert_child(send_orders, root);
    assert_child(process_orders, send_orders);
    assert_child(send_shipments, process_orders);
    assert_child(process_shipments, send_shipments);
    assert_eq!((send_orders.span_kind.clone(), process_orders.span_kind.clone()), (SpanKind::Producer, SpanKind::Consumer));

    // The forwarded message carries exactly the context of the forwarding send span.
    let expected_tp = format!("00-{}-{}-01", send_shipments.span_context.trace_id(), send_shipments.span_context.span_id());
    let tp = forwarded[0].headers().unwrap().iter().find(|x| x.key == "traceparent").and_then(|x| x.value).unwrap();
    assert_eq!(std::str::from_utf8(tp).unwrap(), expected_tp);

    let s = |v: &str| Some(Value::from(v.to_owned()));
    let port = bootstrap().rsplit(':').next().unwrap().parse::<i64>().unwrap();
    for (key, value) in [
        ("messaging.system", s("kafka")),
        ("messaging.operation.name", s("send")),
        ("messaging.operation.type", s("send")),
        ("messaging.destination.name", s(&orders)),
        ("messaging.destination.partition.id", s("0")),
        ("messaging.kafka.offset", Some(Value::I64(0))),
        ("messaging.kafka.message.key", s("order-1")),
        ("messaging.client.id", s("test-producer")),
        ("server.address", s("127.0.0.1")),
        ("server.port", Some(Value::I64(port))),
    ] {
        assert_eq!(attr(send_orders, key).cloned(), value, "send span attribute {key}");
    }
    for (key, value) in [
        ("messaging.operation.name", s("process")),
        ("messaging.operation.type", s("process")),
        ("messaging.destination.name", s(&orders)),
        ("messaging.destination.partition.id", s("0")),
        ("messaging.kafka.offset", Some(Value::I64(0))),
        ("messaging.kafka.message.key", s("order-1")),
        ("messaging.consumer.group.name", s(&format!("{orders}-group"))),
        ("messaging.client.id", s("test-consumer")),
    ] {
        assert_eq!(attr(process_orders, key).cloned(), value, "process span attribute {key}");
    }
    match attr(process_orders, "kafka_trace.e2e_latency_ms") {
        Some(Value::F64(ms)) => assert!(*ms >= 0.0),
        other => panic!("e2e latency attribute: {other:?}"),
    }
    assert_eq!(attr(process_orders, "messaging.kafka.message.tombstone"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_strategy_links_the_producer_instead_of_parenting() {
    let topic = unique_topic("kt-link");
    create_topic(&topic, 1).await;
    let h = harness();
    let producer = TracedProducer::new(&producer_config(), h.tracer.clone(), TraceConfig::default()).expect("producer");
    producer.send_in(&Context::new(), FutureRecord::<(), _>::to(&topic).payload("x"), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");
    let config = TraceConfig { options: Options { strategy: Strategy::Link, ..Options::default() }, ..TraceConfig::default() };
    let consumer = TracedConsumer::new(&consumer_config(&topic), h.tracer.clone(), config);
    let messages = consume(&assigned_consumer(&topic, 1), 1, Duration::from_secs(30));
    consumer.process_sync(&messages[0], || Ok::<_, std::io::Error>(())).unwrap();
    let spans = h.spans();
    let send = one(&spans, &format!("send {topic}"));
    let process = one(&spans, &format!("process {topic}"));
    assert_eq!(process.parent_span_id, opentelemetry::trace::SpanId::INVALID, "link strategy: no remote parent");
    assert_ne!(process.span_context.trace_id(), send.span_context.trace_id());
    assert_eq!(process.links.links.len(), 1);
    assert_eq!(process.links.links[0].span_context.span_id(), send.span_context.span_id());
    assert_eq!(attr(process, "messaging.kafka.message.key"), None, "no key was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_gives_each_message_its_own_parent_under_a_poll_span() {
    let topic = unique_topic("kt-batch");
    create_topic(&topic, 1).await;
    let h = harness();
    let producer = TracedProducer::new(&producer_config(), h.tracer.clone(), TraceConfig::default()).expect("producer");
    for i in 0..3 {
        let root = Context::new().with_span(h.tracer.start(format!("request {i}")));
        let key = format!("k{i}");
        producer.send_in(&root, FutureRecord::to(&topic).key(&key).payload("x"), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");
        root.span().end();
    }
    let consumer = TracedConsumer::new(&consumer_config(&topic), h.tracer.clone(), TraceConfig::default());
    let source = assigned_consumer(&topic, 1);
    let received = consumer.receive(|| Ok::<_, rdkafka::error::KafkaError>(consume(&source, 3, Duration::from_secs(30)))).unwrap();
    let mut seen_in_handler = Vec::new();
    consumer
        .process_received(&received, |m| {
            seen_in_handler.push((m.offset(), Context::current().span().span_context().span_id()));
            // Handler time must not count as receive time.
            std::thread::sleep(Duration::from_millis(50));
            Ok::<_, std::io::Error>(())
        })
        .unwrap();

    let spans = h.spans();
    let poll = one(&spans, &format!("poll {topic}"));
    assert_eq!(poll.span_kind, SpanKind::Client);
    assert_eq!(attr(poll, "messaging.batch.message_count"), Some(&Value::I64(3)));
    assert_eq!(attr(poll, "messaging.operation.type"), Some(&Value::from("receive")));
    let sends = named(&spans, &format!("send {topic}"));
    let processes = named(&spans, &format!("process {topic}"));
    assert_eq!((sends.len(), processes.len()), (3, 3));
    for (offset, process) in processes.iter().enumerate() {
        let send = sends.iter().find(|s| attr(s, "messaging.kafka.offset") == Some(&Value::I64(offset as i64))).unwrap();
        assert_child(process, send);
        assert_eq!(process.links.links.len(), 1);
        assert_eq!(process.links.links[0].span_context.span_id(), poll.span_context.span_id());
        // The handler ran with this message's span as the current context.
        assert_eq!(seen_in_handler[offset], (offset as i64, process.span_context.span_id()));
        // poll is the receive call only: it ended before any handler started.
        assert!(poll.end_time <= process.start_time, "the poll span covers handler time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_received_elsewhere_links_the_current_span_and_makes_no_poll_span() {
    let topic = unique_topic("kt-batch-ambient");
    create_topic(&topic, 1).await;
    let h = harness();
    let producer = TracedProducer::new(&producer_config(), h.tracer.clone(), TraceConfig::default()).expect("producer");
    producer.send_in(&Context::new(), FutureRecord::<(), _>::to(&topic).payload("x"), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");
    let consumer = TracedConsumer::new(&consumer_config(&topic), h.tracer.clone(), TraceConfig::default());
    let messages = consume(&assigned_consumer(&topic, 1), 1, Duration::from_secs(30));
    let outer = Context::new().with_span(h.tracer.start("worker loop"));
    {
        let _guard = outer.clone().attach();
        consumer.process_batch(&messages, |_| Ok::<_, std::io::Error>(())).unwrap();
    }
    outer.span().end();
    let spans = h.spans();
    assert!(named(&spans, &format!("poll {topic}")).is_empty());
    let (send, process, worker) = (one(&spans, &format!("send {topic}")), one(&spans, &format!("process {topic}")), one(&spans, "worker loop"));
    assert_child(process, send);
    assert_eq!(process.links.links.len(), 1);
    assert_eq!(process.links.links[0].span_context.span_id(), worker.span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_failure_sets_error_type_and_status() {
    let topic = unique_topic("kt-fail");
    create_topic(&topic, 1).await;
    let h = harness();
    let mut c = producer_config();
    c.set("message.timeout.ms", "3000");
    let producer = TracedProducer::new(&c, h.tracer.clone(), TraceConfig::default()).expect("producer");
    let record = FutureRecord::<(), _>::to(&topic).partition(7).payload("x");
    let result = producer.send_in(&Context::new(), record, Duration::from_secs(10)).await;
    assert!(result.is_err(), "partition 7 of a 1-partition topic cannot accept a message");
    let spans = h.spans();
    let send = one(&spans, &format!("send {topic}"));
    assert_eq!(attr(send, "error.type"), Some(&Value::from("UnknownPartition")));
    assert_eq!(send.status, Status::error("UnknownPartition"));
    assert_eq!(attr(send, "messaging.destination.partition.id"), Some(&Value::from("7")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_traceparent_starts_a_new_root_without_bothering_the_handler() {
    let topic = unique_topic("kt-malformed");
    create_topic(&topic, 1).await;
    let plain: FutureProducer = config().create().expect("producer");
    let headers = OwnedHeaders::new()
        .insert(Header { key: "traceparent", value: Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01") })
        .insert(Header { key: "tracestate", value: Some(&b"\xff\xfe"[..]) })
        .insert(Header { key: "baggage", value: Some("user=alice") });
    plain.send(FutureRecord::<(), _>::to(&topic).payload("x").headers(headers), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");

    let h = harness();
    let consumer = TracedConsumer::new(&consumer_config(&topic), h.tracer.clone(), TraceConfig::default());
    let messages = consume(&assigned_consumer(&topic, 1), 1, Duration::from_secs(30));
    let mut handled = 0;
    let result = consumer.process_sync(&messages[0], || {
        handled += 1;
        // The message's baggage still reaches the handler.
        use opentelemetry::baggage::BaggageExt;
        Ok::<_, std::io::Error>(Context::current().baggage().get("user").map(|v| v.as_str().to_owned()))
    });
    assert_eq!(result.unwrap(), Some("alice".to_owned()));
    assert_eq!(handled, 1);
    let spans = h.spans();
    let process = one(&spans, &format!("process {topic}"));
    assert_eq!(process.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_ne!(process.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(process.links.links.is_empty());
    assert_eq!(process.status, Status::Unset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_and_topic_filters_apply() {
    let (traced, ignored) = (unique_topic("kt-hooks"), unique_topic("kt-ignored"));
    create_topic(&traced, 1).await;
    create_topic(&ignored, 1).await;
    let h = harness();
    let config = TraceConfig {
        options: Options { topics: kafka_trace::span::TopicFilter { include: vec![], exclude: vec![format!("{ignored}*")] }, ..Options::default() },
        producer_hook: Some(std::sync::Arc::new(|m| vec![KeyValue::new("app.topic.len", m.topic.len() as i64)])),
        ..TraceConfig::default()
    };
    let producer = TracedProducer::new(&producer_config(), h.tracer.clone(), config).expect("producer");
    for topic in [&traced, &ignored] {
        producer.send_in(&Context::new(), FutureRecord::<(), _>::to(topic).payload("x"), Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("sent");
    }
    let spans = h.spans();
    assert_eq!(spans.len(), 1, "the excluded topic made a span");
    assert_eq!(attr(&spans[0], "app.topic.len"), Some(&Value::I64(traced.len() as i64)));
    let untraced = consume(&assigned_consumer(&ignored, 1), 1, Duration::from_secs(30));
    assert_eq!(header_count(&untraced[0], "traceparent"), 0, "an excluded topic gets no headers");
}
