//! In-memory capture (kt_tracer_config_set_capture()): the tracer's spans and metric points are
//! kept in memory instead of exported, and read back as JSON (kt_tracer_captured_json()). The
//! spans and metrics go through the same OpenTelemetry SDK pipeline as the OTLP export; only the
//! last stage differs (a span processor and a metric exporter that store).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use serde_json::{json, Map, Value as Json};

/// One metric series: every measurement with the same instrument and attribute set.
#[derive(Clone, Debug, Default)]
struct Series {
    kind: &'static str,
    count: u64,
    sum: f64,
}

/// What a capturing tracer kept.
#[derive(Debug, Default)]
pub(crate) struct Store {
    spans: Mutex<Vec<SpanData>>,
    /// (instrument name, attributes as canonical JSON) -> series.
    metrics: Mutex<BTreeMap<(String, String), Series>>,
    ended: AtomicU64,
}

impl Store {
    pub(crate) fn clear(&self) {
        lock(&self.spans).clear();
        lock(&self.metrics).clear();
    }

    /// Spans ended so far (also those cleared).
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::Acquire)
    }

    /// `{"spans": [...], "metrics": [...]}` (the format is documented at kt_tracer_captured_json()).
    pub(crate) fn to_json(&self) -> String {
        let spans: Vec<Json> = lock(&self.spans).iter().map(span_json).collect();
        let metrics: Vec<Json> = lock(&self.metrics)
            .iter()
            .map(|((name, attributes), s)| {
                let attributes: Json = serde_json::from_str(attributes).unwrap_or_default();
                json!({"name": name, "kind": s.kind, "attributes": attributes, "count": s.count, "sum": s.sum})
            })
            .collect();
        json!({"spans": spans, "metrics": metrics}).to_string()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A typed attribute value: `{"string": ...}`, `{"int": ...}`, `{"bool": ...}`, `{"double": ...}`.
fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => json!({ "bool": b }),
        Value::I64(i) => json!({ "int": i }),
        Value::F64(d) => json!({ "double": d }),
        Value::String(s) => json!({ "string": s.as_str() }),
        other => json!({ "string": other.to_string() }),
    }
}

/// Attributes as an object (sorted keys; a key set twice keeps its last value, as backends do).
fn attributes_json<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Json {
    let mut sorted = BTreeMap::new();
    for kv in attributes {
        sorted.insert(kv.key.as_str().to_owned(), value_json(&kv.value));
    }
    Json::Object(sorted.into_iter().collect::<Map<_, _>>())
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn span_json(s: &SpanData) -> Json {
    let kind = match s.span_kind {
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Internal => "internal",
    };
    let status = match &s.status {
        Status::Unset => json!({"code": "unset"}),
        Status::Ok => json!({"code": "ok"}),
        Status::Error { description } => json!({"code": "error", "description": description.as_ref()}),
    };
    let parent = (s.parent_span_id != opentelemetry::trace::SpanId::INVALID).then(|| s.parent_span_id.to_string());
    let links: Vec<Json> = s
        .links
        .links
        .iter()
        .map(|l| json!({"trace_id": l.span_context.trace_id().to_string(), "span_id": l.span_context.span_id().to_string()}))
        .collect();
    json!({
        "name": s.name.as_ref(),
        "kind": kind,
        "trace_id": s.span_context.trace_id().to_string(),
        "span_id": s.span_context.span_id().to_string(),
        "trace_flags": format!("{:02x}", s.span_context.trace_flags().to_u8()),
        "trace_state": s.span_context.trace_state().header(),
        "parent_span_id": parent,
        "start_unix_nano": nanos(s.start_time),
        "end_unix_nano": nanos(s.end_time),
        "attributes": attributes_json(s.attributes.iter()),
        "status": status,
        "links": links,
    })
}

/// Keeps every ended (sampled) span.
#[derive(Debug)]
pub(crate) struct CaptureSpans(pub(crate) Arc<Store>);

impl SpanProcessor for CaptureSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.ended.fetch_add(1, Ordering::AcqRel);
        lock(&self.0.spans).push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Adds each delta export to the stored series.
#[derive(Debug)]
pub(crate) struct CaptureMetrics(pub(crate) Arc<Store>);

impl CaptureMetrics {
    fn add(&self, name: &str, kind: &'static str, attributes: Json, count: u64, sum: f64) {
        if count == 0 {
            return;
        }
        let mut metrics = lock(&self.0.metrics);
        let series = metrics.entry((name.to_owned(), attributes.to_string())).or_default();
        series.kind = kind;
        series.count += count;
        series.sum += sum;
    }
}

impl PushMetricExporter for CaptureMetrics {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        for metric in metrics.scope_metrics().flat_map(|s| s.metrics()) {
            let name = metric.name();
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    for p in sum.data_points() {
                        self.add(name, "counter", attributes_json(p.attributes()), p.value(), p.value() as f64);
                    }
                }
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        self.add(name, "histogram", attributes_json(p.attributes()), p.count(), p.sum());
                    }
                }
                // The tracer creates only u64 counters and f64 histograms.
                _ => {}
            }
        }
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Delta
    }
}
