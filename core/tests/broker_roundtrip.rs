//! Trace headers through a real Kafka broker (started by `scripts/kafka.sh start`): produce with
//! injected headers, consume the message back, and compare the exact header bytes.

mod support;

use std::time::Duration;

use kafka_trace::carrier::{extract, extract_parts, inject};
use kafka_trace::{Baggage, SpanId, TraceContext, TraceFlags, TraceId, TraceStateBuf};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::*;

fn sample_context() -> TraceContext {
    let trace_id = TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let span_id = SpanId::from_hex(b"00f067aa0ba902b7").unwrap();
    let mut ctx = TraceContext::new_root(trace_id, span_id, TraceFlags(0x03), Baggage::parse(b"user=alice%20b,tier=gold;p"));
    ctx.tracestate = TraceStateBuf::parse(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
    ctx
}

/// Consumes the single message of partition 0.
fn consume_one(topic: &str) -> rdkafka::message::OwnedMessage {
    consume(&assigned_consumer(topic, 1), 1, Duration::from_secs(60)).remove(0)
}

fn header_list(headers: &impl Headers) -> Vec<(String, Option<Vec<u8>>)> {
    headers.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_headers_survive_a_real_broker_byte_for_byte() {
    let topic = unique_topic("kt-roundtrip");
    create_topic(&topic, 1).await;

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
async fn repeated_traceparents_read_back_from_the_broker_continue_the_last_hop() {
    let topic = unique_topic("kt-duplicate");
    create_topic(&topic, 1).await;
    let headers = OwnedHeaders::new()
        .insert(Header { key: "traceparent", value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") })
        .insert(Header { key: "traceparent", value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01") });
    let producer: FutureProducer = config().create().expect("producer");
    let record = FutureRecord::<(), _>::to(&topic).payload("v").headers(headers);
    producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).expect("delivery");

    let message = consume_one(&topic);
    let received = message.headers().expect("headers arrived");
    assert_eq!(received.count(), 2, "the broker keeps repeated headers");
    // The broker keeps header order, so the last writer (the latest hop) is the parent.
    let parent = extract_parts(received).parent.expect("the last traceparent is read");
    assert_eq!(parent.encode(), *b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01");
}
