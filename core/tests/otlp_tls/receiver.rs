//! A small OTLP receiver over TLS for tests: OTLP/HTTP (protobuf, HTTP/1.1, hyper on tokio-rustls)
//! and OTLP/gRPC (tonic), each on its own 127.0.0.1 port. It checks an `api-key` header, can
//! require a client certificate, accepts gzip, and counts what it accepted and refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;
use tokio_rustls::rustls;

/// What the receiver saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Spans accepted.
    pub spans: usize,
    /// Spans accepted per `service.name`.
    pub by_service: BTreeMap<String, usize>,
    /// Distinct trace ids of the accepted spans.
    pub traces: usize,
    /// Accepted export requests carrying spans / metrics.
    pub span_requests: usize,
    pub metric_requests: usize,
    /// Metric names accepted.
    pub metric_names: Vec<String>,
    /// Requests refused for a missing or wrong `api-key`.
    pub unauthorized: usize,
    /// Requests whose body was gzip-compressed.
    pub gzip_requests: usize,
    /// TLS handshakes that failed (OTLP/HTTP only; tonic does not report them).
    pub failed_handshakes: usize,
}

#[derive(Default)]
struct State {
    api_key: String,
    counts: Mutex<Counts>,
    trace_ids: Mutex<std::collections::HashSet<Vec<u8>>>,
}

impl State {
    fn authorized(&self, key: Option<&str>) -> bool {
        let ok = key == Some(self.api_key.as_str());
        if !ok {
            self.counts.lock().unwrap().unauthorized += 1;
        }
        ok
    }

    fn record_spans(&self, request: &ExportTraceServiceRequest) {
        let mut counts = self.counts.lock().unwrap();
        let mut ids = self.trace_ids.lock().unwrap();
        counts.span_requests += 1;
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map_or_else(
                    || "?".to_owned(),
                    |v| match v {
                        Value::StringValue(s) => s.clone(),
                        other => format!("{other:?}"),
                    },
                );
            for scope in &resource_spans.scope_spans {
                counts.spans += scope.spans.len();
                *counts.by_service.entry(service.clone()).or_default() += scope.spans.len();
                ids.extend(scope.spans.iter().map(|s| s.trace_id.clone()));
            }
        }
        counts.traces = ids.len();
    }

    fn record_metrics(&self, request: &ExportMetricsServiceRequest) {
        let mut counts = self.counts.lock().unwrap();
        counts.metric_requests += 1;
        for rm in &request.resource_metrics {
            for scope in &rm.scope_metrics {
                counts
                    .metric_names
                    .extend(scope.metrics.iter().map(|m| m.name.clone()));
            }
        }
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub http_port: u16,
    pub grpc_port: u16,
    state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Receiver {
    /// Starts both listeners on `runtime`, with the server certificate of `certs` (see
    /// scripts/otlp-tls-certs.sh); `client_ca` makes a client certificate signed by it mandatory.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        certs: &Path,
        api_key: &str,
        require_client_cert: bool,
    ) -> Self {
        let state = Arc::new(State {
            api_key: api_key.to_owned(),
            ..State::default()
        });
        let read =
            |name: &str| std::fs::read(certs.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (cert, key, ca) = (read("server.pem"), read("server.key"), read("ca.pem"));

        let _entered = runtime.enter();
        // OTLP/HTTP: rustls + hyper HTTP/1.1.
        let http_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        http_listener.set_nonblocking(true).unwrap();
        let http_port = http_listener.local_addr().unwrap().port();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls(
            &cert,
            &key,
            require_client_cert.then_some(&ca[..]),
        )));
        let http_state = state.clone();
        let http_task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(http_listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, state) = (acceptor.clone(), http_state.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(tls) => tls,
                        Err(_) => {
                            state.counts.lock().unwrap().failed_handshakes += 1;
                            return;
                        }
                    };
                    let service = hyper::service::service_fn(move |request| {
                        handle_http(state.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });

        // OTLP/gRPC: tonic with its own rustls server config.
        let grpc_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        grpc_listener.set_nonblocking(true).unwrap();
        let grpc_port = grpc_listener.local_addr().unwrap().port();
        let mut tls = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&cert, &key));
        if require_client_cert {
            tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(&ca));
        }
        let grpc = Grpc(state.clone());
        let grpc_task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(grpc_listener).unwrap();
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tonic::transport::Server::builder()
                .tls_config(tls)
                .unwrap()
                .add_service(
                    TraceServiceServer::new(grpc.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .add_service(
                    MetricsServiceServer::new(grpc)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        Self {
            http_port,
            grpc_port,
            state,
            tasks: vec![http_task, grpc_task],
        }
    }

    pub fn counts(&self) -> Counts {
        self.state.counts.lock().unwrap().clone()
    }
}

fn server_tls(cert: &[u8], key: &[u8], client_ca: Option<&[u8]>) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca) {
                roots.add(c.unwrap()).unwrap();
            }
            builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap(),
            )
        }
    };
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut config = builder
        .with_single_cert(chain, PrivateKeyDer::from_pem_slice(key).unwrap())
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

type HttpResponse = hyper::Response<Full<Bytes>>;

fn respond(status: u16, body: Vec<u8>) -> HttpResponse {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle_http(
    state: Arc<State>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<HttpResponse, std::convert::Infallible> {
    let key = request
        .headers()
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let gzip = request
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let path = request.uri().path().to_owned();
    if request.method() != hyper::Method::POST
        || !matches!(path.as_str(), "/v1/traces" | "/v1/metrics")
    {
        return Ok(respond(404, Vec::new()));
    }
    if !state.authorized(key.as_deref()) {
        return Ok(respond(401, Vec::new()));
    }
    let Ok(body) = request.into_body().collect().await else {
        return Ok(respond(400, Vec::new()));
    };
    let mut body = body.to_bytes().to_vec();
    if gzip {
        state.counts.lock().unwrap().gzip_requests += 1;
        let mut plain = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .is_err()
        {
            return Ok(respond(400, Vec::new()));
        }
        body = plain;
    }
    if path == "/v1/traces" {
        let Ok(export) = ExportTraceServiceRequest::decode(&body[..]) else {
            return Ok(respond(400, Vec::new()));
        };
        state.record_spans(&export);
        Ok(respond(
            200,
            ExportTraceServiceResponse {
                partial_success: None,
            }
            .encode_to_vec(),
        ))
    } else {
        let Ok(export) = ExportMetricsServiceRequest::decode(&body[..]) else {
            return Ok(respond(400, Vec::new()));
        };
        state.record_metrics(&export);
        Ok(respond(
            200,
            ExportMetricsServiceResponse {
                partial_success: None,
            }
            .encode_to_vec(),
        ))
    }
}

#[derive(Clone)]
struct Grpc(Arc<State>);

impl Grpc {
    fn check<T>(&self, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
        if request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v.as_bytes() == b"gzip")
        {
            self.0.counts.lock().unwrap().gzip_requests += 1;
        }
        let key = request
            .metadata()
            .get("api-key")
            .and_then(|v| v.to_str().ok());
        if self.0.authorized(key) {
            Ok(())
        } else {
            Err(tonic::Status::unauthenticated("missing or wrong api-key"))
        }
    }
}

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.check(&request)?;
        self.0.record_spans(request.get_ref());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.check(&request)?;
        self.0.record_metrics(request.get_ref());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}
