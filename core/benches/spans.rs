//! Per-message cost of the span model on the Rust SDK, without export: a send span (spec,
//! start, inject, end) and a process span (extract, spec, start, end).
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

criterion_group!(benches, spans);
criterion_main!(benches);
