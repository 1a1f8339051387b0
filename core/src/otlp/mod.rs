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
//!
//! # Examples
//!
//! A service's `main`: providers from the environment, installed globally, shut down at exit.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use kafka_trace::otlp::Telemetry;
//!
//! // OTEL_SERVICE_NAME=orders-api OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
//! let telemetry = Telemetry::from_env()?;
//! opentelemetry::global::set_tracer_provider(telemetry.tracer_provider.clone());
//! opentelemetry::global::set_meter_provider(telemetry.meter_provider.clone());
//! // ... run the service ...
//! let stats = telemetry.shutdown(Duration::from_secs(5));
//! eprintln!("spans: {} ended, {} exported, {} dropped", stats.ended, stats.exported, stats.dropped);
//! # Ok::<(), kafka_trace::otlp::SetupError>(())
//! ```

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
///
/// # Examples
///
/// ```
/// use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use kafka_trace::otlp::{span_processor, OtlpConfig};
/// # fn closed_port() -> u16 {
/// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
/// # }
///
/// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
/// let (processor, counters) = span_processor(&config)?;
/// let provider = SdkTracerProvider::builder().with_span_processor(processor).build();
/// provider.tracer("app").start("work").end();
/// assert_eq!(counters.stats().ended, 1);
/// # let _ = provider.shutdown();
/// # Ok::<(), kafka_trace::otlp::SetupError>(())
/// ```
#[derive(Debug, Default)]
pub struct SpanCounters {
    ended: AtomicU64,
    handed_to_exporter: AtomicU64,
    exported: AtomicU64,
}

/// A snapshot of [`SpanCounters`]. After [`Telemetry::shutdown`],
/// `ended == exported + export_failed + dropped`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::otlp::{OtlpConfig, SpanStats, Telemetry};
/// use opentelemetry::trace::{Span as _, Tracer as _};
/// # fn closed_port() -> u16 {
/// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
/// # }
///
/// // A collector that is not there: spans are counted as failed, never waited for.
/// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
/// let telemetry = Telemetry::new(&config)?;
/// for _ in 0..3 {
///     telemetry.tracer().start("work").end();
/// }
/// let stats: SpanStats = telemetry.shutdown(Duration::from_secs(2));
/// assert_eq!((stats.ended, stats.exported), (3, 0));
/// assert_eq!(stats.export_failed + stats.dropped, 3);
/// # Ok::<(), kafka_trace::otlp::SetupError>(())
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otlp::{span_processor, OtlpConfig, SpanStats};
    /// # fn closed_port() -> u16 {
    /// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    /// # }
    ///
    /// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
    /// let (_processor, counters) = span_processor(&config)?;
    /// assert_eq!(counters.stats(), SpanStats::default()); // nothing ended yet
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::otlp::{OtlpConfig, Telemetry};
///
/// let config = OtlpConfig {
///     endpoint: Some("https://127.0.0.1:4318".into()),
///     certificate: Some("/nonexistent/ca.pem".into()),
///     ..OtlpConfig::default()
/// };
/// let error = Telemetry::new(&config).unwrap_err();
/// assert!(error.to_string().starts_with("cannot set up OTLP export: "));
/// assert!(error.to_string().contains("/nonexistent/ca.pem"));
/// ```
#[derive(Debug)]
pub struct SetupError(pub(crate) String);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot set up OTLP export: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// Explicit settings; anything left `None` comes from the `OTEL_*` environment.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// use kafka_trace::otlp::{OtlpConfig, Protocol, Telemetry};
///
/// let config = OtlpConfig {
///     service_name: Some("orders-api".into()),
///     endpoint: Some("https://collector.example:4317".into()),
///     protocol: Some(Protocol::Grpc),
///     headers: vec![("api-key".into(), "secret".into())],
///     export_timeout: Some(Duration::from_secs(5)),
///     max_queue_size: Some(4096),
///     ..OtlpConfig::default()
/// };
/// let telemetry = Telemetry::new(&config)?; // nothing is contacted yet
/// # let _ = telemetry;
/// # Ok::<(), kafka_trace::otlp::SetupError>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::otlp::{OtlpConfig, Telemetry};
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry::trace::{Span as _, Tracer as _};
/// # fn closed_port() -> u16 {
/// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
/// # }
///
/// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
/// let telemetry = Telemetry::new(&config)?;
/// telemetry.tracer().start("work").end();
/// telemetry.meter_provider.meter("app").u64_counter("jobs").build().add(1, &[]);
/// assert_eq!(telemetry.span_stats().ended, 1);
/// let stats = telemetry.shutdown(Duration::from_secs(2));
/// assert_eq!(stats.exported, 0);
/// # Ok::<(), kafka_trace::otlp::SetupError>(())
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::otlp::{span_processor, OtlpConfig};
/// use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// # fn closed_port() -> u16 {
/// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
/// # }
///
/// // OTLP export next to an in-memory copy of every span.
/// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
/// let (processor, counters) = span_processor(&config)?;
/// let memory = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_span_processor(processor).with_simple_exporter(memory.clone()).build();
/// provider.tracer("app").start("work").end();
/// assert_eq!(memory.get_finished_spans().unwrap().len(), 1);
/// assert_eq!(counters.stats().ended, 1);
/// # let _ = provider.shutdown();
/// # Ok::<(), kafka_trace::otlp::SetupError>(())
/// ```
pub fn span_processor(config: &OtlpConfig) -> Result<(impl SpanProcessor + use<>, Arc<SpanCounters>), SetupError> {
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use kafka_trace::otlp::Telemetry;
    ///
    /// let telemetry = Telemetry::from_env()?;
    /// opentelemetry::global::set_tracer_provider(telemetry.tracer_provider.clone());
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
    pub fn from_env() -> Result<Self, SetupError> {
        Self::new(&OtlpConfig::default())
    }

    /// Providers from `config`, falling back to the environment. Nothing is contacted here: a
    /// missing collector shows up as failed exports, never as an error or a wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// use kafka_trace::otlp::{OtlpConfig, Telemetry};
    /// use opentelemetry::trace::{Span as _, Tracer as _};
    /// # fn closed_port() -> u16 {
    /// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    /// # }
    ///
    /// let config = OtlpConfig { service_name: Some("orders-api".into()), endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
    /// let telemetry = Telemetry::new(&config)?;
    /// let started = Instant::now();
    /// for _ in 0..100 {
    ///     telemetry.tracer().start("work").end();
    /// }
    /// assert!(started.elapsed() < Duration::from_secs(1)); // ending spans never waits for the collector
    /// assert_eq!(telemetry.shutdown(Duration::from_secs(2)).ended, 100);
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, SendResult};
    /// use kafka_trace::otel::Executor;
    /// use kafka_trace::otlp::{OtlpConfig, Telemetry};
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::Context;
    /// # fn closed_port() -> u16 {
    /// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    /// # }
    ///
    /// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
    /// let telemetry = Telemetry::new(&config)?;
    /// let executor = Executor::new(telemetry.tracer(), Some(&opentelemetry::metrics::MeterProvider::meter(&telemetry.meter_provider, "app")));
    /// let recipe = Lifecycle::default().send(&MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() }).unwrap();
    /// let send = executor.start_send(&recipe, &Context::new());
    /// executor.finish(&send, &recipe.finish(SendResult::Acked { partition: 0, offset: 0 }, send.elapsed(), None));
    /// assert_eq!(telemetry.shutdown(Duration::from_secs(2)).ended, 1);
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
    pub fn tracer(&self) -> opentelemetry_sdk::trace::SdkTracer {
        self.tracer_provider.tracer(env!("CARGO_PKG_NAME"))
    }

    /// What happened to the spans so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otlp::{OtlpConfig, Telemetry};
    /// use opentelemetry::trace::{Span as _, Tracer as _};
    /// # fn closed_port() -> u16 {
    /// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    /// # }
    ///
    /// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
    /// let telemetry = Telemetry::new(&config)?;
    /// telemetry.tracer().start("a").end();
    /// telemetry.tracer().start("b").end();
    /// assert_eq!(telemetry.span_stats().ended, 2);
    /// # telemetry.shutdown(std::time::Duration::from_secs(2));
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
    pub fn span_stats(&self) -> SpanStats {
        self.counters.stats()
    }

    /// Exports what is queued, waiting at most `timeout` per provider, and returns the final counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::otlp::{OtlpConfig, Telemetry};
    /// use opentelemetry::trace::{Span as _, Tracer as _};
    /// # fn closed_port() -> u16 {
    /// #     std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    /// # }
    ///
    /// let config = OtlpConfig { endpoint: Some(format!("http://127.0.0.1:{}", closed_port())), ..OtlpConfig::default() };
    /// let telemetry = Telemetry::new(&config)?;
    /// telemetry.tracer().start("work").end();
    /// let stats = telemetry.shutdown(Duration::from_secs(2));
    /// // Every ended span is accounted for: exported, failed or dropped.
    /// assert_eq!(stats.ended, stats.exported + stats.export_failed + stats.dropped);
    /// assert_eq!(stats.ended, 1);
    /// # Ok::<(), kafka_trace::otlp::SetupError>(())
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> SpanStats {
        // A dead collector makes shutdown fail or time out; the counts below say what was lost.
        let _ = self.tracer_provider.shutdown_with_timeout(timeout);
        let _ = self.meter_provider.shutdown_with_timeout(timeout);
        self.counters.stats()
    }
}
