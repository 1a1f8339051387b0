use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{self as ot, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

use super::*;
use crate::carrier::extract_parts;
use crate::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, SendResult, SpanEnd};
use crate::semconv::metrics as m;
use crate::span::{process_span, ClientInfo, MessageInfo, Options, Outcome};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn provider() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    (exporter, provider)
}

#[test]
fn propagator_round_trips_through_a_text_map() {
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), TP.to_owned());
    carrier.insert("tracestate".to_owned(), "rojo=1, congo=2".to_owned());
    carrier.insert("baggage".to_owned(), "user=alice%20b".to_owned());
    let propagator = KafkaTracePropagator::new();
    let cx = propagator.extract(&carrier);
    assert_eq!(cx.span().span_context().trace_state().header(), "rojo=1,congo=2");
    assert_eq!(cx.baggage().get("user").map(|v| v.as_str().to_owned()), Some("alice b".to_owned()));
    let mut out: HashMap<String, String> = HashMap::new();
    propagator.inject_context(&cx, &mut out);
    assert_eq!(out["traceparent"], TP);
    assert_eq!(out["tracestate"], "rojo=1,congo=2");
    assert_eq!(out["baggage"], "user=alice%20b");
    let fields: Vec<&str> = propagator.fields().collect();
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
}

#[test]
fn a_remote_parent_without_tracestate_gets_the_state_built_from_no_members() {
    // remote_span_context skips building the SDK's state when there is none: the same state.
    let parent = crate::TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let none = std::iter::empty::<(&str, &str)>();
    let sc = remote_span_context(&parent, &crate::TraceStateBuf::default());
    assert_eq!(sc.trace_state(), &ot::TraceState::from_key_value(none).unwrap());
    assert_eq!(sc.trace_state().header(), "");
    let sc = remote_span_context(&parent, &crate::TraceStateBuf::parse(b"rojo=1,congo=2").unwrap());
    assert_eq!(sc.trace_state(), &ot::TraceState::from_key_value([("rojo", "1"), ("congo", "2")]).unwrap());
}

#[test]
fn no_span_means_no_headers() {
    let mut out: HashMap<String, String> = HashMap::new();
    KafkaTracePropagator::new().inject_context(&Context::new(), &mut out);
    assert!(out.is_empty());
}

/// Consumes `headers` through the executor and sends from inside the handler: the forward's headers.
fn forward(headers: &Vec<(String, Vec<u8>)>) -> (HashMap<String, String>, ot::SpanContext) {
    let (_exporter, provider) = provider();
    let executor = Executor::new(provider.tracer("t"), None);
    let lifecycle = Lifecycle::default();
    let message = MessageInfo { topic: "in", partition: Some(0), offset: Some(1), ..Default::default() };
    let context = MessageContext::from_headers(Some(headers));
    let recipe = lifecycle.process(&message, context.remote_info(), AmbientInfo::default(), 0).unwrap();
    let process = executor.start_process(&recipe, &Context::new(), &context, None);
    let send_recipe = lifecycle.send(&MessageInfo { topic: "out", ..Default::default() }).unwrap();
    let send = executor.start_send(&send_recipe, process.context());
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    assert!(inject_context(send.context(), &mut out));
    executor.finish(&send, &send_recipe.finish(SendResult::Acked { partition: 0, offset: 0 }, Duration::ZERO, None));
    executor.finish(&process, &recipe.finish(HandlerResult::Returned, Duration::ZERO));
    let out = out.into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect();
    (out, send.span_context())
}

#[test]
fn a_child_of_a_random_flagged_parent_injects_the_random_flag() {
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03";
    let (out, send) = forward(&vec![("traceparent".to_owned(), tp.as_bytes().to_vec())]);
    assert_eq!(out["traceparent"], format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-03", send.span_id()));
    // Without the random flag, none is invented.
    let (out, send) = forward(&vec![("traceparent".to_owned(), TP.as_bytes().to_vec())]);
    assert_eq!(out["traceparent"], format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", send.span_id()));
}

#[test]
fn level2_tracestate_members_survive_a_forward_even_when_the_sdk_refuses_them() {
    let long_key = format!("k{}", "a".repeat(255));
    // Level 2: a 14-character system id after a long tenant (the SDK allows 13).
    let tenant = format!("{}@systemfourteen", "t".repeat(200));
    assert_eq!(tenant.len() - tenant.find('@').unwrap() - 1, 14);
    let state = format!("{long_key}=1,{tenant}=2,rojo=3");
    // The SDK's own grammar refuses this state (it would be dropped whole).
    assert!(ot::TraceState::from_key_value([(long_key.as_str(), "1"), (tenant.as_str(), "2"), ("rojo", "3")]).is_err());
    let headers = vec![("traceparent".to_owned(), TP.as_bytes().to_vec()), ("tracestate".to_owned(), state.as_bytes().to_vec())];
    let (out, _) = forward(&headers);
    assert_eq!(out["tracestate"], state);

    // The propagator path keeps it too: extraction stores the kept remote, inject restores it.
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), TP.to_owned());
    carrier.insert("tracestate".to_owned(), state.clone());
    let cx = KafkaTracePropagator::new().extract(&carrier);
    assert_eq!(cx.span().span_context().trace_state().header(), "");
    assert!(kept_remote(&cx).is_some());
    let mut injected: HashMap<String, String> = HashMap::new();
    KafkaTracePropagator::new().inject_context(&cx, &mut injected);
    assert_eq!(injected["tracestate"], state);
}

#[test]
fn a_kept_remote_of_another_trace_is_ignored() {
    let (_exporter, provider) = provider();
    let tracer = provider.tracer("t");
    let mut carrier = HashMap::new();
    carrier.insert("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_owned());
    carrier.insert("tracestate".to_owned(), "rojo=1".to_owned());
    let extracted = KafkaTracePropagator::new().extract(&carrier);
    // A new root inside that context: another trace, so neither flag nor state carry over.
    let root = extracted.with_span(tracer.span_builder("root").start_with_context(&tracer, &Context::new()));
    let context = trace_context_of(&root).unwrap();
    assert_ne!(context.traceparent.trace_id.0, extracted.span().span_context().trace_id().to_bytes());
    assert_eq!(context.traceparent.flags.0, 0x01);
    assert!(context.tracestate.header_value().is_empty());
}

#[test]
fn the_handler_sees_ambient_values_and_message_baggage_merged_over_ambient_baggage() {
    #[derive(Debug, PartialEq)]
    struct Marker(u8);
    let (exporter, provider) = provider();
    let executor = Executor::new(provider.tracer("t"), None);
    let ambient_span = provider.tracer("t").start("ambient");
    let ambient = Context::new()
        .with_value(Marker(7))
        .with_baggage([KeyValue::new("tenant", "ambient"), KeyValue::new("region", "eu")])
        .with_span(ambient_span);
    let headers = vec![
        ("traceparent".to_owned(), TP.as_bytes().to_vec()),
        ("baggage".to_owned(), b"tenant=acme,user=alice".to_vec()),
    ];
    let context = MessageContext::from_headers(Some(&headers));
    let lifecycle = Lifecycle::default();
    let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(7), ..Default::default() };
    let recipe = lifecycle.process(&message, context.remote_info(), AmbientInfo { has_span: true }, 0).unwrap();
    let running = executor.start_process(&recipe, &ambient, &context, None);
    let cx = running.context();
    assert_eq!(cx.get::<Marker>(), Some(&Marker(7)));
    let mut baggage: Vec<(String, String)> =
        cx.baggage().iter().map(|(k, (v, _))| (k.to_string(), v.to_string())).collect();
    baggage.sort();
    assert_eq!(
        baggage,
        [("region", "eu"), ("tenant", "acme"), ("user", "alice")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(cx.span().span_context().span_id(), running.span_context().span_id());
    executor.finish(&running, &recipe.finish(HandlerResult::Failed { error_type: "ValueError" }, Duration::ZERO));
    ambient.span().end();
    let spans = exporter.get_finished_spans().unwrap();
    let process = spans.iter().find(|s| s.name == "process orders").unwrap();
    assert_eq!(process.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(process.links.links.len(), 1);
    assert_eq!(process.links.links[0].span_context.span_id(), ambient.span().span_context().span_id());
    assert_eq!(process.status, ot::Status::error("ValueError"));
    assert!(process.attributes.contains(&KeyValue::new("error.type", "ValueError")));
}

#[test]
fn a_send_ends_at_start_plus_the_broker_latency() {
    let (exporter, provider) = provider();
    let executor = Executor::new(provider.tracer("t"), None);
    let recipe = Lifecycle::default().send(&MessageInfo { topic: "t", ..Default::default() }).unwrap();
    let running = executor.start_send(&recipe, &Context::new());
    let finish = recipe.finish(SendResult::Acked { partition: 1, offset: 5 }, Duration::from_secs(9), Some(Duration::from_millis(12)));
    assert_eq!(finish.end, SpanEnd::AfterStart(Duration::from_millis(12)));
    executor.finish(&running, &finish);
    let span = &exporter.get_finished_spans().unwrap()[0];
    assert_eq!(span.start_time, running.start().at());
    assert_eq!(span.end_time.duration_since(span.start_time).unwrap(), Duration::from_millis(12));
}

#[test]
fn legacy_start_span_still_parents_and_links() {
    let (exporter, provider) = provider();
    let tracer = provider.tracer("test");
    let headers = vec![("traceparent".to_owned(), TP.as_bytes().to_vec())];
    let ambient = Context::new().with_span(tracer.start("poll loop"));
    let extracted = extract_parts(&headers).into_context().unwrap();
    let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(7), ..Default::default() };
    let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, true, 0);
    let sources = SpanSources {
        ambient: Some(&ambient),
        remote: Some(remote_span_context(&extracted.traceparent, &extracted.tracestate)),
        poll: None,
    };
    let cx = start_span(&tracer, &spec, &sources);
    end_span(&cx, &Outcome { attributes: vec![], error: None });
    ambient.span().end();
    let spans = exporter.get_finished_spans().unwrap();
    let process = spans.iter().find(|s| s.name == "process orders").unwrap();
    assert_eq!(process.span_kind, ot::SpanKind::Consumer);
    assert_eq!(process.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(process.parent_span_id.to_string(), "00f067aa0ba902b7");
    let poll = spans.iter().find(|s| s.name == "poll loop").unwrap();
    assert_eq!(process.links.links.len(), 1);
    assert_eq!(process.links.links[0].span_context.span_id(), poll.span_context.span_id());
    assert!(process.attributes.contains(&KeyValue::new("messaging.kafka.offset", 7)));
}

#[test]
fn legacy_metrics_carry_semconv_names_counts_and_bounded_attributes() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use crate::span::{error_outcome, send_outcome, send_span};

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let metrics = KafkaMetrics::new(&provider.meter("test"));
    let message = MessageInfo { topic: "orders", partition: Some(1), offset: Some(9), timestamp_ms: Some(1_000), ..Default::default() };
    let send = send_span(&message, &ClientInfo::default(), &Options::default());
    metrics.record_send(&send, &send_outcome(Ok((1, 9))), Duration::from_millis(3));
    metrics.record_send(&send, &error_outcome("MsgTimedOut"), Duration::from_millis(5));
    let process = process_span(&message, &ClientInfo::default(), &Options::default(), true, false, 3_500);
    metrics.record_process(&process, &Outcome { attributes: vec![], error: None }, Duration::from_millis(2));
    provider.force_flush().unwrap();

    let exported = exporter.get_finished_metrics().unwrap();
    let all: Vec<_> = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).collect();
    let find = |name: &str| all.iter().find(|m| m.name() == name).unwrap_or_else(|| panic!("no metric {name}"));

    let AggregatedMetrics::U64(MetricData::Sum(sent)) = find(m::CLIENT_SENT_MESSAGES).data() else { panic!("sent is a u64 sum") };
    let mut by_error: Vec<(Option<String>, u64)> = sent
        .data_points()
        .map(|p| (p.attributes().find(|kv| kv.key.as_str() == "error.type").map(|kv| kv.value.to_string()), p.value()))
        .collect();
    by_error.sort();
    assert_eq!(by_error, vec![(None, 1), (Some("MsgTimedOut".into()), 1)]);
    for point in sent.data_points() {
        assert!(point.attributes().all(|kv| crate::lifecycle::METRIC_ATTRIBUTE_KEYS.contains(&kv.key.as_str())));
    }

    let AggregatedMetrics::F64(MetricData::Histogram(e2e)) = find(m::E2E_LATENCY).data() else { panic!("e2e is a histogram") };
    let point = e2e.data_points().next().unwrap();
    assert_eq!((point.count(), point.sum()), (1, 2.5));
    assert!(point.attributes().any(|kv| kv.key.as_str() == "messaging.destination.name" && kv.value.as_str() == "orders"));

    let AggregatedMetrics::U64(MetricData::Sum(consumed)) = find(m::CLIENT_CONSUMED_MESSAGES).data() else { panic!("consumed is a u64 sum") };
    assert_eq!(consumed.data_points().map(|p| p.value()).sum::<u64>(), 1);
    for name in [m::CLIENT_OPERATION_DURATION, m::PROCESS_DURATION] {
        let AggregatedMetrics::F64(MetricData::Histogram(h)) = find(name).data() else { panic!("{name} is a histogram") };
        assert!(h.data_points().all(|p| p.count() >= 1));
    }
}

#[test]
fn metric_attribute_sets_converted_once_stay_apart_when_their_hashes_collide() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use crate::lifecycle::{Instrument, MetricRecord};
    use crate::span::AttributeValue;

    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    let instruments = Instruments::new(&provider.meter("t"));
    // Same length, same last 8 bytes: the cheap hash is equal, the sets are not.
    let set = |topic: &str| vec![("messaging.destination.name", AttributeValue::String(topic.to_owned()))];
    let record = |topic: &str| MetricRecord { instrument: Instrument::SentMessages, value: 1.0, attributes: set(topic) };
    for topic in ["xx-topic-orders", "yy-topic-orders", "yy-topic-orders", "xx-topic-orders", "yy-topic-orders"] {
        instruments.record(&record(topic));
    }
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let mut counts: Vec<(String, u64)> = Vec::new();
    for metric in exported.last().unwrap().scope_metrics().flat_map(|sm| sm.metrics()) {
        if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
            for p in sum.data_points() {
                let topic = p.attributes().map(|kv| kv.value.as_str().into_owned()).collect::<Vec<_>>().join(",");
                counts.push((topic, p.value()));
            }
        }
    }
    counts.sort();
    assert_eq!(counts, [("xx-topic-orders".to_owned(), 2), ("yy-topic-orders".to_owned(), 3)]);
    assert_eq!(instruments.sets.read().unwrap().count, 2);
}

/// Exported metrics as comparable lines: name, sorted attributes and the point's value (sum,
/// or count, sum and bucket counts).
fn metric_lines(provider: &opentelemetry_sdk::metrics::SdkMeterProvider, exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter) -> Vec<String> {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    provider.force_flush().unwrap();
    let attrs = |it: &mut dyn Iterator<Item = &KeyValue>| {
        let mut v: Vec<String> = it.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
        v.sort();
        v.join(",")
    };
    let mut lines = Vec::new();
    for metric in exporter.get_finished_metrics().unwrap().iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()) {
        match metric.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                lines.extend(sum.data_points().map(|p| format!("{} {} {}", metric.name(), attrs(&mut p.attributes()), p.value())));
            }
            AggregatedMetrics::F64(MetricData::Histogram(h)) => lines.extend(h.data_points().map(|p| {
                format!("{} {} {} {} {:?}", metric.name(), attrs(&mut p.attributes()), p.count(), p.sum(), p.bucket_counts().collect::<Vec<_>>())
            })),
            other => panic!("unexpected {}: {other:?}", metric.name()),
        }
    }
    lines.sort();
    lines
}

#[test]
fn kept_finishes_record_what_the_kept_recipes_finish_records() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::trace::Sampler;

    let meters = || {
        let exporter = InMemoryMetricExporter::default();
        (SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build(), exporter)
    };
    let ((recipe_meters, recipe_exporter), (kept_meters, kept_exporter)) = (meters(), meters());
    let tracers = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build();
    let by_recipe = Executor::new(tracers.tracer("t"), Some(&recipe_meters.meter("m")));
    let by_kept = Executor::new(tracers.tracer("t"), Some(&kept_meters.meter("m")));
    let client = ClientInfo { client_id: Some("c".into()), consumer_group: Some("g".into()), ..ClientInfo::default() }.with_bootstrap("k:9092");
    let lifecycle = Lifecycle::new(Options::default(), client);
    let cache = StartCache::default();
    let mut kept_finishes = 0;
    let sends = [
        (SendResult::Acked { partition: 0, offset: 1 }, None),
        (SendResult::Acked { partition: 1, offset: 2 }, Some(Duration::from_micros(1_500))),
        (SendResult::Acked { partition: 0, offset: 3 }, Some(Duration::from_millis(40))),
        (SendResult::Failed { error_type: "MsgTimedOut" }, None),
        // Past the partition cache's bound: converted per message, the same records.
        (SendResult::Acked { partition: 1500, offset: 4 }, None),
        (SendResult::Acked { partition: 1500, offset: 5 }, Some(Duration::from_millis(2))),
        // Unknown partition: no partition attribute.
        (SendResult::Acked { partition: -1, offset: -1 }, None),
    ];
    for (i, (result, latency)) in sends.into_iter().enumerate() {
        let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
        let started = by_kept.start_send_cached(&cache, &lifecycle, &message, &Context::new()).unwrap();
        let Some(kept) = &started.kept else { continue };
        let elapsed = Duration::from_millis(3 + i as u64);
        by_recipe.finish(&started.running, &kept.finish(result, elapsed, latency));
        by_kept.finish_kept_send(&started.running, kept, result, elapsed, latency);
        kept_finishes += 1;
    }
    let now = crate::lifecycle::now_ms();
    let processes = [
        (Some(now - 10), HandlerResult::Returned),
        (Some(now - 250), HandlerResult::Returned),
        (None, HandlerResult::Returned),
        (Some(now - 40), HandlerResult::Failed { error_type: "Boom" }),
        (Some(now - 1_000), HandlerResult::Returned),
        // Without a timestamp a message is of its own situation (no e2e latency record): the
        // first took its recipe, this one is kept.
        (None, HandlerResult::Returned),
    ];
    for (i, (timestamp_ms, result)) in processes.into_iter().enumerate() {
        let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(i as i64), timestamp_ms, ..MessageInfo::default() };
        let started = by_kept.start_process_cached(&cache, &lifecycle, &message, &MessageContext::default(), &Context::new(), None).unwrap();
        let Some(kept) = &started.kept else { continue };
        let elapsed = Duration::from_millis(7 * (i as u64 + 1));
        by_recipe.finish(&started.running, &kept.finish(result, elapsed));
        by_kept.finish_kept_process(&started.running, kept, result, elapsed);
        kept_finishes += 1;
    }
    // The first message of each situation takes its recipe; the rest are kept.
    assert_eq!(kept_finishes, 10);
    let lines = metric_lines(&recipe_meters, &recipe_exporter);
    // 2 sends x 4 partitions (0, 1, 1500, unknown) + failures, consumed, process duration, e2e latency.
    assert!(lines.iter().any(|l| l.starts_with("kafka_trace.e2e.latency")), "{lines:#?}");
    for partition in ["=1,", "=1500,"] {
        assert!(lines.iter().any(|l| l.contains(&format!("messaging.destination.partition.id{partition}"))), "{lines:#?}");
    }
    assert!(lines.iter().any(|l| l.starts_with("messaging.client.sent.messages") && !l.contains("partition.id")), "{lines:#?}");
    assert_eq!(metric_lines(&kept_meters, &kept_exporter), lines);
}
