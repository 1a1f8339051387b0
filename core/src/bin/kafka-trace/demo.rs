//! `kafka-trace demo`: three services in one process, each with its own `service.name`.
//!
//! - `web` serves `GET /orders/{i}` (a SERVER span) and sends order `i` to `orders` inside it;
//! - `worker` processes each order in a `process orders` span and forwards it to `shipments`
//!   from inside that span (same trace; the headers are rewritten in place, never duplicated);
//! - `shipper` processes each shipment.
//!
//! Spans go to an in-memory exporter per service (and over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set); when every message has been processed at both hops,
//! each trace is printed as a tree and checked to be the full five-span chain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_trace::otlp::{span_processor, OtlpConfig, SpanCounters};
use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedProducer};
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use crate::tree::{self, SpanRow};
use crate::{kafka, DemoArgs};

/// Marks the messages of one demo run, so a shared broker's older or foreign messages are skipped.
const RUN_HEADER: &str = "kafka-trace-demo-run";
const PARTITIONS: i32 = 3;

/// One service of the demo: its tracer provider and where its spans end up for the terminal.
struct Service {
    name: &'static str,
    provider: SdkTracerProvider,
    spans: InMemorySpanExporter,
    otlp: Option<Arc<SpanCounters>>,
}

impl Service {
    fn new(name: &'static str, otlp: bool) -> Result<Self, String> {
        let spans = InMemorySpanExporter::default();
        let mut builder = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name(name).build())
            .with_simple_exporter(spans.clone());
        let mut counters = None;
        if otlp {
            // The endpoint and headers come from the OTEL_EXPORTER_OTLP_* environment; the batch
            // processor's queue is bounded, so a dead collector costs spans, never messages.
            let config = OtlpConfig { export_timeout: Some(Duration::from_secs(5)), ..OtlpConfig::default() };
            let (processor, counts) = span_processor(&config).map_err(|e| e.to_string())?;
            builder = builder.with_span_processor(processor);
            counters = Some(counts);
        }
        Ok(Self { name, provider: builder.build(), spans, otlp: counters })
    }

    fn tracer(&self) -> SdkTracer {
        self.provider.tracer("kafka-trace-demo")
    }
}

/// How far the messages got.
#[derive(Default)]
struct Progress {
    sent: AtomicUsize,
    worked: AtomicUsize,
    shipped: AtomicUsize,
}

impl Progress {
    fn snapshot(&self) -> [usize; 3] {
        [self.sent.load(Ordering::Acquire), self.worked.load(Ordering::Acquire), self.shipped.load(Ordering::Acquire)]
    }
}

struct Plan<'a> {
    bootstrap: String,
    n: usize,
    timeout: Duration,
    orders: &'a str,
    shipments: &'a str,
    run_id: String,
    /// Where the worker and the shipper start reading: the end of each partition before the run.
    orders_start: TopicPartitionList,
    shipments_start: TopicPartitionList,
}

pub fn run(args: &DemoArgs) -> Result<(), String> {
    let timeout = args.timeout();
    let (orders, shipments) = (args.orders_topic.as_str(), args.shipments_topic.as_str());
    if orders == shipments {
        return Err("--orders-topic and --shipments-topic must differ".to_owned());
    }
    // The mock cluster must outlive every client, so it is declared first (dropped last).
    let mock;
    let bootstrap = match args.bootstrap() {
        Some(bootstrap) => {
            mock = None;
            eprintln!("kafka-trace demo: using Kafka at {bootstrap}");
            bootstrap
        }
        None => {
            let cluster = MockCluster::new(1).map_err(|e| format!("cannot start the embedded mock Kafka cluster: {e}"))?;
            for topic in [orders, shipments] {
                cluster.create_topic(topic, PARTITIONS, 1).map_err(|e| format!("mock cluster: cannot create topic {topic}: {e}"))?;
            }
            let bootstrap = cluster.bootstrap_servers();
            eprintln!("kafka-trace demo: started an embedded mock Kafka cluster at {bootstrap} (pass --bootstrap to use a real broker)");
            mock = Some(cluster);
            bootstrap
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;

    eprintln!("kafka-trace demo: connecting (timeout {} s)", timeout.as_secs());
    let metadata = kafka::connect(&bootstrap, timeout)?;
    if mock.is_none() {
        runtime.block_on(kafka::create_topics(&bootstrap, &[orders, shipments], PARTITIONS, timeout))?;
    }
    let start = |topic: &str| -> Result<TopicPartitionList, String> {
        let partitions = kafka::wait_for_topic(&metadata, topic, timeout)?;
        let mut list = TopicPartitionList::new();
        for (partition, high) in kafka::high_watermarks(&metadata, topic, &partitions, timeout)? {
            list.add_partition_offset(topic, partition, Offset::Offset(high)).map_err(|e| e.to_string())?;
        }
        Ok(list)
    };
    let plan = Plan {
        n: args.messages as usize,
        timeout,
        orders,
        shipments,
        run_id: format!("{:x}-{:x}", std::process::id(), kafka::now_ms()),
        orders_start: start(orders)?,
        shipments_start: start(shipments)?,
        bootstrap: bootstrap.clone(),
    };
    drop(metadata);

    // Either the generic or the traces-only endpoint turns export on, as in every OpenTelemetry SDK.
    let set = |name: &str| std::env::var(name).ok().filter(|s| !s.trim().is_empty());
    let otlp_endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let services = ["web", "worker", "shipper"].map(|name| Service::new(name, otlp_endpoint.is_some()));
    let services: Vec<Service> = services.into_iter().collect::<Result<_, _>>()?;

    eprintln!("kafka-trace demo: {} requests: web → {orders} → worker → {shipments} → shipper", plan.n);
    let started = Instant::now();
    let outcome = runtime.block_on(pipeline(&plan, &services));
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome?;
    eprintln!("kafka-trace demo: all {} messages processed at both hops in {:.2} s", plan.n, started.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    for service in &services {
        let spans = service.spans.get_finished_spans().map_err(|e| format!("in-memory exporter of {}: {e}", service.name))?;
        rows.extend(spans.into_iter().map(|data| SpanRow { service: service.name, data }));
    }
    let (mut exported, mut failed) = (0, 0);
    for service in &services {
        // Flushes OTLP (each export bounded by its timeout); the in-memory spans are already read.
        let _ = service.provider.shutdown_with_timeout(Duration::from_secs(10));
        if let Some(stats) = service.otlp.as_ref().map(|c| c.stats()) {
            exported += stats.exported as usize;
            failed += stats.export_failed as usize;
        }
    }
    if let Some(endpoint) = &otlp_endpoint {
        let total = rows.len();
        if exported == total {
            eprintln!("kafka-trace demo: exported all {total} spans over OTLP to {endpoint}");
        } else {
            let lost = total.saturating_sub(exported + failed);
            eprintln!(
                "kafka-trace demo: warning: only {exported} of {total} spans reached the OTLP collector at {endpoint} \
                 ({failed} refused or unreachable, {lost} dropped); the messages were not affected"
            );
        }
    }
    drop(mock);

    let traces = tree::group(rows);
    let check = tree::check_chains(&traces, plan.n, orders, shipments);
    if args.json {
        let doc = serde_json::json!({
            "bootstrap": if args.bootstrap().is_some() { serde_json::Value::String(bootstrap) } else { serde_json::Value::Null },
            "embedded_mock_cluster": args.bootstrap().is_none(),
            "messages": plan.n,
            "topics": [orders, shipments],
            "traces": traces.iter().map(tree::trace_json).collect::<Vec<_>>(),
            "complete_chains": check.as_ref().map_or(0, |n| *n),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        for trace in &traces {
            tree::print_trace(trace);
        }
    }
    let complete = check?;
    if !args.json {
        println!("{complete} traces, each GET /orders/{{i}} → send {orders} → process {orders} → send {shipments} → process {shipments}");
    }
    Ok(())
}

async fn pipeline(plan: &Plan<'_>, services: &[Service]) -> Result<(), String> {
    let [web, worker, shipper] = services else { unreachable!("three services") };
    let config = kafka::client_config(&plan.bootstrap, plan.timeout);
    let mut producer_config = config.clone();
    producer_config.set("linger.ms", "1");
    let trace = TraceConfig::default();

    let web_producer = TracedProducer::new(producer_config.clone().set("client.id", "web"), web.tracer(), trace.clone())
        .map_err(|e| format!("web: cannot create producer: {e}"))?;
    let worker_producer = TracedProducer::new(producer_config.clone().set("client.id", "worker"), worker.tracer(), trace.clone())
        .map_err(|e| format!("worker: cannot create producer: {e}"))?;

    let consumer = |service: &Service, start: &TopicPartitionList| -> Result<(StreamConsumer, TracedConsumer<SdkTracer>), String> {
        let mut config = kafka::consumer_config(&plan.bootstrap, plan.timeout);
        // Short fetch waits, so the end-to-end latency shows the pipeline, not librdkafka's batching.
        config.set("group.id", service.name).set("client.id", service.name).set("fetch.wait.max.ms", "10");
        let consumer: StreamConsumer = config.create().map_err(|e| format!("{}: cannot create consumer: {e}", service.name))?;
        consumer.assign(start).map_err(|e| format!("{}: cannot assign partitions: {e}", service.name))?;
        Ok((consumer, TracedConsumer::new(&config, service.tracer(), trace.clone())))
    };
    let (worker_consumer, worker_traced) = consumer(worker, &plan.orders_start)?;
    let (shipper_consumer, shipper_traced) = consumer(shipper, &plan.shipments_start)?;

    let progress = Progress::default();
    let web_tracer = web.tracer();
    let work = async {
        tokio::try_join!(
            serve_requests(plan, &web_producer, &web_tracer, &progress),
            forward_orders(plan, &worker_consumer, &worker_traced, &worker_producer, &progress),
            ship(plan, &shipper_consumer, &shipper_traced, &progress),
        )
    };
    let result = tokio::select! {
        done = work => done.map(|_| ()),
        stalled = watch(plan, &progress) => Err(stalled),
    };
    report_progress(plan, progress.snapshot());
    result
}

/// `web`: one SERVER span per request, the order sent to `orders` inside it.
async fn serve_requests(plan: &Plan<'_>, producer: &TracedProducer<SdkTracer>, tracer: &SdkTracer, progress: &Progress) -> Result<(), String> {
    for i in 1..=plan.n {
        let span = tracer
            .span_builder(format!("GET /orders/{i}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", "/orders/{id}"),
                KeyValue::new("url.path", format!("/orders/{i}")),
            ])
            .start_with_context(tracer, &Context::new());
        // Baggage travels with the trace context: the worker forwards it, the shipper sees it.
        let cx = Context::new().with_span(span).with_baggage([KeyValue::new("order.id", i.to_string())]);
        let key = format!("order-{i}");
        let payload = format!("{{\"order\":{i}}}");
        let headers = OwnedHeaders::new().insert(Header { key: RUN_HEADER, value: Some(plan.run_id.as_bytes()) });
        let record = FutureRecord::to(plan.orders).key(&key).payload(&payload).headers(headers);
        let result = producer.send_in(&cx, record, plan.timeout).await;
        let span = cx.span();
        match result {
            Ok(_) => {
                span.set_attribute(KeyValue::new("http.response.status_code", 202));
                span.end();
                progress.sent.fetch_add(1, Ordering::AcqRel);
            }
            Err((error, _)) => {
                span.set_attribute(KeyValue::new("http.response.status_code", 503));
                span.set_status(Status::error(error.to_string()));
                span.end();
                return Err(format!("web: cannot send order {i} to {}: {error}", plan.orders));
            }
        }
    }
    Ok(())
}

fn is_this_run(message: &BorrowedMessage<'_>, run_id: &str) -> bool {
    message.headers().is_some_and(|headers| headers.iter().any(|h| h.key == RUN_HEADER && h.value == Some(run_id.as_bytes())))
}

/// The message's headers, copied for forwarding (the producer rewrites the trace headers).
fn copy_headers(message: &BorrowedMessage<'_>) -> OwnedHeaders {
    let mut out = OwnedHeaders::new();
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            out = out.insert(Header { key: header.key, value: header.value });
        }
    }
    out
}

/// Receives the next message of this run; other messages (older runs, other producers on a
/// shared broker) are skipped. Receive errors are reported and retried; [`watch`] bounds the wait.
async fn next_message<'c>(service: &str, consumer: &'c StreamConsumer, run_id: &str) -> BorrowedMessage<'c> {
    loop {
        match consumer.recv().await {
            Ok(message) if is_this_run(&message, run_id) => return message,
            Ok(_) => {}
            Err(error) => {
                eprintln!("kafka-trace demo: {service}: receive error: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// `worker`: processes each order and forwards it to `shipments` from inside the process span.
async fn forward_orders(
    plan: &Plan<'_>,
    consumer: &StreamConsumer,
    traced: &TracedConsumer<SdkTracer>,
    producer: &TracedProducer<SdkTracer>,
    progress: &Progress,
) -> Result<(), String> {
    for _ in 0..plan.n {
        let message = next_message("worker", consumer, &plan.run_id).await;
        let forwarded = traced
            .process(&message, || async {
                let record = FutureRecord::to(plan.shipments)
                    .key(message.key().unwrap_or_default())
                    .payload(message.payload().unwrap_or_default())
                    .headers(copy_headers(&message));
                producer.send(record, plan.timeout).await.map(|_| ()).map_err(|(error, _)| error)
            })
            .await;
        forwarded.map_err(|e| format!("worker: cannot forward to {}: {e}", plan.shipments))?;
        progress.worked.fetch_add(1, Ordering::AcqRel);
    }
    Ok(())
}

/// `shipper`: processes each shipment.
async fn ship(plan: &Plan<'_>, consumer: &StreamConsumer, traced: &TracedConsumer<SdkTracer>, progress: &Progress) -> Result<(), String> {
    for _ in 0..plan.n {
        let message = next_message("shipper", consumer, &plan.run_id).await;
        traced.process(&message, || async { Ok::<(), std::convert::Infallible>(()) }).await.unwrap_or_else(|never| match never {});
        progress.shipped.fetch_add(1, Ordering::AcqRel);
    }
    Ok(())
}

fn report_progress(plan: &Plan<'_>, [sent, worked, shipped]: [usize; 3]) {
    let n = plan.n;
    eprintln!(
        "kafka-trace demo: web sent {sent}/{n} to {} · worker processed {worked}/{n} and forwarded to {} · shipper processed {shipped}/{n}",
        plan.orders, plan.shipments
    );
}

/// Reports progress while the messages flow; returns an error only when nothing moved for the
/// timeout (the pipeline finishing first cancels it).
async fn watch(plan: &Plan<'_>, progress: &Progress) -> String {
    let mut last = progress.snapshot();
    let mut last_change = Instant::now();
    let mut last_report = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = progress.snapshot();
        if now != last {
            last = now;
            last_change = Instant::now();
            if last_report.elapsed() >= Duration::from_millis(500) {
                report_progress(plan, now);
                last_report = Instant::now();
            }
        }
        if last_change.elapsed() >= plan.timeout {
            let [sent, worked, shipped] = now;
            let n = plan.n;
            let secs = plan.timeout.as_secs();
            return if sent < n {
                format!("timed out: no progress for {secs} s; web sent {sent}/{n} messages to {} (is the broker accepting writes?)", plan.orders)
            } else if worked < n {
                format!("timed out: no progress for {secs} s; worker processed {worked}/{n} messages from {}", plan.orders)
            } else {
                format!("timed out: no progress for {secs} s; shipper processed {shipped}/{n} messages from {}", plan.shipments)
            };
        }
    }
}
