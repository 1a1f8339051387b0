//! Trace headers through a real Kafka broker (started by `scripts/kafka.sh start`): produce with
//! injected headers, consume the message back, and compare the exact header bytes.

use std::time::{Duration, Instant};

use kafka_trace::carrier::{extract, extract_parts, inject};
use kafka_trace::{Baggage, SpanId, TraceContext, TraceFlags, TraceId, TraceStateBuf};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap()).set("socket.timeout.ms", "10000");
    config
}

async fn create_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> = config().create().expect("admin client");
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let results = admin.create_topics([&topic], &options).await.unwrap_or_else(|e| {
        panic!("cannot reach the Kafka broker at {} ({e}); start it with `bash scripts/kafka.sh start`", bootstrap())
    });
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("create topic {topic}: {code}"));
    }
}

fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn sample_context() -> TraceContext {
    let trace_id = TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let span_id = SpanId::from_hex(b"00f067aa0ba902b7").unwrap();
    let mut ctx = TraceContext::new_root(trace_id, span_id, TraceFlags(0x03), Baggage::parse(b"user=alice%20b,tier=gold;p"));
    ctx.tracestate = TraceStateBuf::parse(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
    ctx
}

/// Consumes the single message of partition 0, waiting on the condition "a message arrived".
fn consume_one(topic: &str) -> rdkafka::message::OwnedMessage {
    let consumer: BaseConsumer = config()
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning).expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => return message.detach(),
            Some(Err(e)) => panic!("consume from {topic}: {e}"),
            None => continue,
        }
    }
    panic!("no message on {topic} within 60 s");
}

fn header_list(headers: &impl Headers) -> Vec<(String, Option<Vec<u8>>)> {
    headers.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_headers_survive_a_real_broker_byte_for_byte() {
    let topic = unique_topic("kt-roundtrip");
    create_topic(&topic).await;

    // A forwarded message: an application header, a stale traceparent in another case, a stale
    // tracestate and a null-valued header. Inject must replace, not append.
    let mut headers = OwnedHeaders::new()
        .insert(Header { key: "app", value: Some(&b"\xffraw"[..]) })
        .insert(Header { key: "TraceParent", value: Some("00-11111111111111111111111111111111-2222222222222222-00") })
        .insert(Header { key: "tracestate", value: Some("stale=1") })
        .insert(Header::<&[u8]> { key: "nullable", value: None });
    let context = sample_context();
    inject(&context, &mut headers);

    let producer: FutureProducer = config().set("acks", "all").create().expect("producer");
    let record = FutureRecord::to(&topic).key("k").payload("v").headers(headers);
    producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("delivery");

    let message = consume_one(&topic);
    let received = message.headers().expect("headers arrived");
    let expected: Vec<(String, Option<Vec<u8>>)> = vec![
        ("app".into(), Some(b"\xffraw".to_vec())),
        ("traceparent".into(), Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec())),
        ("tracestate".into(), Some(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_vec())),
        ("nullable".into(), None),
        ("baggage".into(), Some(b"user=alice%20b,tier=gold;p".to_vec())),
    ];
    assert_eq!(header_list(received), expected);

    // The consumer side reads the same context back through rdkafka's borrowed headers.
    assert_eq!(extract(received), Some(context.clone()));
    let parts = extract_parts(received);
    assert_eq!(parts.baggage.get("user"), Some("alice b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_traceparents_read_back_from_the_broker_start_a_new_root() {
    let topic = unique_topic("kt-duplicate");
    create_topic(&topic).await;
    let headers = OwnedHeaders::new()
        .insert(Header { key: "traceparent", value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") })
        .insert(Header { key: "traceparent", value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01") });
    let producer: FutureProducer = config().create().expect("producer");
    let record = FutureRecord::<(), _>::to(&topic).payload("v").headers(headers);
    producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("delivery");

    let message = consume_one(&topic);
    let received = message.headers().expect("headers arrived");
    assert_eq!(received.count(), 2, "the broker keeps repeated headers");
    assert_eq!(extract_parts(received).parent, Err(kafka_trace::ErrorCode::TraceparentDuplicate));
}
