//! OTLP export configured by the standard `OTEL_*` environment (feature `otlp`).
//!
//! Spans go through the SDK's batch processor, whose queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`)
//! and never blocks the thread that ends a span: when the collector is dead or slow, spans are
//! dropped, not messages. The SDK keeps its drop count private, so we count around it: spans
//! ended, handed to the exporter, and exported successfully. After [`Telemetry::shutdown`] the
//! difference is exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

/// Counters of what happened to the spans this process ended.
#[derive(Debug, Default)]
pub struct SpanCounters {
    ended: AtomicU64,
    handed_to_exporter: AtomicU64,
    exported: AtomicU64,
}

/// A snapshot of [`SpanCounters`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanStats {
    /// Sampled spans that ended.
    pub ended: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans sent to the collector that it did not accept (unreachable, timed out, refused).
    pub export_failed: u64,
    /// Spans never sent: dropped from the full queue, or still queued (0 after shutdown).
    pub dropped: u64,
}

impl SpanCounters {
    /// The current counts.
    pub fn stats(&self) -> SpanStats {
        let ended = self.ended.load(Ordering::Acquire);
        let handed = self.handed_to_exporter.load(Ordering::Acquire);
        let exported = self.exported.load(Ordering::Acquire);
        SpanStats { ended, exported, export_failed: handed.saturating_sub(exported), dropped: ended.saturating_sub(handed) }
    }
}

/// Counts spans as they end, then passes them on.
#[derive(Debug)]
struct CountingProcessor<P> {
    inner: P,
    counters: Arc<SpanCounters>,
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }
    fn on_end(&self, span: SpanData) {
        self.counters.ended.fetch_add(1, Ordering::AcqRel);
        self.inner.on_end(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts spans handed to the real exporter and the ones it exported.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    counters: Arc<SpanCounters>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        self.counters.handed_to_exporter.fetch_add(n, Ordering::AcqRel);
        let result = self.inner.export(batch).await;
        if result.is_ok() {
            self.counters.exported.fetch_add(n, Ordering::AcqRel);
        }
        result
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Why telemetry could not be set up.
#[derive(Debug)]
pub struct SetupError(String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot set up OTLP export: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// Explicit settings; anything left `None` comes from the `OTEL_*` environment.
#[derive(Clone, Debug, Default)]
pub struct OtlpConfig {
    /// `service.name` (else `OTEL_SERVICE_NAME`).
    pub service_name: Option<String>,
    /// OTLP/HTTP base endpoint, e.g. `http://127.0.0.1:4318` (else `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Longest wait for one export request (else `OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    pub export_timeout: Option<Duration>,
    /// Span queue bound (else `OTEL_BSP_MAX_QUEUE_SIZE`, default 2048).
    pub max_queue_size: Option<usize>,
}

/// Tracer and meter providers that export over OTLP, plus the span counters.
#[derive(Debug)]
pub struct Telemetry {
    /// Spans.
    pub tracer_provider: SdkTracerProvider,
    /// Metrics.
    pub meter_provider: SdkMeterProvider,
    counters: Arc<SpanCounters>,
}

/// The OTLP span pipeline alone (bounded batch processor, counted), for callers that build their
/// own tracer provider, e.g. next to an in-memory exporter. The counters report what happened to
/// the spans that went through it.
pub fn span_processor(config: &OtlpConfig) -> Result<(impl SpanProcessor, Arc<SpanCounters>), SetupError> {
    use opentelemetry_otlp::WithExportConfig;
    let mut spans = opentelemetry_otlp::SpanExporter::builder().with_http();
    if let Some(endpoint) = &config.endpoint {
        spans = spans.with_endpoint(signal_endpoint(endpoint, "traces"));
    }
    if let Some(timeout) = config.export_timeout {
        spans = spans.with_timeout(timeout);
    }
    let exporter = spans.build().map_err(|e| SetupError(e.to_string()))?;
    let counters = Arc::new(SpanCounters::default());
    let mut batch = BatchConfigBuilder::default();
    if let Some(size) = config.max_queue_size {
        batch = batch.with_max_queue_size(size);
    }
    let processor = BatchSpanProcessor::builder(CountingExporter { inner: exporter, counters: counters.clone() })
        .with_batch_config(batch.build())
        .build();
    Ok((CountingProcessor { inner: processor, counters: counters.clone() }, counters))
}

fn signal_endpoint(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

impl Telemetry {
    /// Providers from the environment alone.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::new(&OtlpConfig::default())
    }

    /// Providers from `config`, falling back to the environment. Nothing is contacted here: a
    /// missing collector shows up as failed exports, never as an error or a wait.
    pub fn new(config: &OtlpConfig) -> Result<Self, SetupError> {
        use opentelemetry_otlp::WithExportConfig;
        let mut resource = Resource::builder();
        if let Some(name) = &config.service_name {
            resource = resource.with_service_name(name.clone());
        }
        let resource = resource.build();

        let (processor, counters) = span_processor(config)?;
        let mut metrics = opentelemetry_otlp::MetricExporter::builder().with_http();
        if let Some(endpoint) = &config.endpoint {
            metrics = metrics.with_endpoint(signal_endpoint(endpoint, "metrics"));
        }
        if let Some(timeout) = config.export_timeout {
            metrics = metrics.with_timeout(timeout);
        }
        let metric_exporter = metrics.build().map_err(|e| SetupError(e.to_string()))?;
        let tracer_provider = SdkTracerProvider::builder().with_resource(resource.clone()).with_span_processor(processor).build();
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(PeriodicReader::builder(metric_exporter).build())
            .build();
        Ok(Self { tracer_provider, meter_provider, counters })
    }

    /// A tracer named after this library.
    pub fn tracer(&self) -> opentelemetry_sdk::trace::SdkTracer {
        self.tracer_provider.tracer(env!("CARGO_PKG_NAME"))
    }

    /// What happened to the spans so far.
    pub fn span_stats(&self) -> SpanStats {
        self.counters.stats()
    }

    /// Exports what is queued, waiting at most `timeout` per provider, and returns the final counts.
    pub fn shutdown(&self, timeout: Duration) -> SpanStats {
        // A dead collector makes shutdown fail or time out; the counts below say what was lost.
        let _ = self.tracer_provider.shutdown_with_timeout(timeout);
        let _ = self.meter_provider.shutdown_with_timeout(timeout);
        self.counters.stats()
    }
}
