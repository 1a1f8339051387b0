//! Per-message cost of the span model on the Rust SDK, without export: a send span (spec,
//! start, inject, end) and a process span (extract, spec, start, end).
//!
//! The `executor` group: one send and one process span per message through the lifecycle and
//! the executor as the rdkafka adapters run them, the recipe path (`Lifecycle::send` +
//! `Executor::start_send`) against the per-topic start cache (`Executor::start_send_cached`), at
//! full sampling and under `ParentBased(TraceIdRatio(0.01))` (the message's parent unsampled).
//!
//! `cargo bench -p kafka-trace --features otel --bench spans`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use kafka_trace::carrier::extract_parts;
use kafka_trace::otel::{end_span, inject_context, remote_span_context, start_span, SpanSources};
use kafka_trace::span::{process_span, send_outcome, send_span, ClientInfo, MessageInfo, Options};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::testing::trace::NoopSpanExporter;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

fn spans(c: &mut Criterion) {
    let client = ClientInfo { client_id: Some("bench".into()), consumer_group: Some("g".into()), ..ClientInfo::default() }.with_bootstrap("127.0.0.1:9092");
    let options = Options::default();
    let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(42), key: Some(b"k-1"), payload_len: Some(100), timestamp_ms: Some(1) };
    let providers = [
        ("recording, no processor", SdkTracerProvider::builder().build()),
        ("batch processor, no-op exporter", SdkTracerProvider::builder().with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter::new()).build()).build()),
    ];
    let mut group = c.benchmark_group("span_overhead");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (label, provider) in &providers {
        let tracer = provider.tracer("bench");
        let root = Context::new();
        group.bench_function(format!("send span + inject ({label})"), |b| {
            let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
            b.iter(|| {
                let spec = send_span(black_box(&message), &client, &options);
                let cx = start_span(&tracer, &spec, &SpanSources { ambient: Some(&root), ..SpanSources::default() });
                inject_context(&cx, &mut headers);
                end_span(&cx, &send_outcome(Ok((0, 42))));
            })
        });
        let headers = vec![("traceparent".to_owned(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
        group.bench_function(format!("process span ({label})"), |b| {
            b.iter(|| {
                let remote = extract_parts(black_box(&headers)).into_context().map(|c| remote_span_context(&c.traceparent, &c.tracestate));
                let spec = process_span(&message, &client, &options, remote.is_some(), false, 2);
                let cx = start_span(&tracer, &spec, &SpanSources { ambient: Some(&root), remote, poll: None });
                let guard = cx.clone().attach();
                drop(guard);
                end_span(&cx, &kafka_trace::span::Outcome { attributes: Vec::new(), error: None });
            })
        });
    }
    // Where the time goes: our span spec alone, and the SDK alone with prebuilt attributes.
    group.bench_function("breakdown: send_span spec only", |b| b.iter(|| send_span(black_box(&message), &client, &options)));
    let prebuilt = kafka_trace::otel::key_values(&send_span(&message, &client, &options).attributes);
    let tracer = providers[0].1.tracer("bench");
    group.bench_function("breakdown: SDK start+end with prebuilt attributes (no processor)", |b| {
        use opentelemetry::trace::{Span as _, Tracer as _};
        b.iter(|| {
            let mut span = tracer.span_builder("send orders").with_kind(opentelemetry::trace::SpanKind::Producer).with_attributes(prebuilt.clone()).start(&tracer);
            span.end();
        })
    });
    group.finish();
}

/// Send + process of one message through the executor, per path and sampling.
fn executor(c: &mut Criterion) {
    use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, SendResult};
    use kafka_trace::otel::{Executor, MessageContext, StartCache};
    use opentelemetry_sdk::trace::Sampler;

    let client = ClientInfo { client_id: Some("bench".into()), consumer_group: Some("g".into()), ..ClientInfo::default() }.with_bootstrap("127.0.0.1:9092");
    let lifecycle = Lifecycle::new(Options::default(), client);
    let message = MessageInfo { topic: "orders", partition: Some(0), offset: Some(42), key: Some(b"k-1"), payload_len: Some(100), timestamp_ms: Some(1) };
    let samplings = [
        ("full", Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), "01"),
        ("1%", Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.01))), "00"),
    ];
    let mut group = c.benchmark_group("executor");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for (sampling, sampler, flags) in samplings {
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter::new()).build())
            .build();
        let executor = Executor::new(provider.tracer("bench"), None);
        let root = Context::new();
        let headers = vec![("traceparent".to_owned(), format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}").into_bytes())];
        let ended = |d| SendResult::Acked { partition: 0, offset: d };
        group.bench_function(format!("send + process, recipe path ({sampling})"), |b| {
            b.iter(|| {
                let recipe = lifecycle.send(black_box(&message)).unwrap();
                let send = executor.start_send(&recipe, &root);
                executor.finish(&send, &recipe.finish(ended(42), send.elapsed(), None));
                let context = MessageContext::from_headers(Some(black_box(&headers)));
                let recipe = lifecycle.process(&message, context.remote_info(), AmbientInfo::default(), 2).unwrap();
                let process = executor.start_process(&recipe, &root, &context, None);
                drop(process.context().clone().attach());
                executor.finish(&process, &recipe.finish(HandlerResult::Returned, process.elapsed()));
            })
        });
        let cache = StartCache::default();
        group.bench_function(format!("send + process, start cache ({sampling})"), |b| {
            b.iter(|| {
                let send = executor.start_send_cached(&cache, &lifecycle, black_box(&message), &root).unwrap();
                match &send.recipe {
                    Some(r) => executor.finish(&send.running, &r.finish(ended(42), send.running.elapsed(), None)),
                    None => executor.end_unrecorded(&send.running),
                }
                let context = MessageContext::from_headers(Some(black_box(&headers)));
                let process = executor.start_process_cached(&cache, &lifecycle, &message, &context, &root, None).unwrap();
                drop(process.running.context().clone().attach());
                match &process.recipe {
                    Some(r) => executor.finish(&process.running, &r.finish(HandlerResult::Returned, process.running.elapsed())),
                    None => executor.end_unrecorded(&process.running),
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, spans, executor);
criterion_main!(benches);
