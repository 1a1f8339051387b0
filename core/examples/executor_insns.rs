//! The per-message work of the rdkafka adapters without a broker, for instruction counts
//! (`executor_insns.sh` runs it under callgrind): a send span started through the start cache,
//! its context written into fresh headers, the span ended at a fake acknowledgement; then the
//! process span of a message carrying those headers (read back, started through the cache, its
//! context attached around a no-op handler, ended). The same loop as `TracedProducer::send_in`
//! and `TracedConsumer::process_sync` minus rdkafka, so the count is exact and repeatable.
//!
//! `sdk-floor` makes the same two spans directly with the SDK (as throughput.rs's floor does).
//!
//! `KT_BENCH_MODES=kafka-trace KT_BENCH_SAMPLING=0.01 cargo run --release -p kafka-trace --features otel --example executor_insns -- [MESSAGES]`
//! (`KT_BENCH_METRICS=1`: with the messaging metrics). Prints nothing: count it with
//! `bash core/examples/throughput_insns.sh --no-broker`.

#[cfg(feature = "otel")]
fn main() {
    imp::main();
}

#[cfg(not(feature = "otel"))]
fn main() {
    eprintln!("build with --features otel");
}

#[cfg(feature = "otel")]
#[path = "support/floor.rs"]
mod floor;

#[cfg(feature = "otel")]
mod imp {
    use std::hint::black_box;

    use super::floor;

    use kafka_trace::lifecycle::{HandlerResult, Lifecycle, SendResult};
    use kafka_trace::otel::{inject_context, Executor, Instruments, MessageContext, StartCache};
    use kafka_trace::span::{ClientInfo, MessageInfo, Options};
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::Context;
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use opentelemetry_sdk::testing::trace::NoopSpanExporter;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, Tracer};

    type Headers = Vec<(String, Vec<u8>)>;

    /// One message through the cached send and process paths, as the rdkafka adapters run them.
    fn traced(executor: &Executor<Tracer>, cache: (&StartCache, &StartCache), lifecycle: (&Lifecycle, &Lifecycle), offset: i64) {
        let root = Context::new();
        let message = MessageInfo { topic: "orders", partition: None, payload_len: Some(100), ..MessageInfo::default() };
        let send = executor.start_send_cached(cache.0, lifecycle.0, black_box(&message), &root).unwrap();
        let mut headers: Headers = Vec::new();
        inject_context(send.running.context(), &mut headers);
        // As the adapters do, the clock is read only for a finish that is built.
        let outcome = SendResult::Acked { partition: 0, offset };
        match (&send.recipe, &send.kept) {
            // With metrics, the full finish; without, the span's alone (as the adapters' finish_span).
            (Some(r), _) if executor.instruments().is_some() => executor.finish(&send.running, &r.finish(outcome, send.running.elapsed(), None)),
            (Some(r), _) => executor.finish(&send.running, &r.finish_span(outcome, send.running.elapsed(), None)),
            (None, Some(k)) => executor.finish_kept_send(&send.running, k, outcome, send.running.elapsed(), None),
            (None, None) => executor.end_unrecorded(&send.running),
        }
        let consumed = MessageInfo { topic: "orders", partition: Some(0), offset: Some(offset), payload_len: Some(100), ..MessageInfo::default() };
        let context = MessageContext::from_headers(Some(black_box(&headers)));
        let process = executor.start_process_cached(cache.1, lifecycle.1, &consumed, &context, &root, None).unwrap();
        {
            let _guard = process.running.context().clone().attach();
            black_box(());
        }
        let elapsed = || process.running.elapsed();
        match (&process.recipe, &process.kept) {
            (Some(r), _) if executor.instruments().is_some() => executor.finish(&process.running, &r.finish(HandlerResult::Returned, elapsed())),
            (Some(r), _) => executor.finish(&process.running, &r.finish_span(HandlerResult::Returned, elapsed())),
            (None, Some(k)) => executor.finish_kept_process(&process.running, k, HandlerResult::Returned, elapsed()),
            (None, None) => executor.end_unrecorded(&process.running),
        }
    }

    /// The same two spans with the SDK alone (throughput.rs's floor).
    fn floor(tracer: &Tracer, offset: i64) {
        let topic = black_box("orders");
        floor::end_send(floor::send_span(tracer, topic, 100), Some((0, offset)));
        floor::process(tracer, (topic, 0, offset), 100, || black_box(()));
    }

    pub fn main() {
        let n: i64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
        let modes = std::env::var("KT_BENCH_MODES").unwrap_or_else(|_| "kafka-trace".into());
        let ratio: f64 = std::env::var("KT_BENCH_SAMPLING").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
        let sampler = if ratio >= 1.0 {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
        } else {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        };
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            // A queue that holds every span of the run: no span is dropped, whatever the thread
            // schedule (the default 2,048 made full-sampling counts depend on it).
            .with_span_processor(
                BatchSpanProcessor::builder(NoopSpanExporter::new())
                    .with_batch_config(BatchConfigBuilder::default().with_max_queue_size(2 * n as usize + 1024).build())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("insns");
        // Metrics on (`KT_BENCH_METRICS=1`): a meter provider with a periodic reader (its first
        // export is a minute away) to a memory exporter.
        let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build()).build();
        let instruments = (std::env::var("KT_BENCH_METRICS").as_deref() == Ok("1")).then(|| Instruments::new(&meters.meter("insns")));
        let executor = Executor::with_instruments(tracer.clone(), instruments);
        let client = ClientInfo::default().with_bootstrap("127.0.0.1:9092");
        let producer = Lifecycle::new(Options::default(), client.clone());
        let consumer = Lifecycle::new(Options::default(), ClientInfo { consumer_group: Some("g".into()), ..client });
        let caches = (StartCache::default(), StartCache::default());
        for mode in modes.split(',').map(str::trim) {
            for offset in 0..n {
                match mode {
                    "kafka-trace" => traced(&executor, (&caches.0, &caches.1), (&producer, &consumer), offset),
                    "sdk-floor" => floor(&tracer, offset),
                    "none" => {
                        black_box(offset);
                    }
                    other => panic!("unknown mode {other}: kafka-trace, sdk-floor or none"),
                }
            }
        }
        let _ = provider.shutdown();
    }
}
