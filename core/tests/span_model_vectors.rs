//! Runs every case of the span-model vectors (`core/testdata/span_model_vectors.json`, schema in
//! `core/testdata/SPAN_MODEL_VECTORS.md`) through the public lifecycle + OpenTelemetry executor
//! API, on the SDK with an in-memory span exporter (simple processor), the sampler
//! `ParentBased(AlwaysOn)` and an in-memory metric exporter. The C, Node and Python suites run
//! the same file through theirs.
#![cfg(feature = "otel")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_trace::carrier::extract_parts;
use kafka_trace::lifecycle::{self, AmbientInfo, Finish, HandlerResult, Lifecycle, PollResult, SendResult};
use kafka_trace::otel::{inject_context, Executor, MessageContext, Running, StartCache, StartTime};
use kafka_trace::span::{ClientInfo, MessageInfo, Options, Strategy, TopicFilter};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{self as ot, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SamplingResult, SdkTracer, SdkTracerProvider, ShouldSample, SpanData};
use serde_json::{json, Value};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/span_model_vectors.json");

type HeaderList = Vec<(String, Option<Vec<u8>>)>;

fn load() -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).expect("span_model_vectors.json is readable");
    let file: Value = serde_json::from_str(&text).expect("span_model_vectors.json is JSON");
    assert_eq!(file["schema_version"], 1, "schema version");
    file["cases"].as_array().expect("cases").clone()
}

fn headers_from(json: &Value) -> HeaderList {
    json.as_array()
        .map(|list| {
            list.iter()
                .map(|h| {
                    let name = h["name"].as_str().expect("header name").to_owned();
                    let value = match (h.get("value"), h.get("value_hex")) {
                        (Some(Value::String(s)), _) => Some(s.as_bytes().to_vec()),
                        (_, Some(Value::String(x))) => Some(hex::decode(x).expect("value_hex is hex")),
                        _ => None,
                    };
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(json: &Value) -> Vec<String> {
    json.as_array().map(|a| a.iter().map(|s| s.as_str().expect("a string").to_owned()).collect()).unwrap_or_default()
}

fn options(json: &Value) -> Options {
    let defaults = Options::default();
    Options {
        strategy: json["strategy"].as_str().map_or(defaults.strategy, |s| Strategy::parse(s).expect("strategy")),
        record_message_key: json["record_message_key"].as_bool().unwrap_or(defaults.record_message_key),
        record_body_size: json["record_body_size"].as_bool().unwrap_or(defaults.record_body_size),
        topics: TopicFilter { include: strings(&json["include_topics"]), exclude: strings(&json["exclude_topics"]) },
    }
}

fn client(json: &Value) -> ClientInfo {
    let info = ClientInfo {
        client_id: json["client_id"].as_str().map(str::to_owned),
        consumer_group: json["consumer_group"].as_str().map(str::to_owned),
        ..ClientInfo::default()
    };
    match json["bootstrap_servers"].as_str() {
        Some(servers) => info.with_bootstrap(servers),
        None => info,
    }
}

/// The message's key bytes (owned, so `MessageInfo` can borrow them).
fn key_of(message: &Value) -> Option<Vec<u8>> {
    match (message.get("key"), message.get("key_hex")) {
        (Some(Value::String(k)), _) => Some(k.as_bytes().to_vec()),
        (_, Some(Value::String(x))) => Some(hex::decode(x).expect("key_hex is hex")),
        _ => None,
    }
}

fn message_info<'a>(message: &'a Value, key: Option<&'a [u8]>) -> MessageInfo<'a> {
    MessageInfo {
        topic: message["topic"].as_str().expect("topic"),
        partition: message["partition"].as_i64().map(|p| i32::try_from(p).expect("partition")),
        offset: message["offset"].as_i64(),
        key,
        payload_len: message["value_len"].as_u64().map(|l| usize::try_from(l).expect("value_len")),
        timestamp_ms: message["timestamp_ms"].as_i64(),
    }
}

/// `ParentBased(AlwaysOn)` that remembers, per span it was asked about (by name, in order), the
/// attribute keys it was given at span start.
#[derive(Clone, Debug)]
struct KeyRecordingSampler {
    inner: Sampler,
    seen: Arc<Mutex<Vec<(String, Vec<String>)>>>,
}

impl ShouldSample for KeyRecordingSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: ot::TraceId,
        name: &str,
        span_kind: &ot::SpanKind,
        attributes: &[KeyValue],
        links: &[ot::Link],
    ) -> SamplingResult {
        let keys = attributes.iter().map(|kv| kv.key.as_str().to_owned()).collect();
        self.seen.lock().expect("sampler record").push((name.to_owned(), keys));
        self.inner.should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

/// One case's SDK: spans and metrics in memory.
struct Sdk {
    /// What the sampler saw at each span start: (span name, attribute keys).
    sampled: Arc<Mutex<Vec<(String, Vec<String>)>>>,
    spans: InMemorySpanExporter,
    tracer_provider: SdkTracerProvider,
    tracer: SdkTracer,
    metrics: InMemoryMetricExporter,
    meter_provider: SdkMeterProvider,
}

impl Sdk {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let sampled = Arc::new(Mutex::new(Vec::new()));
        let sampler = KeyRecordingSampler { inner: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)), seen: sampled.clone() };
        let tracer_provider = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).with_sampler(sampler).build();
        let tracer = tracer_provider.tracer("span-model-vectors");
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(metrics.clone()).build()).build();
        Self { sampled, spans, tracer_provider, tracer, metrics, meter_provider }
    }

    fn executor(&self) -> Executor<SdkTracer> {
        Executor::new(self.tracer.clone(), Some(&self.meter_provider.meter("span-model-vectors")))
    }

    fn finished_spans(&self) -> Vec<SpanData> {
        let _ = self.tracer_provider.force_flush();
        self.spans.get_finished_spans().expect("spans")
    }

    /// Every data point: (name, kind, attributes as JSON, count, sum).
    fn points(&self) -> Vec<(String, &'static str, Value, u64, f64)> {
        self.meter_provider.force_flush().expect("metric flush");
        let exported = self.metrics.get_finished_metrics().expect("metrics");
        let mut out = Vec::new();
        // Cumulative temporality: the last export holds everything.
        let Some(last) = exported.last() else { return out };
        for metric in last.scope_metrics().flat_map(|sm| sm.metrics()) {
            let name = metric.name().to_owned();
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    for p in sum.data_points() {
                        out.push((name.clone(), "counter", attributes_json(p.attributes()), p.value(), p.value() as f64));
                    }
                }
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    for p in h.data_points() {
                        out.push((name.clone(), "histogram", attributes_json(p.attributes()), p.count(), p.sum()));
                    }
                }
                _ => out.push((name, "other", Value::Null, 0, 0.0)),
            }
        }
        out
    }
}

fn value_json(value: &opentelemetry::Value) -> Value {
    match value {
        opentelemetry::Value::String(s) => json!({ "string": s.as_str() }),
        opentelemetry::Value::I64(i) => json!({ "int": i }),
        opentelemetry::Value::F64(d) => json!({ "double": d }),
        opentelemetry::Value::Bool(b) => json!({ "bool": b }),
        other => json!({ "other": other.to_string() }),
    }
}

fn attributes_json<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Value {
    let map: serde_json::Map<String, Value> = attributes.map(|kv| (kv.key.as_str().to_owned(), value_json(&kv.value))).collect();
    Value::Object(map)
}

/// The runner's own spans and where they are.
#[derive(Default)]
struct Named {
    ambient: Option<ot::SpanContext>,
    poll: Option<ot::SpanContext>,
    /// The message's traceparent as the core read it.
    remote: Option<(ot::TraceId, ot::SpanId)>,
}

impl Named {
    fn ids(&self, name: &str) -> Result<(ot::TraceId, ot::SpanId), String> {
        let sc = |sc: &Option<ot::SpanContext>| sc.as_ref().map(|s| (s.trace_id(), s.span_id()));
        match name {
            "ambient" => sc(&self.ambient),
            "poll" => sc(&self.poll),
            "remote" => self.remote,
            other => return Err(format!("unknown source {other:?}")),
        }
        .ok_or_else(|| format!("the case has no {name} context"))
    }
}

/// What running one case produced.
struct Outcome {
    traced: bool,
    /// The operation's running span (traced cases).
    running: Option<Running>,
    handler_baggage: Option<Vec<(String, String)>>,
    headers_out: Option<HeaderList>,
    /// The send span that wrote `headers_out`.
    writer: Option<ot::SpanContext>,
}

fn ambient_context(sdk: &Sdk, json: &Value) -> Context {
    let mut cx = Context::new();
    let entries: Vec<KeyValue> = json["baggage"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|kv| KeyValue::new(kv[0].as_str().expect("key").to_owned(), kv[1].as_str().expect("value").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if !entries.is_empty() {
        cx = cx.with_baggage(entries);
    }
    if json["span"].as_bool() == Some(true) {
        let span = sdk.tracer.span_builder("ambient").start_with_context(&sdk.tracer, &Context::new());
        cx = cx.with_span(span);
    }
    cx
}

fn baggage_list(cx: &Context) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = cx.baggage().iter().map(|(k, (v, _))| (k.to_string(), v.to_string())).collect();
    list.sort();
    list
}

/// How the runner starts send and process spans.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Path {
    /// `Lifecycle::send`/`process`/`batch_process`, then `Executor::start_send`/`start_process`.
    Recipe,
    /// `Executor::start_send_cached`/`start_process_cached`, from a `StartCache` that already
    /// holds the case's entry (warmed on another SDK): the span starts from the cached template;
    /// a span that does not record finishes from the kept recipe.
    Cached,
}

type SendFinish = Box<dyn Fn(SendResult<'_>, Duration) -> Finish>;
type ProcessFinish = Box<dyn Fn(HandlerResult<'_>, Duration) -> Finish>;

/// How a started span finishes: its own recipe, or (cached path, not recording) the kept one.
fn send_finish(recipe: Option<lifecycle::SendRecipe>, kept: Option<kafka_trace::otel::Kept<lifecycle::SendRecipe>>) -> SendFinish {
    match (recipe, kept) {
        (Some(r), _) => Box::new(move |o, e| r.finish(o, e, None)),
        (None, Some(k)) => Box::new(move |o, e| k.finish(o, e, None)),
        (None, None) => panic!("metrics are recorded: the recipe or the kept one is there"),
    }
}

fn process_finish(recipe: Option<lifecycle::ProcessRecipe>, kept: Option<kafka_trace::otel::Kept<lifecycle::ProcessRecipe>>) -> ProcessFinish {
    match (recipe, kept) {
        (Some(r), _) => Box::new(move |o, e| r.finish(o, e)),
        (None, Some(k)) => Box::new(move |o, e| k.finish(o, e)),
        (None, None) => panic!("metrics are recorded: the recipe or the kept one is there"),
    }
}

fn run(case: &Value, sdk: &Sdk, named: &mut Named, path: Path) -> Outcome {
    let lifecycle = Lifecycle::new(options(&case["options"]), client(&case["client"]));
    let executor = sdk.executor();
    let ambient = ambient_context(sdk, &case["ambient"]);
    named.ambient = Some(ambient.span().span_context().clone()).filter(ot::SpanContext::is_valid);
    let result = &case["result"];
    let error_type = result["error_type"].as_str().unwrap_or("");
    match case["operation"].as_str().expect("operation") {
        "send" => {
            let message = &case["message"];
            let key = key_of(message);
            let info = message_info(message, key.as_deref());
            let mut headers = headers_from(&message["headers"]);
            let started = match path {
                Path::Recipe => lifecycle.send(&info).map(|recipe| (executor.start_send(&recipe, &ambient), send_finish(Some(recipe), None))),
                Path::Cached => {
                    let cache = StartCache::default();
                    let warm = Sdk::new().executor();
                    if let Some(w) = warm.start_send_cached(&cache, &lifecycle, &info, &ambient) {
                        warm.end_unrecorded(&w.running);
                    }
                    executor.start_send_cached(&cache, &lifecycle, &info, &ambient).map(|s| (s.running, send_finish(s.recipe, s.kept)))
                }
            };
            let Some((running, recipe)) = started else {
                return Outcome { traced: false, running: None, handler_baggage: None, headers_out: Some(headers), writer: None };
            };
            inject_context(running.context(), &mut headers);
            let outcome = match result["kind"].as_str() {
                Some("acked") => SendResult::Acked {
                    partition: i32::try_from(result["partition"].as_i64().expect("partition")).expect("partition"),
                    offset: result["offset"].as_i64().expect("offset"),
                },
                Some("send_failed") => SendResult::Failed { error_type },
                other => panic!("send result {other:?}"),
            };
            executor.finish(&running, &recipe(outcome, running.elapsed()));
            let writer = Some(running.span_context());
            Outcome { traced: true, running: Some(running), handler_baggage: None, headers_out: Some(headers), writer }
        }
        operation @ ("process" | "batch_process") => {
            let message = &case["message"];
            let key = key_of(message);
            let info = message_info(message, key.as_deref());
            let headers = headers_from(&message["headers"]);
            named.remote = extract_parts(&headers)
                .parent
                .ok()
                .map(|tp| (ot::TraceId::from_bytes(tp.trace_id.0), ot::SpanId::from_bytes(tp.span_id.0)));
            let context = MessageContext::from_headers(Some(&headers));
            let poll = (operation == "batch_process").then(|| {
                let span = sdk.tracer.span_builder("poll-source").start_with_context(&sdk.tracer, &Context::new());
                Context::new().with_span(span)
            });
            named.poll = poll.as_ref().map(|p| p.span().span_context().clone());
            let started = match path {
                Path::Recipe => {
                    let recipe = match &poll {
                        Some(_) => lifecycle.batch_process(&info, context.remote_info(), lifecycle::now_ms()),
                        None => {
                            let has_span = ambient.span().span_context().is_valid();
                            lifecycle.process(&info, context.remote_info(), AmbientInfo { has_span }, lifecycle::now_ms())
                        }
                    };
                    recipe.map(|recipe| (executor.start_process(&recipe, &ambient, &context, poll.as_ref()), process_finish(Some(recipe), None)))
                }
                Path::Cached => {
                    let cache = StartCache::default();
                    let warm = Sdk::new().executor();
                    if let Some(w) = warm.start_process_cached(&cache, &lifecycle, &info, &context, &ambient, poll.as_ref()) {
                        warm.end_unrecorded(&w.running);
                    }
                    executor
                        .start_process_cached(&cache, &lifecycle, &info, &context, &ambient, poll.as_ref())
                        .map(|s| (s.running, process_finish(s.recipe, s.kept)))
                }
            };
            let Some((running, recipe)) = started else {
                // Filtered: the handler runs in the caller's context, unchanged.
                let outcome = Outcome { traced: false, running: None, handler_baggage: Some(baggage_list(&ambient)), headers_out: None, writer: None };
                if let Some(p) = poll {
                    p.span().end();
                }
                return outcome;
            };
            // The handler: runs in the handler context; optionally forwards the message.
            let (handler_baggage, forwarded) = {
                let _guard = running.context().clone().attach();
                let handler_cx = Context::current();
                let forwarded = case.get("forward").filter(|f| f.is_object()).map(|forward| {
                    let topic = forward["topic"].as_str().expect("forward topic");
                    let out = MessageInfo { topic, partition: None, offset: None, timestamp_ms: None, ..info };
                    let send = lifecycle.send(&out).expect("the forward topic is traced");
                    let sending = executor.start_send(&send, &handler_cx);
                    let mut forwarded = headers.clone();
                    inject_context(sending.context(), &mut forwarded);
                    executor.finish(&sending, &send.finish(SendResult::Acked { partition: 0, offset: 0 }, sending.elapsed(), None));
                    (forwarded, sending.span_context())
                });
                (baggage_list(&handler_cx), forwarded)
            };
            let outcome = match result["kind"].as_str() {
                Some("returned") => HandlerResult::Returned,
                Some("raised") => HandlerResult::Failed { error_type },
                other => panic!("handler result {other:?}"),
            };
            executor.finish(&running, &recipe(outcome, running.elapsed()));
            if let Some(p) = poll {
                p.span().end();
            }
            let (headers_out, writer) = match forwarded {
                Some((h, w)) => (Some(h), Some(w)),
                None => (None, None),
            };
            Outcome { traced: true, running: Some(running), handler_baggage: Some(handler_baggage), headers_out, writer }
        }
        "poll" => {
            let topics = strings(&case["poll"]["topics"]);
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            let count = usize::try_from(case["poll"]["message_count"].as_u64().expect("message_count")).expect("count");
            let called = StartTime::now();
            // The receive call "returns" here.
            let (recipe, outcome) = match result["kind"].as_str() {
                Some("received") => (lifecycle.poll(&topics, count), PollResult::Received),
                Some("poll_failed") => (lifecycle.poll_failed(&topics), PollResult::Failed { error_type }),
                other => panic!("poll result {other:?}"),
            };
            let Some(recipe) = recipe else {
                return Outcome { traced: false, running: None, handler_baggage: None, headers_out: None, writer: None };
            };
            let running = executor.start_poll(&recipe, &ambient, called);
            executor.finish(&running, &recipe.finish(outcome, called.elapsed()));
            Outcome { traced: true, running: Some(running), handler_baggage: None, headers_out: None, writer: None }
        }
        other => panic!("operation {other:?}"),
    }
    .finish_ambient(&ambient)
}

impl Outcome {
    fn finish_ambient(self, ambient: &Context) -> Self {
        ambient.span().end();
        self
    }
}

fn kind_name(kind: &ot::SpanKind) -> &'static str {
    match kind {
        ot::SpanKind::Producer => "producer",
        ot::SpanKind::Consumer => "consumer",
        ot::SpanKind::Client => "client",
        ot::SpanKind::Server => "server",
        ot::SpanKind::Internal => "internal",
    }
}

fn status_json(status: &ot::Status) -> Value {
    match status {
        ot::Status::Unset => json!({ "code": "unset" }),
        ot::Status::Ok => json!({ "code": "ok" }),
        ot::Status::Error { description } => json!({ "code": "error", "description": description.as_ref() }),
    }
}

fn check_span(problems: &mut Vec<String>, want: &Value, got: &SpanData, named: &Named) {
    if got.name != want["name"].as_str().unwrap_or_default() {
        problems.push(format!("span name: got {:?}, want {}", got.name, want["name"]));
    }
    if kind_name(&got.span_kind) != want["kind"].as_str().unwrap_or_default() {
        problems.push(format!("span kind: got {:?}, want {}", got.span_kind, want["kind"]));
    }
    let attributes = attributes_json(got.attributes.iter());
    if attributes != want["attributes"] {
        problems.push(format!("span attributes: got {attributes}, want {}", want["attributes"]));
    }
    let status = status_json(&got.status);
    if status != want["status"] {
        problems.push(format!("span status: got {status}, want {}", want["status"]));
    }
    let ids = (got.span_context.trace_id(), got.parent_span_id);
    match want["parent"].as_str() {
        Some("none") => {
            let others = ["ambient", "poll", "remote"].iter().filter_map(|n| named.ids(n).ok()).map(|(t, _)| t).collect::<Vec<_>>();
            if got.parent_span_id != ot::SpanId::INVALID || others.contains(&got.span_context.trace_id()) {
                problems.push(format!("parent: got {ids:?}, want a root of its own trace"));
            }
        }
        Some(source) => match named.ids(source) {
            Ok(want_ids) if want_ids == ids => {}
            Ok(want_ids) => problems.push(format!("parent: got {ids:?}, want {source} {want_ids:?}")),
            Err(e) => problems.push(format!("parent: {e}")),
        },
        None => problems.push("parent: missing in the vector".to_owned()),
    }
    let links: Vec<(ot::TraceId, ot::SpanId)> =
        got.links.links.iter().map(|l| (l.span_context.trace_id(), l.span_context.span_id())).collect();
    let want_links: Result<Vec<_>, String> = strings(&want["links"]).iter().map(|n| named.ids(n)).collect();
    match want_links {
        Ok(w) if w == links => {}
        Ok(w) => problems.push(format!("links: got {links:?}, want {:?} = {w:?}", want["links"])),
        Err(e) => problems.push(format!("links: {e}")),
    }
}

/// `{span}` / `{trace}` of a written traceparent, from the span that wrote it.
fn expand(value: &str, writer: Option<&ot::SpanContext>) -> String {
    match writer {
        Some(w) => value.replace("{span}", &w.span_id().to_string()).replace("{trace}", &w.trace_id().to_string()),
        None => value.to_owned(),
    }
}

fn header_value_json(name: &str, value: &Option<Vec<u8>>) -> Value {
    match value {
        None => json!({ "name": name, "value": null }),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => json!({ "name": name, "value": text }),
            Err(_) => json!({ "name": name, "value_hex": hex::encode(bytes) }),
        },
    }
}

fn baggage_members(value: &str) -> BTreeSet<String> {
    value.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect()
}

fn check_headers(problems: &mut Vec<String>, want: &Value, got: &HeaderList, writer: Option<&ot::SpanContext>, input: &HeaderList, exported: bool) {
    let want_list = want.as_array().cloned().unwrap_or_default();
    let got_list: Vec<Value> = got.iter().map(|(n, v)| header_value_json(n, v)).collect();
    if want_list.len() != got_list.len() {
        problems.push(format!("headers_out: got {}, want {}", Value::Array(got_list), Value::Array(want_list)));
        return;
    }
    for (w, g) in want_list.iter().zip(&got_list) {
        let name = w["name"].as_str().unwrap_or_default();
        let same = match (w.get("value").and_then(Value::as_str), g.get("value").and_then(Value::as_str)) {
            (Some(wv), Some(gv)) if name.eq_ignore_ascii_case("baggage") => {
                g["name"] == w["name"] && baggage_members(wv) == baggage_members(gv)
            }
            (Some(wv), Some(gv)) if name.eq_ignore_ascii_case("traceparent") && wv.contains('{') => {
                g["name"] == w["name"] && expand(wv, writer) == gv
            }
            _ => w == g,
        };
        if !same {
            problems.push(format!("headers_out: got {g}, want {w} (in {})", Value::Array(got_list.clone())));
        }
    }
    // A span that was not exported still writes a fresh, valid span id.
    if let (Some(w), false) = (writer, exported) {
        let id = w.span_id().to_string();
        let in_input = input.iter().any(|(_, v)| v.as_deref().is_some_and(|v| String::from_utf8_lossy(v).contains(&id)));
        if w.span_id() == ot::SpanId::INVALID || in_input {
            problems.push(format!("headers_out: the unexported writer's span id {id} is invalid or reused"));
        }
    }
}

fn check_metrics(problems: &mut Vec<String>, want: &Value, sdk: &Sdk, forward_topic: Option<&str>) {
    let mut got: Vec<(String, &'static str, Value, u64, f64)> = sdk
        .points()
        .into_iter()
        .filter(|(_, _, attrs, _, _)| {
            // The forward's own send points are not part of the case.
            forward_topic.is_none_or(|t| attrs["messaging.destination.name"]["string"].as_str() != Some(t))
        })
        .collect();
    let mut remaining: Vec<Value> = want.as_array().cloned().unwrap_or_default();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    for point in &got {
        let (name, kind, attributes, count, sum) = point;
        let found = remaining.iter().position(|w| {
            w["name"].as_str() == Some(name) && w["kind"].as_str() == Some(kind) && &w["attributes"] == attributes
        });
        let Some(index) = found else {
            problems.push(format!("metric point not expected: {name} {kind} {attributes} count={count}"));
            continue;
        };
        let w = remaining.remove(index);
        if w["count"].as_u64() != Some(*count) {
            problems.push(format!("metric {name} {attributes}: count {count}, want {}", w["count"]));
        }
        if *kind == "counter" && (*sum - *count as f64).abs() > f64::EPSILON {
            problems.push(format!("metric {name}: a counter's sum {sum} differs from its count {count}"));
        }
        if name == "kafka_trace.e2e.latency" && *sum != 0.0 {
            problems.push(format!("metric {name}: e2e latency {sum}, want exactly 0"));
        }
    }
    for w in remaining {
        problems.push(format!("metric point missing: {w}"));
    }
}

/// The keys the sampler saw when the case's span (`name`) started: exactly `want`, in order.
fn check_sampler_keys(problems: &mut Vec<String>, want: &Value, sdk: &Sdk, name: &str) {
    let seen = sdk.sampled.lock().expect("sampler record").clone();
    let starts: Vec<&Vec<String>> = seen.iter().filter(|(n, _)| n == name).map(|(_, keys)| keys).collect();
    let want = match want.as_array() {
        Some(_) => strings(want),
        None => return problems.push("sampler_keys: missing in the vector".to_owned()),
    };
    match starts.as_slice() {
        [got] if **got == want => {}
        [got] => problems.push(format!("sampler_keys: the sampler saw {got:?}, want {want:?}")),
        other => problems.push(format!("sampler_keys: {} span starts named {name:?} reached the sampler, want one", other.len())),
    }
}

/// Every way the executor disagrees with `case`.
fn check_case(case: &Value) -> Vec<String> {
    let mut problems = check_case_on(case, Path::Recipe);
    problems.extend(check_case_on(case, Path::Cached).into_iter().map(|p| format!("(start cache) {p}")));
    problems
}

fn check_case_on(case: &Value, path: Path) -> Vec<String> {
    let sdk = Sdk::new();
    let mut named = Named::default();
    let outcome = run(case, &sdk, &mut named, path);
    let expect = &case["expect"];
    let mut problems = Vec::new();
    if expect["traced"].as_bool() != Some(outcome.traced) {
        problems.push(format!("traced: got {}, want {}", outcome.traced, expect["traced"]));
    }
    let forward_topic = case["forward"]["topic"].as_str();
    let forward_span = forward_topic.map(|t| format!("send {t}"));
    let spans = sdk.finished_spans();
    let own: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name != "ambient" && s.name != "poll-source" && Some(&s.name.to_string()) != forward_span.as_ref())
        .collect();
    match (&expect["span"], own.as_slice()) {
        (Value::Null, []) => {
            if let Some(running) = &outcome.running {
                if running.context().span().is_recording() {
                    problems.push("the span records although it is not exported".to_owned());
                }
            }
        }
        (Value::Null, got) => problems.push(format!("spans: got {:?}, want none", got.iter().map(|s| &s.name).collect::<Vec<_>>())),
        (want, [got]) => {
            check_span(&mut problems, want, got, &named);
            check_sampler_keys(&mut problems, &want["sampler_keys"], &sdk, &got.name);
        }
        (want, got) => problems.push(format!("spans: got {:?}, want one {}", got.iter().map(|s| &s.name).collect::<Vec<_>>(), want["name"])),
    }
    // When exported, the forward's send span is a child of the process span.
    if let (Some(name), Some(running)) = (&forward_span, &outcome.running) {
        if let Some(forward) = spans.iter().find(|s| &s.name.to_string() == name) {
            if forward.parent_span_id != running.span_context().span_id() {
                problems.push("the forward's send span is not a child of the process span".to_owned());
            }
        }
    }
    match (&expect["handler_baggage"], &outcome.handler_baggage) {
        (Value::Null, None) => {}
        (want, Some(got)) => {
            let got = json!(got.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>());
            if &got != want {
                problems.push(format!("handler_baggage: got {got}, want {want}"));
            }
        }
        (want, None) => problems.push(format!("handler_baggage: the operation has no handler, want {want}")),
    }
    check_metrics(&mut problems, &expect["metrics"], &sdk, forward_topic);
    let input = headers_from(&case["message"]["headers"]);
    match (&expect["headers_out"], &outcome.headers_out) {
        (Value::Null, None) => {}
        (want, Some(got)) => {
            let exported = outcome.writer.as_ref().is_some_and(|w| spans.iter().any(|s| s.span_context.span_id() == w.span_id()));
            check_headers(&mut problems, want, got, outcome.writer.as_ref(), &input, exported);
        }
        (want, None) => problems.push(format!("headers_out: nothing was written, want {want}")),
    }
    problems
}

#[test]
fn every_span_model_vector_passes() {
    let cases = load();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut names = BTreeSet::new();
    let mut failures = BTreeMap::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name").to_owned();
        assert!(names.insert(name.clone()), "duplicate case {name}");
        let problems = check_case(case);
        if !problems.is_empty() {
            failures.insert(name, problems);
        }
    }
    let report: Vec<String> = failures.iter().map(|(n, p)| format!("{n}:\n  {}", p.join("\n  "))).collect();
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), report.join("\n"));
}

/// A tampered vector fails: each kind of change to the expected values is caught in every case
/// it applies to.
#[test]
fn tampered_vectors_fail() {
    type Tamper = fn(&mut Value) -> bool;
    let tampers: [(&str, Tamper); 8] = [
        ("span name", |c| match c["expect"]["span"].get_mut("name") {
            Some(n) => {
                *n = json!(format!("{}x", n.as_str().unwrap_or_default()));
                true
            }
            None => false,
        }),
        ("span attribute dropped", |c| match c["expect"]["span"]["attributes"].as_object_mut() {
            Some(a) => a.remove("messaging.system").is_some(),
            None => false,
        }),
        ("parent", |c| match c["expect"]["span"].get_mut("parent") {
            Some(p) => {
                *p = json!(if p == "ambient" { "remote" } else { "ambient" });
                true
            }
            None => false,
        }),
        ("traced flipped", |c| {
            let t = c["expect"]["traced"].as_bool().unwrap_or(false);
            c["expect"]["traced"] = json!(!t);
            true
        }),
        ("metric count", |c| match c["expect"]["metrics"].as_array_mut().and_then(|m| m.first_mut()) {
            Some(p) => {
                p["count"] = json!(2);
                true
            }
            None => false,
        }),
        ("metric offset attribute", |c| match c["expect"]["metrics"].as_array_mut().and_then(|m| m.first_mut()) {
            Some(p) => {
                p["attributes"]["messaging.kafka.offset"] = json!({ "int": 42 });
                true
            }
            None => false,
        }),
        ("handler baggage", |c| match c["expect"]["handler_baggage"].as_array_mut() {
            Some(b) => {
                b.push(json!(["zz-tampered", "1"]));
                true
            }
            None => false,
        }),
        ("headers_out", |c| match c["expect"]["headers_out"].as_array_mut() {
            Some(h) => {
                h.push(json!({ "name": "x-tampered", "value": "1" }));
                true
            }
            None => false,
        }),
    ];
    let cases = load();
    for (what, tamper) in tampers {
        let mut applied = 0;
        for case in &cases {
            let mut tampered = case.clone();
            if !tamper(&mut tampered) {
                continue;
            }
            applied += 1;
            assert!(!check_case(&tampered).is_empty(), "tampered {what} in {} passed", case["name"]);
        }
        assert!(applied > 0, "tamper {what} applied to no case");
    }
}

/// The sampling rule of the issue, spelled out beyond the vectors: an unsampled remote parent
/// makes a non-recording process span whose forward carries `-00` and the same trace id; a
/// sampled one records under ParentBased.
#[test]
fn sampling_follows_the_remote_parent() {
    for (flags, records) in [("00", false), ("01", true)] {
        let sdk = Sdk::new();
        let executor = sdk.executor();
        let lifecycle = Lifecycle::default();
        let headers: HeaderList =
            vec![("traceparent".to_owned(), Some(format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}").into_bytes()))];
        let context = MessageContext::from_headers(Some(&headers));
        let info = MessageInfo { topic: "orders", partition: Some(0), offset: Some(1), ..MessageInfo::default() };
        let recipe = lifecycle.process(&info, context.remote_info(), AmbientInfo::default(), lifecycle::now_ms()).expect("traced");
        let running = executor.start_process(&recipe, &Context::new(), &context, None);
        assert_eq!(running.context().span().is_recording(), records, "flags {flags}");
        let send = lifecycle.send(&MessageInfo { topic: "out", ..MessageInfo::default() }).expect("traced");
        let sending = executor.start_send(&send, running.context());
        let mut out: HeaderList = Vec::new();
        assert!(inject_context(sending.context(), &mut out));
        let written = String::from_utf8(out[0].1.clone().unwrap()).unwrap();
        assert_eq!(written, format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-{flags}", sending.span_context().span_id()));
        executor.finish(&sending, &send.finish(SendResult::Acked { partition: 0, offset: 0 }, Duration::ZERO, None));
        executor.finish(&running, &recipe.finish(HandlerResult::Returned, Duration::ZERO));
        let exported = sdk.finished_spans().len();
        assert_eq!(exported, if records { 2 } else { 0 });
        // Metrics do not depend on sampling.
        assert!(sdk.points().iter().any(|p| p.0 == "messaging.client.consumed.messages" && p.3 == 1));
    }
}
