//! Finished spans grouped into traces, printed as trees and as JSON, and checked against the
//! demo's expected chain.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_trace::semconv as sc;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;

/// A finished span and the service that made it.
pub struct SpanRow {
    pub service: &'static str,
    pub data: SpanData,
}

impl SpanRow {
    fn duration(&self) -> Duration {
        self.data.end_time.duration_since(self.data.start_time).unwrap_or_default()
    }

    fn attribute(&self, key: &str) -> Option<&Value> {
        self.data.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
    }

    fn kind(&self) -> String {
        format!("{:?}", self.data.span_kind).to_ascii_uppercase()
    }

    fn parent(&self) -> Option<SpanId> {
        Some(self.data.parent_span_id).filter(|id| *id != SpanId::INVALID)
    }
}

/// The spans of one trace, in start order.
pub struct Trace {
    pub trace_id: String,
    pub spans: Vec<SpanRow>,
}

impl Trace {
    /// Spans without a parent in this trace (normally one, the root).
    fn roots(&self) -> Vec<&SpanRow> {
        self.spans.iter().filter(|s| s.parent().is_none_or(|p| !self.spans.iter().any(|o| o.data.span_context.span_id() == p))).collect()
    }

    fn children(&self, parent: SpanId) -> Vec<&SpanRow> {
        self.spans.iter().filter(|s| s.parent() == Some(parent)).collect()
    }
}

/// Groups spans by trace, ordering traces by the start of their first span.
pub fn group(rows: Vec<SpanRow>) -> Vec<Trace> {
    let mut by_trace: HashMap<String, Vec<SpanRow>> = HashMap::new();
    for row in rows {
        by_trace.entry(row.data.span_context.trace_id().to_string()).or_default().push(row);
    }
    let mut traces: Vec<Trace> = by_trace
        .into_iter()
        .map(|(trace_id, mut spans)| {
            spans.sort_by_key(|s| s.data.start_time);
            Trace { trace_id, spans }
        })
        .collect();
    traces.sort_by_key(|t| t.spans.first().map(|s| s.data.start_time));
    traces
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        other => other.to_string(),
    }
}

fn format_ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// The attributes worth a glance, in a fixed order with short names.
fn key_attributes(span: &SpanRow) -> String {
    const SHOWN: [(&str, &str); 8] = [
        ("http.route", "route"),
        ("http.response.status_code", "status"),
        (sc::MESSAGING_DESTINATION_NAME, "topic"),
        (sc::MESSAGING_DESTINATION_PARTITION_ID, "partition"),
        (sc::MESSAGING_KAFKA_OFFSET, "offset"),
        (sc::MESSAGING_KAFKA_MESSAGE_KEY, "key"),
        (sc::MESSAGING_CONSUMER_GROUP_NAME, "group"),
        (sc::ERROR_TYPE, "error"),
    ];
    let mut parts: Vec<String> = SHOWN.iter().filter_map(|(key, short)| span.attribute(key).map(|v| format!("{short}={}", value_text(v)))).collect();
    if let Some(latency) = span.attribute(sc::KAFKA_TRACE_E2E_LATENCY_MS) {
        let ms = match latency {
            Value::F64(ms) => format!("{ms:.0}"),
            other => value_text(other),
        };
        parts.push(format!("e2e={ms} ms"));
    }
    if let Status::Error { description } = &span.data.status {
        parts.push(format!("ERROR {description}"));
    }
    parts.join("  ")
}

/// Prints one trace as a tree.
pub fn print_trace(trace: &Trace) {
    let mut lines: Vec<(String, &SpanRow)> = Vec::new();
    fn walk<'t>(trace: &'t Trace, span: &'t SpanRow, prefix: &str, branch: &str, lines: &mut Vec<(String, &'t SpanRow)>) {
        lines.push((format!("{prefix}{branch}{}", span.data.name), span));
        let children = trace.children(span.data.span_context.span_id());
        let inner = match branch {
            "" => prefix.to_owned(),
            "├─ " => format!("{prefix}│  "),
            _ => format!("{prefix}   "),
        };
        for (i, child) in children.iter().enumerate() {
            walk(trace, child, &inner, if i + 1 == children.len() { "└─ " } else { "├─ " }, lines);
        }
    }
    for root in trace.roots() {
        walk(trace, root, "", "", &mut lines);
    }
    let width = lines.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    println!("trace {}", trace.trace_id);
    for (label, span) in lines {
        let pad = width - label.chars().count();
        println!("  {label}{:pad$}  {:<8} {:<9} {:>10}  {}", "", span.service, span.kind(), format_ms(span.duration()), key_attributes(span));
    }
    println!();
}

fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Bool(b) => (*b).into(),
        Value::I64(i) => (*i).into(),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// One trace as JSON: its spans in start order with ids, parent ids and attributes.
pub fn trace_json(trace: &Trace) -> serde_json::Value {
    let spans: Vec<_> = trace
        .spans
        .iter()
        .map(|s| {
            let attributes: BTreeMap<String, serde_json::Value> = s.data.attributes.iter().map(|kv| (kv.key.as_str().to_owned(), value_json(&kv.value))).collect();
            serde_json::json!({
                "name": s.data.name,
                "service": s.service,
                "kind": s.kind(),
                "span_id": s.data.span_context.span_id().to_string(),
                "parent_span_id": s.parent().map(|p| p.to_string()),
                "duration_ms": s.duration().as_secs_f64() * 1000.0,
                "error": match &s.data.status { Status::Error { description } => Some(description.to_string()), _ => None },
                "attributes": attributes,
            })
        })
        .collect();
    serde_json::json!({ "trace_id": trace.trace_id, "spans": spans })
}

/// Checks that there are exactly `n` traces, each exactly the chain
/// `GET /orders/{i}` → `send orders` → `process orders` → `send shipments` → `process shipments`
/// with the right services, each span the parent of the next. Returns `n`, or what is wrong.
pub fn check_chains(traces: &[Trace], n: usize, orders: &str, shipments: &str) -> Result<usize, String> {
    let expected = |i: usize| {
        [
            (format!("GET /orders/{i}"), "web"),
            (format!("send {orders}"), "web"),
            (format!("process {orders}"), "worker"),
            (format!("send {shipments}"), "worker"),
            (format!("process {shipments}"), "shipper"),
        ]
    };
    let mut problems = Vec::new();
    let mut seen = vec![false; n + 1];
    for trace in traces {
        let roots = trace.roots();
        let [root] = roots.as_slice() else {
            problems.push(format!("trace {} has {} roots", trace.trace_id, roots.len()));
            continue;
        };
        let Some(i) = root.data.name.strip_prefix("GET /orders/").and_then(|i| i.parse::<usize>().ok()).filter(|i| (1..=n).contains(i)) else {
            problems.push(format!("trace {} starts with unexpected span {:?}", trace.trace_id, root.data.name));
            continue;
        };
        let mut chain = vec![*root];
        while let [only] = trace.children(chain[chain.len() - 1].data.span_context.span_id()).as_slice() {
            chain.push(only);
        }
        let got: Vec<(String, &str)> = chain.iter().map(|s| (s.data.name.to_string(), s.service)).collect();
        if got != expected(i) || trace.spans.len() != 5 {
            problems.push(format!("trace {} (request {i}) is {got:?} with {} spans", trace.trace_id, trace.spans.len()));
        } else if std::mem::replace(&mut seen[i], true) {
            problems.push(format!("request {i} has two traces"));
        }
    }
    let complete = seen.iter().filter(|s| **s).count();
    if complete != n || traces.len() != n {
        problems.push(format!("{complete} complete traces out of {n} requests ({} traces in all)", traces.len()));
    }
    if problems.is_empty() {
        Ok(n)
    } else {
        Err(format!("the traces are not what the demo expects:\n  {}", problems.join("\n  ")))
    }
}
