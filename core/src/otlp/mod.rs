//! OTLP export configured by the standard `OTEL_*` environment (feature `otlp`).
//!
//! Spans go through the SDK's batch processor, whose queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`)
//! and never blocks the thread that ends a span: when the collector is dead or slow, spans are
//! dropped, not messages. The SDK keeps its drop count private, so we count around it: spans
//! ended, handed to the exporter, and exported successfully. After [`Telemetry::shutdown`] the
//! difference is exact.
//!
//! The transport follows the standard OTLP exporter environment (the private `transport` module):
//! `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]ENDPOINT` (http or https), `..._PROTOCOL`
//! (`http/protobuf`, the default, or `grpc`), `..._HEADERS` (`k=v,k2=v2`, percent-decoded),
//! `..._CERTIFICATE` (PEM CA bundle added to the system roots), `..._CLIENT_CERTIFICATE` and
//! `..._CLIENT_KEY` (mutual TLS), `..._TIMEOUT` (ms) and `..._COMPRESSION` (`gzip`). TLS is rustls.
//! The first failed export of a pipeline is logged once on stderr; later ones are only counted.

mod transport;

pub use transport::Protocol;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Counts spans handed to the real exporter and the ones it exported; logs the first failure.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    counters: Arc<SpanCounters>,
    /// Protocol and URL, for the log line.
    target: String,
    /// The transport's own account of the last failure, when the exporter's error lacks it.
    last_error: transport::LastError,
    logged: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        self.counters.handed_to_exporter.fetch_add(n, Ordering::AcqRel);
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                self.counters.exported.fetch_add(n, Ordering::AcqRel);
            }
            Err(error) => {
                if !self.logged.swap(true, Ordering::AcqRel) {
                    let cause = self.last_error.lock().ok().and_then(|mut e| e.take()).map_or_else(String::new, |e| format!(" ({e})"));
                    eprintln!(
                        "kafka-trace: OTLP export of {n} spans to {} failed: {error}{cause}; the spans are counted as export_failed \
                         (logged once; messages are not affected)",
                        self.target
                    );
                }
            }
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
pub struct SetupError(pub(crate) String);

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
    /// Base endpoint, e.g. `https://collector:4318` for http/protobuf (`/v1/traces` and
    /// `/v1/metrics` are appended) or `https://collector:4317` for gRPC (else
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`, full URLs, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318` / `http://localhost:4317`).
    pub endpoint: Option<String>,
    /// Wire protocol (else `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]PROTOCOL`, default http/protobuf).
    pub protocol: Option<Protocol>,
    /// Headers sent with every export, e.g. `("api-key", "...")`. `OTEL_EXPORTER_OTLP_HEADERS`
    /// (or the signal-specific variable) is read too; for the same name the environment's wins.
    pub headers: Vec<(String, String)>,
    /// PEM file of CA certificates trusted besides the system roots (else
    /// `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]CERTIFICATE`).
    pub certificate: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS (else `..._CLIENT_CERTIFICATE`); needs `client_key`.
    pub client_certificate: Option<PathBuf>,
    /// PEM private key of `client_certificate` (else `..._CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
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
    let (exporter, resolved, last_error) = transport::span_exporter(config)?;
    let target = format!("{} ({})", resolved.endpoint, resolved.protocol.as_str());
    let counters = Arc::new(SpanCounters::default());
    let mut batch = BatchConfigBuilder::default();
    if let Some(size) = config.max_queue_size {
        batch = batch.with_max_queue_size(size);
    }
    let processor = BatchSpanProcessor::builder(CountingExporter { inner: exporter, counters: counters.clone(), target, last_error, logged: AtomicBool::new(false) })
        .with_batch_config(batch.build())
        .build();
    Ok((CountingProcessor { inner: processor, counters: counters.clone() }, counters))
}

impl Telemetry {
    /// Providers from the environment alone.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::new(&OtlpConfig::default())
    }

    /// Providers from `config`, falling back to the environment. Nothing is contacted here: a
    /// missing collector shows up as failed exports, never as an error or a wait.
    pub fn new(config: &OtlpConfig) -> Result<Self, SetupError> {
        let mut resource = Resource::builder();
        if let Some(name) = &config.service_name {
            resource = resource.with_service_name(name.clone());
        }
        let resource = resource.build();

        let (processor, counters) = span_processor(config)?;
        let metric_exporter = transport::metric_exporter(config)?;
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
