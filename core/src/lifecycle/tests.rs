use std::time::Duration;

use super::*;
use crate::carrier::TraceContext;
use crate::codec::baggage::Baggage;
use crate::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use crate::codec::tracestate::TraceStateBuf;
use crate::semconv as sc;
use crate::span::{AttributeValue, ClientInfo, ContextSource, MessageInfo, Options, SpanKind};

fn lifecycle() -> Lifecycle {
    let client = ClientInfo {
        client_id: Some("svc".into()),
        consumer_group: Some("billing".into()),
        ..Default::default()
    }
    .with_bootstrap("broker:9092");
    Lifecycle::new(Options::default(), client)
}

fn message(offset: i64, partition: i32) -> MessageInfo<'static> {
    MessageInfo {
        topic: "orders",
        partition: Some(partition),
        offset: Some(offset),
        key: Some(b"k"),
        payload_len: Some(3),
        timestamp_ms: Some(1_000),
    }
}

fn keys(attributes: &[crate::span::Attribute]) -> Vec<&'static str> {
    attributes.iter().map(|(k, _)| *k).collect()
}

#[test]
fn metric_attributes_never_carry_offsets_keys_or_latency() {
    let lc = lifecycle();
    let mut sets = std::collections::HashSet::new();
    for i in 0..1_000 {
        let send = lc
            .send(&MessageInfo {
                partition: None,
                offset: None,
                ..message(i, 0)
            })
            .unwrap();
        let finish = send.finish(
            SendResult::Acked {
                partition: (i % 3) as i32,
                offset: i,
            },
            Duration::from_millis(1),
            None,
        );
        let process = lc
            .process(
                &message(i, (i % 3) as i32),
                RemoteInfo { valid: true },
                AmbientInfo::default(),
                2_000,
            )
            .unwrap();
        let done = process.finish(HandlerResult::Returned, Duration::from_micros(5));
        for record in finish.metrics.iter().chain(&done.metrics) {
            assert!(
                record
                    .attributes
                    .iter()
                    .all(|(k, _)| METRIC_ATTRIBUTE_KEYS.contains(k)),
                "{record:?}"
            );
            sets.insert((record.instrument, format!("{:?}", record.attributes)));
        }
    }
    // 3 partitions x (2 send + 3 process instruments).
    assert_eq!(sets.len(), 15);
}

#[test]
fn send_ends_at_the_broker_latency_and_records_the_ack_partition() {
    let lc = lifecycle();
    let send = lc
        .send(&MessageInfo {
            partition: None,
            offset: None,
            ..message(0, 0)
        })
        .unwrap();
    assert_eq!(send.span.name, "send orders");
    assert_eq!(send.span.kind, SpanKind::Producer);
    assert_eq!(send.span.parent, ContextSource::Ambient);
    let finish = send.finish(
        SendResult::Acked {
            partition: 2,
            offset: 77,
        },
        Duration::from_millis(500),
        Some(Duration::from_millis(8)),
    );
    assert_eq!(finish.end, SpanEnd::AfterStart(Duration::from_millis(8)));
    assert_eq!(
        finish.attributes,
        vec![
            (
                sc::MESSAGING_DESTINATION_PARTITION_ID,
                AttributeValue::String("2".into())
            ),
            (sc::MESSAGING_KAFKA_OFFSET, AttributeValue::Int(77))
        ]
    );
    assert_eq!(finish.status, Status::Unset);
    assert_eq!(finish.metrics[0].instrument, Instrument::OperationDuration);
    assert_eq!(finish.metrics[0].value, 0.008);
    assert_eq!(
        keys(&finish.metrics[1].attributes),
        vec![
            sc::MESSAGING_SYSTEM,
            sc::MESSAGING_OPERATION_NAME,
            sc::MESSAGING_OPERATION_TYPE,
            sc::SERVER_ADDRESS,
            sc::SERVER_PORT,
            sc::MESSAGING_DESTINATION_NAME,
            sc::MESSAGING_DESTINATION_PARTITION_ID
        ]
    );
    let failed = send.finish(
        SendResult::Failed { error_type: "" },
        Duration::from_millis(3),
        None,
    );
    assert_eq!(failed.status, Status::Error("_OTHER".into()));
    assert_eq!(failed.end, SpanEnd::Now);
    assert_eq!(failed.metrics[0].value, 0.003);
    assert_eq!(
        failed.metrics[1].attributes.last(),
        Some(&(sc::ERROR_TYPE, AttributeValue::String("_OTHER".into())))
    );
}

#[test]
fn process_recipe_builds_the_handler_context_the_same_way_everywhere() {
    let lc = lifecycle();
    for (remote, ambient, parent) in [
        (true, false, ContextSource::Remote),
        (false, true, ContextSource::Ambient),
        (true, true, ContextSource::Remote),
    ] {
        let r = lc
            .process(
                &message(1, 0),
                RemoteInfo { valid: remote },
                AmbientInfo { has_span: ambient },
                1_500,
            )
            .unwrap();
        assert_eq!(r.parent(), parent);
        assert_eq!(
            r.handler,
            HandlerContext {
                keep_ambient: true,
                message_baggage: true,
                keep_remote: true
            }
        );
    }
    let r = lc
        .process(
            &message(1, 0),
            RemoteInfo { valid: true },
            AmbientInfo::default(),
            1_500,
        )
        .unwrap();
    let done = r.finish(
        HandlerResult::Failed {
            error_type: "ValueError",
        },
        Duration::from_millis(2),
    );
    assert_eq!(done.status, Status::Error("ValueError".into()));
    assert_eq!(
        done.attributes,
        vec![(sc::ERROR_TYPE, AttributeValue::String("ValueError".into()))]
    );
    let names: Vec<_> = done
        .metrics
        .iter()
        .map(|m| (m.instrument.name(), m.value))
        .collect();
    assert_eq!(
        names,
        vec![
            ("messaging.client.consumed.messages", 1.0),
            ("messaging.process.duration", 0.002),
            ("kafka_trace.e2e.latency", 0.5)
        ]
    );
}

#[test]
fn poll_is_the_receive_call_and_filters_apply_to_every_operation() {
    let mut options = Options::default();
    options.topics.exclude = vec!["audit".into()];
    let lc = Lifecycle::new(options, ClientInfo::default());
    assert!(lc
        .send(&MessageInfo {
            topic: "audit",
            ..Default::default()
        })
        .is_none());
    assert!(lc.poll(&["audit"], 1).is_none());
    // An empty receive is not traced; a failed one is, even with nothing returned.
    assert!(lc.poll(&[], 0).is_none());
    assert!(lc.poll(&["orders"], 0).is_none());
    let failed = lc.poll_failed(&[]).unwrap();
    assert_eq!(failed.span.name, "poll");
    assert_eq!(failed.finish(PollResult::Failed { error_type: "Timeout" }, Duration::from_millis(1)).status, Status::Error("Timeout".into()));
    assert!(lc.poll_failed(&["audit"]).is_none());
    let poll = lc.poll(&["orders", "audit"], 2).unwrap();
    assert_eq!(poll.span.name, "poll orders");
    assert_eq!(poll.span.kind, SpanKind::Client);
    let finish = poll.finish(PollResult::Received, Duration::from_millis(4));
    assert_eq!(finish.metrics.len(), 1);
    assert_eq!(
        finish.metrics[0].instrument.name(),
        "messaging.client.operation.duration"
    );
    assert!(finish.metrics[0].attributes.contains(&(
        sc::MESSAGING_OPERATION_TYPE,
        AttributeValue::String("receive".into())
    )));
}

fn tid(b: u8) -> TraceId {
    TraceId([b; 16])
}

#[test]
fn a_child_of_a_remote_parent_keeps_the_random_flag_and_every_tracestate_member() {
    let long_key = format!("a{}", "b".repeat(255));
    let state = format!("{long_key}=1,t{}@sys=2", "x".repeat(200));
    let remote = TraceContext {
        traceparent: TraceParent::new(tid(1), SpanId([2; 8]), TraceFlags(0x03)),
        tracestate: TraceStateBuf::parse(state.as_bytes()).unwrap(),
        baggage: Baggage::default(),
    };
    let kept = KeptRemote::of(&remote);
    let span = SpanIdentity {
        trace_id: tid(1),
        span_id: SpanId([9; 8]),
        sampled: true,
    };
    let out = send_context(&span, b"", Some(&kept), Baggage::default());
    assert_eq!(out.traceparent.flags, TraceFlags(0x03));
    assert_eq!(out.tracestate.as_str(), state);
    // The SDK changed a member: it moves first, the others stay.
    let out = send_context(&span, b"ot=th:8", Some(&kept), Baggage::default());
    assert_eq!(out.tracestate.as_str(), format!("ot=th:8,{state}"));
    // Unsampled child: -02 only.
    let unsampled = SpanIdentity {
        sampled: false,
        ..span
    };
    assert_eq!(
        send_context(&unsampled, b"", Some(&kept), Baggage::default())
            .traceparent
            .flags,
        TraceFlags(0x02)
    );
    // Another trace (a new root inside the handler): nothing of the remote leaks.
    let other = SpanIdentity {
        trace_id: tid(7),
        ..span
    };
    let out = send_context(&other, b"k=v", Some(&kept), Baggage::default());
    assert_eq!(
        (out.traceparent.flags, out.tracestate.as_str()),
        (TraceFlags(0x01), "k=v")
    );
}

#[test]
fn option_names_are_unique_in_every_spelling() {
    let mut snake: Vec<_> = OPTION_NAMES.iter().map(|o| o.snake).collect();
    let mut camel: Vec<_> = OPTION_NAMES.iter().map(|o| o.camel).collect();
    snake.sort_unstable();
    snake.dedup();
    camel.sort_unstable();
    camel.dedup();
    assert_eq!(
        (snake.len(), camel.len()),
        (OPTION_NAMES.len(), OPTION_NAMES.len())
    );
}

#[test]
fn finish_span_is_finish_without_the_metric_records() {
    let message = MessageInfo { topic: "orders", partition: Some(1), payload_len: Some(3), timestamp_ms: Some(1_000), ..MessageInfo::default() };
    let send = Lifecycle::default().send(&message).unwrap();
    let elapsed = Duration::from_millis(7);
    for result in [
        SendResult::Acked { partition: 2, offset: 41 },
        SendResult::Acked { partition: -1, offset: -1 },
        SendResult::Failed { error_type: "QueueFull" },
        SendResult::Failed { error_type: "" },
    ] {
        for latency in [None, Some(Duration::from_millis(3))] {
            let full = send.finish(result, elapsed, latency);
            assert!(!full.metrics.is_empty());
            assert_eq!(send.finish_span(result, elapsed, latency), Finish { metrics: Vec::new(), ..full }, "{result:?} {latency:?}");
        }
    }
    let process = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 1_500).unwrap();
    for result in [HandlerResult::Returned, HandlerResult::Failed { error_type: "Timeout" }, HandlerResult::Failed { error_type: "" }] {
        let full = process.finish(result, elapsed);
        assert!(!full.metrics.is_empty());
        assert_eq!(process.finish_span(result, elapsed), Finish { metrics: Vec::new(), ..full }, "{result:?}");
    }
}

#[test]
fn send_context_parsed_equals_send_context() {
    let kept = KeptRemote { trace_id: TraceId([1; 16]), flags: TraceFlags(0x03), tracestate: TraceStateBuf::parse(b"rojo=1,congo=2").unwrap() };
    let same = SpanIdentity { trace_id: TraceId([1; 16]), span_id: SpanId([2; 8]), sampled: true };
    let other = SpanIdentity { trace_id: TraceId([7; 16]), sampled: false, ..same };
    for span in [same, other] {
        for sdk in [&b""[..], b"congo=9", b"rojo=1,vendor=x", b"not a tracestate"] {
            for k in [None, Some(&kept)] {
                let parsed = TraceStateBuf::parse(sdk).unwrap_or_default();
                assert_eq!(send_context_parsed(&span, parsed, k, Baggage::parse(b"k=v")), send_context(&span, sdk, k, Baggage::parse(b"k=v")));
            }
        }
    }
}

#[test]
fn finish_with_e2e_is_finish_with_another_messages_latency() {
    let lifecycle = Lifecycle::default();
    let message = MessageInfo { topic: "orders", partition: Some(1), timestamp_ms: Some(2_000), payload_len: Some(1), ..MessageInfo::default() };
    let recipe = lifecycle.process(&message, RemoteInfo::default(), AmbientInfo::default(), 2_500).unwrap();
    let elapsed = Duration::from_millis(4);
    assert_eq!(recipe.finish_with_e2e(HandlerResult::Returned, elapsed, Some(500.0)), recipe.finish(HandlerResult::Returned, elapsed));
    let without = recipe.finish_with_e2e(HandlerResult::Failed { error_type: "E" }, elapsed, None);
    let instruments: Vec<Instrument> = without.metrics.iter().map(|m| m.instrument).collect();
    assert_eq!(instruments, [Instrument::ConsumedMessages, Instrument::ProcessDuration]);
    let with = recipe.finish_with_e2e(HandlerResult::Failed { error_type: "E" }, elapsed, Some(20.0));
    assert_eq!(with.metrics[2].instrument, Instrument::E2eLatency);
    assert_eq!(with.metrics[2].value, 0.02);
    assert_eq!(with.metrics[2].attributes, without.metrics[0].attributes);
}
