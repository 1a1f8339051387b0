//! How the OTLP exporters reach the collector: protocol, endpoint, headers, timeout, compression
//! and TLS, resolved from [`OtlpConfig`] and the standard `OTEL_EXPORTER_OTLP_*` environment.
//!
//! `opentelemetry-otlp` reads some variables itself: the headers
//! (`OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]HEADERS`, percent-decoded), the compression
//! (`..._COMPRESSION`: `gzip`) and, for gRPC endpoints without a scheme, `..._INSECURE`. It reads
//! no certificate variable and builds its HTTP client without any TLS settings, so this module
//! resolves the protocol, the endpoint (to know whether TLS is needed), the timeout and every
//! certificate variable, and hands the crate a TLS-configured client (HTTP) or TLS config (gRPC).
//!
//! TLS is rustls on the `ring` provider for both transports; the trust store is the system's
//! roots plus the PEM bundle of `OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]CERTIFICATE`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use super::{OtlpConfig, SetupError};

/// The OTLP wire protocol.
///
/// # Examples
///
/// ```
/// use kafka_trace::otlp::{OtlpConfig, Protocol};
///
/// assert_eq!(Protocol::default(), Protocol::HttpProtobuf);
/// let config = OtlpConfig { protocol: Protocol::parse("grpc"), ..OtlpConfig::default() };
/// assert_eq!(config.protocol, Some(Protocol::Grpc));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the default; port 4318, paths `/v1/traces`, `/v1/metrics`).
    #[default]
    HttpProtobuf,
    /// `grpc` (port 4317).
    Grpc,
}

impl Protocol {
    /// Parses the spelling of `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `grpc`).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otlp::Protocol;
    ///
    /// assert_eq!(Protocol::parse(" GRPC "), Some(Protocol::Grpc));
    /// assert_eq!(Protocol::parse("http/protobuf"), Some(Protocol::HttpProtobuf));
    /// assert_eq!(Protocol::parse("http/json"), None);
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Some(Self::HttpProtobuf),
            "grpc" => Some(Self::Grpc),
            _ => None,
        }
    }

    /// The spelling of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otlp::Protocol;
    ///
    /// assert_eq!(Protocol::HttpProtobuf.as_str(), "http/protobuf");
    /// assert_eq!(Protocol::parse(Protocol::Grpc.as_str()), Some(Protocol::Grpc));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }
}

/// Traces or metrics: which signal-specific variables apply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
        }
    }

    fn var_prefix(self) -> &'static str {
        match self {
            Self::Traces => "OTEL_EXPORTER_OTLP_TRACES_",
            Self::Metrics => "OTEL_EXPORTER_OTLP_METRICS_",
        }
    }
}

/// A non-empty environment variable.
fn var(name: &str) -> Option<(String, String)> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(|v| (name.to_owned(), v))
}

/// `OTEL_EXPORTER_OTLP_<SIGNAL>_<suffix>`, else `OTEL_EXPORTER_OTLP_<suffix>`, with the name found.
fn signal_var(signal: Signal, suffix: &str) -> Option<(String, String)> {
    var(&format!("{}{suffix}", signal.var_prefix()))
        .or_else(|| var(&format!("OTEL_EXPORTER_OTLP_{suffix}")))
}

/// Where and how one signal is exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) protocol: Protocol,
    /// The full URL: with `/v1/<signal>` for HTTP, as given for gRPC.
    pub(crate) endpoint: String,
    pub(crate) timeout: Duration,
    pub(crate) certificate: Option<(String, PathBuf)>,
    pub(crate) client_certificate: Option<(String, PathBuf)>,
    pub(crate) client_key: Option<(String, PathBuf)>,
}

impl Resolved {
    fn is_https(&self) -> bool {
        self.endpoint
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }
}

fn signal_url(base: &str, signal: Signal) -> String {
    format!("{}/v1/{}", base.trim_end_matches('/'), signal.path())
}

/// Resolves protocol, endpoint, timeout and certificate files for `signal`: explicit settings
/// first, then the signal-specific variable, then the generic one, then the OTLP defaults.
pub(crate) fn resolve(config: &OtlpConfig, signal: Signal) -> Result<Resolved, SetupError> {
    let protocol = match (config.protocol, signal_var(signal, "PROTOCOL")) {
        (Some(p), _) => p,
        (None, None) => Protocol::HttpProtobuf,
        (None, Some((name, value))) => Protocol::parse(&value).ok_or_else(|| {
            SetupError(format!(
                "{name}={value} is not supported (use http/protobuf or grpc)"
            ))
        })?,
    };
    let endpoint = match (
        &config.endpoint,
        var(&format!("{}ENDPOINT", signal.var_prefix())),
        var("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(base), _, _) if protocol == Protocol::HttpProtobuf => signal_url(base, signal),
        (Some(base), _, _) => base.clone(),
        // A signal-specific endpoint is the full URL, used as is.
        (None, Some((_, url)), _) => url,
        (None, None, Some((_, base))) if protocol == Protocol::HttpProtobuf => {
            signal_url(&base, signal)
        }
        (None, None, Some((_, base))) => base,
        (None, None, None) if protocol == Protocol::HttpProtobuf => {
            signal_url("http://localhost:4318", signal)
        }
        (None, None, None) => "http://localhost:4317".to_owned(),
    };
    // gRPC endpoints may omit the scheme: https unless ..._INSECURE=true (as the crate does).
    let endpoint = if protocol == Protocol::Grpc && !endpoint.contains("://") {
        let insecure =
            signal_var(signal, "INSECURE").is_some_and(|(_, v)| v.eq_ignore_ascii_case("true"));
        format!("{}://{endpoint}", if insecure { "http" } else { "https" })
    } else {
        endpoint
    };
    let timeout = match (config.export_timeout, signal_var(signal, "TIMEOUT")) {
        (Some(t), _) => t,
        (None, Some((name, ms))) => Duration::from_millis(
            ms.parse()
                .map_err(|_| SetupError(format!("{name}={ms} is not a number of milliseconds")))?,
        ),
        (None, None) => Duration::from_secs(10),
    };
    let file = |explicit: &Option<PathBuf>, suffix: &str| match explicit {
        Some(path) => Some(("OtlpConfig".to_owned(), path.clone())),
        None => signal_var(signal, suffix).map(|(name, path)| (name, PathBuf::from(path))),
    };
    Ok(Resolved {
        protocol,
        endpoint,
        timeout,
        certificate: file(&config.certificate, "CERTIFICATE"),
        client_certificate: file(&config.client_certificate, "CLIENT_CERTIFICATE"),
        client_key: file(&config.client_key, "CLIENT_KEY"),
    })
}

fn read(file: &Option<(String, PathBuf)>) -> Result<Option<Vec<u8>>, SetupError> {
    match file {
        None => Ok(None),
        Some((name, path)) => std::fs::read(path)
            .map(Some)
            .map_err(|e| SetupError(format!("{name}: cannot read {}: {e}", path.display()))),
    }
}

/// The PEM files, read at setup so a wrong path is a setup error, not a silent export failure.
struct TlsFiles {
    ca: Option<Vec<u8>>,
    /// Client certificate chain and private key (mutual TLS).
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    fn read(resolved: &Resolved) -> Result<Self, SetupError> {
        let identity = match (read(&resolved.client_certificate)?, read(&resolved.client_key)?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(SetupError(
                    "a client certificate needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY".to_owned(),
                ))
            }
        };
        Ok(Self {
            ca: read(&resolved.certificate)?,
            identity,
        })
    }
}

fn pem_name(path: &Option<(String, PathBuf)>) -> String {
    path.as_ref()
        .map_or_else(String::new, |(name, p)| format!("{name} ({})", p.display()))
}

/// The rustls client config of the HTTP transport: system roots (for https endpoints) plus the
/// CA bundle, and the client identity if any.
fn rustls_config(
    resolved: &Resolved,
    files: &TlsFiles,
) -> Result<rustls::ClientConfig, SetupError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    if resolved.is_https() {
        // Unreadable system certificates are skipped: a private CA may be all that is needed.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if let Some(pem) = &files.ca {
        let name = pem_name(&resolved.certificate);
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| SetupError(format!("{name}: not a PEM certificate bundle: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| SetupError(format!("{name}: unusable CA certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(SetupError(format!(
                "{name}: no PEM certificate in the file"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut tls = match &files.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let cert_name = pem_name(&resolved.client_certificate);
            let key_name = pem_name(&resolved.client_key);
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    SetupError(format!("{cert_name}: not a PEM certificate chain: {e}"))
                })?;
            if chain.is_empty() {
                return Err(SetupError(format!(
                    "{cert_name}: no PEM certificate in the file"
                )));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| SetupError(format!("{key_name}: not a PEM private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SetupError(format!("{cert_name} / {key_name}: {e}")))?
        }
    };
    // The blocking client speaks HTTP/1.1.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// The last transport error of an HTTP exporter with its causes, e.g. `... invalid peer
/// certificate: UnknownIssuer` (`opentelemetry-otlp` reports only "network error").
pub(crate) type LastError = Arc<Mutex<Option<String>>>;

/// The blocking reqwest client, remembering its last transport error for the log line.
#[derive(Debug)]
struct DiagnosedClient {
    inner: reqwest::blocking::Client,
    last_error: LastError,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for DiagnosedClient {
    async fn send_bytes(
        &self,
        request: http::Request<opentelemetry_http::Bytes>,
    ) -> Result<http::Response<opentelemetry_http::Bytes>, opentelemetry_http::HttpError> {
        let result = self.inner.send_bytes(request).await;
        if let Err(error) = &result {
            let mut text = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.ends_with(&cause_text) {
                    text = format!("{text}: {cause_text}");
                }
                source = cause.source();
            }
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(text);
            }
        }
        result
    }
}

/// The blocking reqwest client of the HTTP transport. Built on its own thread, as
/// `opentelemetry-otlp` does: a blocking client must not be built or dropped inside an async runtime.
fn http_client(
    resolved: &Resolved,
    files: &TlsFiles,
    last_error: &LastError,
) -> Result<DiagnosedClient, SetupError> {
    let tls = rustls_config(resolved, files)?;
    let timeout = resolved.timeout;
    let inner = std::thread::Builder::new()
        .name("kafka-trace-otlp-setup".to_owned())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .tls_backend_preconfigured(tls)
                .build()
        })
        .map_err(|e| SetupError(format!("cannot start a thread: {e}")))?
        .join()
        .map_err(|_| SetupError("building the HTTP client panicked".to_owned()))?
        .map_err(|e| SetupError(format!("cannot build the HTTP client: {e}")))?;
    Ok(DiagnosedClient {
        inner,
        last_error: last_error.clone(),
    })
}

/// The tonic TLS settings for an https gRPC endpoint.
fn grpc_tls(files: &TlsFiles) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new();
    // tonic refuses a system without root certificates even when a private CA is given.
    if files.ca.is_none() || !rustls_native_certs::load_native_certs().certs.is_empty() {
        tls = tls.with_native_roots();
    }
    if let Some(pem) = &files.ca {
        tls = tls.ca_certificate(Certificate::from_pem(pem));
    }
    if let Some((cert, key)) = &files.identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    tls
}

/// The runtime the gRPC exporters run on: tonic needs Tokio, while the SDK's batch span processor
/// and periodic metric reader run exports on their own plain threads. One worker thread for the
/// whole process, created on first use of gRPC and never shut down.
fn grpc_runtime() -> Result<&'static tokio::runtime::Runtime, SetupError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("kafka-trace-otlp-grpc")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SetupError(format!("cannot start the gRPC runtime: {e}")))
}

/// An exporter whose exports run on the gRPC runtime, whatever thread calls them.
#[derive(Debug)]
pub(crate) struct OnRuntime<E> {
    inner: Arc<E>,
    runtime: tokio::runtime::Handle,
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        let task = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            task.await.unwrap_or_else(|e| {
                Err(OTelSdkError::InternalFailure(format!(
                    "export task failed: {e}"
                )))
            })
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        // Called while the provider is built, before any export holds a clone.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for OnRuntime<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        // The metrics are borrowed, so the export is driven here, inside the runtime's context;
        // from a thread that is itself inside a runtime, on a helper thread.
        if tokio::runtime::Handle::try_current().is_err() {
            self.runtime.block_on(self.inner.export(metrics))
        } else {
            std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(self.inner.export(metrics)))
                    .join()
            })
            .unwrap_or_else(|_| {
                Err(OTelSdkError::InternalFailure(
                    "metric export panicked".to_owned(),
                ))
            })
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// A span exporter over either transport.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per pipeline
pub(crate) enum AnySpanExporter {
    Http(opentelemetry_otlp::SpanExporter),
    Grpc(OnRuntime<opentelemetry_otlp::SpanExporter>),
}

impl SpanExporter for AnySpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.export(batch).await,
            Self::Grpc(e) => e.export(batch).await,
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.shutdown_with_timeout(timeout),
            Self::Grpc(e) => e.shutdown_with_timeout(timeout),
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.force_flush(),
            Self::Grpc(e) => e.force_flush(),
        }
    }
    fn set_resource(&mut self, resource: &Resource) {
        match self {
            Self::Http(e) => e.set_resource(resource),
            Self::Grpc(e) => e.set_resource(resource),
        }
    }
}

/// A metric exporter over either transport.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per pipeline
pub(crate) enum AnyMetricExporter {
    Http(opentelemetry_otlp::MetricExporter),
    Grpc(OnRuntime<opentelemetry_otlp::MetricExporter>),
}

impl PushMetricExporter for AnyMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.export(metrics).await,
            Self::Grpc(e) => e.export(metrics).await,
        }
    }
    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.force_flush(),
            Self::Grpc(e) => e.force_flush(),
        }
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Http(e) => e.shutdown_with_timeout(timeout),
            Self::Grpc(e) => e.shutdown_with_timeout(timeout),
        }
    }
    fn temporality(&self) -> Temporality {
        match self {
            Self::Http(e) => e.temporality(),
            Self::Grpc(e) => e.temporality(),
        }
    }
}

fn headers(config: &OtlpConfig) -> std::collections::HashMap<String, String> {
    config.headers.iter().cloned().collect()
}

fn metadata(
    config: &OtlpConfig,
) -> Result<opentelemetry_otlp::tonic_types::metadata::MetadataMap, SetupError> {
    let mut map = http::HeaderMap::new();
    for (key, value) in &config.headers {
        let name = http::HeaderName::from_bytes(key.trim().as_bytes())
            .map_err(|_| SetupError(format!("header {key:?}: not a valid header name")))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| SetupError(format!("header {key:?}: value is not valid")))?;
        map.insert(name, value);
    }
    Ok(opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map))
}

fn build_error(
    resolved: &Resolved,
) -> impl Fn(opentelemetry_otlp::ExporterBuildError) -> SetupError + '_ {
    move |e| {
        SetupError(format!(
            "{} exporter for {}: {e}",
            resolved.protocol.as_str(),
            resolved.endpoint
        ))
    }
}

/// The span exporter `config` and the environment describe, where it sends, and its last
/// transport error (HTTP only; tonic's errors carry their cause).
pub(crate) fn span_exporter(
    config: &OtlpConfig,
) -> Result<(AnySpanExporter, Resolved, LastError), SetupError> {
    let resolved = resolve(config, Signal::Traces)?;
    let files = TlsFiles::read(&resolved)?;
    let last_error = LastError::default();
    let exporter = match resolved.protocol {
        Protocol::HttpProtobuf => AnySpanExporter::Http(
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(resolved.endpoint.clone())
                .with_timeout(resolved.timeout)
                .with_headers(headers(config))
                .with_http_client(http_client(&resolved, &files, &last_error)?)
                .build()
                .map_err(build_error(&resolved))?,
        ),
        Protocol::Grpc => {
            let runtime = grpc_runtime()?;
            // tonic starts its connection task when the channel is built: inside the runtime.
            let _entered = runtime.enter();
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(resolved.endpoint.clone())
                .with_timeout(resolved.timeout)
                .with_metadata(metadata(config)?);
            if resolved.is_https() {
                builder = builder.with_tls_config(grpc_tls(&files));
            }
            let exporter = builder.build().map_err(build_error(&resolved))?;
            AnySpanExporter::Grpc(OnRuntime {
                inner: Arc::new(exporter),
                runtime: runtime.handle().clone(),
            })
        }
    };
    Ok((exporter, resolved, last_error))
}

/// The metric exporter `config` and the environment describe.
pub(crate) fn metric_exporter(config: &OtlpConfig) -> Result<AnyMetricExporter, SetupError> {
    let resolved = resolve(config, Signal::Metrics)?;
    let files = TlsFiles::read(&resolved)?;
    Ok(match resolved.protocol {
        Protocol::HttpProtobuf => AnyMetricExporter::Http(
            opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(resolved.endpoint.clone())
                .with_timeout(resolved.timeout)
                .with_headers(headers(config))
                .with_http_client(http_client(&resolved, &files, &LastError::default())?)
                .build()
                .map_err(build_error(&resolved))?,
        ),
        Protocol::Grpc => {
            let runtime = grpc_runtime()?;
            let _entered = runtime.enter();
            let mut builder = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(resolved.endpoint.clone())
                .with_timeout(resolved.timeout)
                .with_metadata(metadata(config)?);
            if resolved.is_https() {
                builder = builder.with_tls_config(grpc_tls(&files));
            }
            let exporter = builder.build().map_err(build_error(&resolved))?;
            AnyMetricExporter::Grpc(OnRuntime {
                inner: Arc::new(exporter),
                runtime: runtime.handle().clone(),
            })
        }
    })
}

#[cfg(test)]
// The exporters are not Debug, so `expect_err` is not available.
#[allow(clippy::err_expect)]
mod tests {
    use super::*;

    // Only explicit settings here: the environment is process-wide and tests run in parallel.
    fn explicit(protocol: Protocol, endpoint: &str) -> OtlpConfig {
        OtlpConfig {
            protocol: Some(protocol),
            endpoint: Some(endpoint.to_owned()),
            export_timeout: Some(Duration::from_millis(1500)),
            certificate: Some(PathBuf::from("/ca.pem")),
            ..OtlpConfig::default()
        }
    }

    #[test]
    fn explicit_settings_resolve_per_signal_and_protocol() {
        let http = resolve(
            &explicit(Protocol::HttpProtobuf, "https://otlp.example:4318/"),
            Signal::Traces,
        )
        .unwrap();
        assert_eq!(http.endpoint, "https://otlp.example:4318/v1/traces");
        assert_eq!(http.timeout, Duration::from_millis(1500));
        assert_eq!(
            http.certificate,
            Some(("OtlpConfig".to_owned(), PathBuf::from("/ca.pem")))
        );
        assert!(http.is_https());
        let metrics = resolve(
            &explicit(Protocol::HttpProtobuf, "http://127.0.0.1:4318"),
            Signal::Metrics,
        )
        .unwrap();
        assert_eq!(metrics.endpoint, "http://127.0.0.1:4318/v1/metrics");
        assert!(!metrics.is_https());
        let grpc = resolve(
            &explicit(Protocol::Grpc, "https://otlp.nr-data.net:4317"),
            Signal::Traces,
        )
        .unwrap();
        assert_eq!(grpc.endpoint, "https://otlp.nr-data.net:4317");
        assert_eq!(grpc.protocol, Protocol::Grpc);
        // A gRPC endpoint without a scheme is https.
        let bare = resolve(
            &explicit(Protocol::Grpc, "otlp.nr-data.net:4317"),
            Signal::Traces,
        )
        .unwrap();
        assert_eq!(bare.endpoint, "https://otlp.nr-data.net:4317");
    }

    #[test]
    fn protocol_spellings() {
        assert_eq!(Protocol::parse("grpc"), Some(Protocol::Grpc));
        assert_eq!(
            Protocol::parse(" HTTP/PROTOBUF "),
            Some(Protocol::HttpProtobuf)
        );
        assert_eq!(Protocol::parse("http/json"), None);
        assert_eq!(Protocol::Grpc.as_str(), "grpc");
    }

    #[test]
    fn a_missing_certificate_file_is_a_setup_error_naming_it() {
        let config = explicit(Protocol::HttpProtobuf, "https://127.0.0.1:1");
        let error = span_exporter(&config)
            .err()
            .expect("no such file")
            .to_string();
        assert!(error.contains("OtlpConfig: cannot read /ca.pem"), "{error}");
        let half = OtlpConfig {
            certificate: None,
            client_certificate: Some(PathBuf::from("/dev/null")),
            ..config
        };
        let error = span_exporter(&half).err().expect("key missing").to_string();
        assert!(error.contains("needs both"), "{error}");
    }

    #[test]
    fn a_file_without_certificates_is_a_setup_error() {
        let config = OtlpConfig {
            certificate: Some(PathBuf::from("/dev/null")),
            ..explicit(Protocol::HttpProtobuf, "https://127.0.0.1:1")
        };
        let error = span_exporter(&config)
            .err()
            .expect("empty CA file")
            .to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn grpc_exporter_builds_outside_any_runtime() {
        let config = OtlpConfig {
            certificate: None,
            ..explicit(Protocol::Grpc, "https://127.0.0.1:1")
        };
        let (exporter, resolved, _) =
            span_exporter(&config).expect("lazy channel: nothing is contacted");
        assert!(matches!(exporter, AnySpanExporter::Grpc(_)));
        assert_eq!(resolved.endpoint, "https://127.0.0.1:1");
    }

    #[test]
    fn http_paths_per_signal() {
        assert_eq!(
            signal_url("http://h:1/", Signal::Metrics),
            "http://h:1/v1/metrics"
        );
    }
}
