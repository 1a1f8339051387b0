//! The lifecycle executor surface: the core's recipes and finishes, shaped for the TypeScript
//! executor. A [`Tracing`] is one client's [`Lifecycle`]. Per message it runs the core's recipe
//! or finish and hands back only numbers (see [`crate::layout`]) plus the index of a *template*
//! (the recipe without its message-dependent attributes) or a *plan* (the finish without its
//! numbers); the facade fetches each template and plan once, by index, and caches it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use kafka_trace::lifecycle::{
    batch_acks, now_ms, AmbientInfo, Finish, HandlerContext, HandlerResult, Instrument, Lifecycle, MetricRecord, Operation,
    PollRecipe, PollResult, ProcessRecipe, RemoteInfo, SendRecipe, SendResult, SpanEnd, Status, INSTRUMENTS,
    METRIC_ATTRIBUTE_KEYS, OPTION_NAMES,
};
use kafka_trace::span::{Attribute, AttributeValue, ContextSource, MessageInfo, SpanKind, SpanSpec};
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::errors::missing;
use crate::js_memory::{f64s, push_values, u32s, Bytes, Detach};
use crate::layout::{template_attributes, write_delta, E2E_AT, END_AT, ID_STRIDE, METRIC_AT, METRIC_SLOTS, STRIDE};
use crate::options;

/// Templates and plans are deduplicated by content; their number is bounded by the metric
/// attributes (bounded by construction) and the error types an application raises. Past this
/// many, new ones are still served but no longer deduplicated against each other.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, PartialEq)]
enum Recipe {
    Send(SendRecipe),
    Process(ProcessRecipe),
    Poll(PollRecipe),
}

impl Recipe {
    fn span(&self) -> &SpanSpec {
        match self {
            Recipe::Send(r) => &r.span,
            Recipe::Process(r) => &r.span,
            Recipe::Poll(r) => &r.span,
        }
    }
}

/// Entries by content, each with a stable index.
struct Interned<T> {
    entries: Vec<T>,
    index: HashMap<String, u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), index: HashMap::new() }
    }
}

impl<T> Interned<T> {
    fn intern(&mut self, key: String, make: impl FnOnce() -> T) -> u32 {
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let i = self.entries.len() as u32;
        self.entries.push(make());
        if self.index.len() < MAX_ENTRIES {
            self.index.insert(key, i);
        }
        i
    }
}

fn value_key(out: &mut String, v: &AttributeValue) {
    use std::fmt::Write;
    let _ = match v {
        AttributeValue::String(s) => write!(out, "s{}:{s}", s.len()),
        AttributeValue::Int(i) => write!(out, "i{i}"),
        AttributeValue::Bool(b) => write!(out, "b{b}"),
        AttributeValue::Double(d) => write!(out, "d{}", d.to_bits()),
    };
}

fn attributes_key(out: &mut String, attributes: &[Attribute]) {
    for (k, v) in attributes {
        out.push_str(k);
        out.push('=');
        value_key(out, v);
        out.push(';');
    }
    out.push('|');
}

/// The content of a recipe without its message-dependent parts.
fn template_key(recipe: &Recipe) -> String {
    let span = recipe.span();
    let mut key = format!("{:?}{:?}{:?}{:?}|{}|", std::mem::discriminant(recipe), span.kind, span.parent, span.links, span.name);
    attributes_key(&mut key, &template_attributes(&span.attributes));
    let metric = match recipe {
        Recipe::Send(r) => &r.metric_attributes,
        Recipe::Process(r) => {
            key.push_str(&format!("{:?}{:?}", r.operation, r.handler));
            &r.metric_attributes
        }
        Recipe::Poll(r) => &r.metric_attributes,
    };
    attributes_key(&mut key, metric);
    key
}

/// The content of a finish without its numbers.
fn plan_key(finish: &Finish) -> String {
    let mut key = String::with_capacity(128);
    attributes_key(&mut key, &template_attributes(&finish.attributes));
    match &finish.status {
        Status::Unset => key.push_str("unset|"),
        Status::Error(d) => key.push_str(&format!("error{}:{d}|", d.len())),
    }
    key.push_str(if matches!(finish.end, SpanEnd::Now) { "now|" } else { "after|" });
    for m in &finish.metrics {
        key.push_str(m.instrument.name());
        attributes_key(&mut key, &m.attributes);
    }
    key
}

fn write_finish(finish: &Finish, out: &mut [f64]) -> u32 {
    let bits = write_delta(&finish.attributes, out);
    for (i, m) in finish.metrics.iter().take(METRIC_SLOTS).enumerate() {
        out[METRIC_AT + i] = m.value;
    }
    out[END_AT] = match finish.end {
        SpanEnd::Now => f64::NAN,
        SpanEnd::AfterStart(d) => d.as_secs_f64() * 1000.0,
    };
    bits
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn non_negative_i32(v: f64) -> Option<i32> {
    (v.is_finite() && v >= 0.0).then_some(v as i32)
}

fn finite_i64(v: f64) -> Option<i64> {
    v.is_finite().then_some(v as i64)
}

fn payload(len: f64) -> Option<usize> {
    (len >= 0.0).then_some(len as usize)
}

fn key_bytes<'a>(key: &Unknown<'a>, holder: &mut Vec<Bytes<'a>>) -> Result<()> {
    if !matches!(key.get_type()?, ValueType::Undefined | ValueType::Null) {
        push_values(key, holder, 1)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JavaScript shapes.

/// A recipe without its message-dependent attributes. `kind` is the `@opentelemetry/api`
/// `SpanKind` value; `parent` and `links` are context sources: `ambient`, `remote` or `poll`.
#[napi(object)]
pub struct Template {
    pub operation: String,
    pub name: String,
    pub kind: u32,
    pub attributes: Object<'static>,
    pub parent: String,
    pub links: Vec<String>,
    /// How to build the handler's context (process recipes only).
    pub handler: Option<HandlerRule>,
}

/// The core's [`HandlerContext`].
#[napi(object)]
pub struct HandlerRule {
    pub keep_ambient: bool,
    pub message_baggage: bool,
    pub keep_remote: bool,
}

/// One metric record of a plan; its value is slot `METRIC_AT + i` of the finish's numbers.
#[napi(object)]
pub struct PlanMetric {
    pub name: String,
    pub attributes: Object<'static>,
}

/// A finish without its numbers: end attributes (the message-dependent ones are delta slots),
/// status (`code` "unset" or "error" with its description), metric records.
#[napi(object)]
pub struct Plan {
    pub attributes: Object<'static>,
    pub status_code: String,
    pub status_description: String,
    pub metrics: Vec<PlanMetric>,
}

/// One instrument the facade creates, named by the core.
#[napi(object)]
pub struct InstrumentInfo {
    pub name: String,
    /// `counter` or `histogram`.
    pub kind: String,
    pub unit: String,
    pub description: String,
}

/// Every instrument of the core.
pub fn instruments() -> Vec<InstrumentInfo> {
    INSTRUMENTS
        .iter()
        .map(|i: &Instrument| InstrumentInfo {
            name: i.name().to_owned(),
            kind: match i.kind() {
                kafka_trace::lifecycle::InstrumentKind::Counter => "counter".to_owned(),
                kafka_trace::lifecycle::InstrumentKind::Histogram => "histogram".to_owned(),
            },
            unit: i.unit().to_owned(),
            description: i.description().to_owned(),
        })
        .collect()
}

/// The only keys a metric carries.
pub fn metric_attribute_keys() -> Vec<String> {
    METRIC_ATTRIBUTE_KEYS.iter().map(|k| (*k).to_owned()).collect()
}

/// `[snake, camel]` of every option.
pub fn option_names() -> Vec<Vec<String>> {
    OPTION_NAMES.iter().map(|o| vec![o.snake.to_owned(), o.camel.to_owned()]).collect()
}

fn attributes_object(env: &Env, attributes: &[Attribute]) -> Result<Object<'static>> {
    let mut obj = Object::new(env)?;
    for (k, v) in attributes {
        match v {
            AttributeValue::String(s) => obj.set(k, s.as_str())?,
            AttributeValue::Int(i) => obj.set(k, *i as f64)?,
            AttributeValue::Bool(b) => obj.set(k, *b)?,
            AttributeValue::Double(d) => obj.set(k, *d)?,
        }
    }
    Ok(obj.detach())
}

fn otel_kind(kind: SpanKind) -> u32 {
    // @opentelemetry/api SpanKind: INTERNAL 0, SERVER 1, CLIENT 2, PRODUCER 3, CONSUMER 4.
    match kind {
        SpanKind::Client => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
    }
}

fn source(source: ContextSource) -> String {
    match source {
        ContextSource::Ambient => "ambient",
        ContextSource::Remote => "remote",
        ContextSource::Poll => "poll",
    }
    .to_owned()
}

fn operation(recipe: &Recipe) -> &'static str {
    match recipe {
        Recipe::Send(_) => "send",
        Recipe::Process(r) if r.operation == Operation::BatchProcess => "batch_process",
        Recipe::Process(_) => "process",
        Recipe::Poll(_) => "poll",
    }
}

fn rule(h: &HandlerContext) -> HandlerRule {
    HandlerRule { keep_ambient: h.keep_ambient, message_baggage: h.message_baggage, keep_remote: h.keep_remote }
}

// ---------------------------------------------------------------------------------------------

/// One client's lifecycle (a KafkaJS producer or consumer) with its options.
#[napi]
pub struct Tracing {
    lifecycle: Lifecycle,
    deprecations: Vec<(String, String)>,
    templates: RefCell<Interned<Recipe>>,
    plans: RefCell<Interned<Finish>>,
}

impl Tracing {
    fn template_of(&self, recipe: Recipe) -> u32 {
        let key = template_key(&recipe);
        self.templates.borrow_mut().intern(key, || recipe)
    }

    fn plan_of(&self, finish: &Finish) -> u32 {
        self.plans.borrow_mut().intern(plan_key(finish), || finish.clone())
    }

    fn recipe(&self, index: u32) -> Result<Recipe> {
        self.templates.borrow().entries.get(index as usize).cloned().ok_or_else(|| missing("template"))
    }

    fn start(&self, recipe: Recipe, out: &mut [f64], ids: &mut [u32]) {
        let span = recipe.span();
        ids[0] = write_delta(&span.attributes, out);
        out[E2E_AT] = span.e2e_latency_ms.unwrap_or(f64::NAN);
        ids[1] = self.template_of(recipe);
    }

    fn finish(&self, finish: &Finish, out: &mut [f64], ids: &mut [u32]) {
        ids[0] = write_finish(finish, out);
        ids[1] = self.plan_of(finish);
    }
}

#[napi]
impl Tracing {
    /// From an options object spelled as the core's `OPTION_NAMES` (camelCase).
    #[napi(constructor)]
    pub fn new(options: Option<Object<'_>>) -> Result<Self> {
        let parsed = options::parse(options)?;
        Ok(Self {
            lifecycle: Lifecycle::new(parsed.options, parsed.client),
            deprecations: parsed.deprecations,
            templates: RefCell::default(),
            plans: RefCell::default(),
        })
    }

    /// `[old, current, old, current, …]`: deprecated option spellings the options used.
    #[napi]
    pub fn deprecations(&self) -> Vec<String> {
        self.deprecations.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect()
    }

    /// Whether `topic` is traced at all.
    #[napi]
    pub fn allows(&self, topic: String) -> bool {
        self.lifecycle.allows(&topic)
    }

    /// The template at `index`.
    #[napi]
    pub fn template(&self, env: &Env, index: u32) -> Result<Template> {
        let recipe = self.recipe(index)?;
        let span = recipe.span();
        Ok(Template {
            operation: operation(&recipe).to_owned(),
            name: span.name.clone(),
            kind: otel_kind(span.kind),
            attributes: attributes_object(env, &template_attributes(&span.attributes))?,
            parent: source(span.parent),
            links: span.links.iter().copied().map(source).collect(),
            handler: match &recipe {
                Recipe::Process(r) => Some(rule(&r.handler)),
                _ => None,
            },
        })
    }

    /// The plan at `index`.
    #[napi]
    pub fn plan(&self, env: &Env, index: u32) -> Result<Plan> {
        let plans = self.plans.borrow();
        let finish = plans.entries.get(index as usize).ok_or_else(|| missing("plan"))?;
        let (status_code, status_description) = match &finish.status {
            Status::Unset => ("unset".to_owned(), String::new()),
            Status::Error(d) => ("error".to_owned(), d.clone()),
        };
        let metrics = finish
            .metrics
            .iter()
            .take(METRIC_SLOTS)
            .map(|m: &MetricRecord| Ok(PlanMetric { name: m.instrument.name().to_owned(), attributes: attributes_object(env, &m.attributes)? }))
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan { attributes: attributes_object(env, &template_attributes(&finish.attributes))?, status_code, status_description, metrics })
    }

    /// Starts the sends of one `send`/`sendBatch` call to `topic`: `nums` holds 2 numbers per
    /// message (the partition the caller chose or -1, the payload length or -1 for a tombstone),
    /// `keys` the keys. Writes each message's numbers and ids (see `layout`). Returns false when
    /// the topic is not traced (nothing written).
    #[napi]
    pub fn send_start(&self, topic: String, nums: &[f64], keys: Array<'_>, mut out: Float64ArraySlice<'_>, mut ids: Uint32ArraySlice<'_>) -> Result<bool> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        let count = (nums.len() / 2).min(out.len() / STRIDE).min(ids.len() / ID_STRIDE);
        for i in 0..count {
            let key: Unknown<'_> = keys.get(i as u32)?.ok_or_else(|| missing("key"))?;
            let mut holder = Vec::new();
            key_bytes(&key, &mut holder)?;
            let message = MessageInfo {
                topic: &topic,
                partition: non_negative_i32(nums[2 * i]),
                key: holder.first().and_then(Bytes::get),
                payload_len: payload(nums[2 * i + 1]),
                ..MessageInfo::default()
            };
            let Some(recipe) = self.lifecycle.send(&message) else { return Ok(false) };
            self.start(Recipe::Send(recipe), &mut out[STRIDE * i..STRIDE * (i + 1)], &mut ids[ID_STRIDE * i..ID_STRIDE * (i + 1)]);
        }
        Ok(true)
    }

    /// Ends the sends of one call to one topic. `templates[i]` is message i's template index,
    /// `chosen[i]` the partition its caller chose (-1 = the partitioner's), `responses` the
    /// client's `[partition, baseOffset]` answers for this topic (the core's `batch_acks` maps
    /// them to each message). `error_type` set = the call failed. Writes the numbers and ids of
    /// each finish.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn send_finish(
        &self,
        templates: &[u32],
        chosen: &[i32],
        responses: &[f64],
        error_type: Option<String>,
        elapsed_seconds: f64,
        mut out: Float64ArraySlice<'_>,
        mut ids: Uint32ArraySlice<'_>,
    ) -> Result<()> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        let answers: Vec<(i32, i64)> = responses.chunks_exact(2).map(|r| (r[0] as i32, finite_i64(r[1]).unwrap_or(-1))).collect();
        let acks = batch_acks(chosen, &answers);
        let elapsed = seconds(elapsed_seconds);
        let count = templates.len().min(acks.len()).min(out.len() / STRIDE).min(ids.len() / ID_STRIDE);
        for i in 0..count {
            let Recipe::Send(recipe) = self.recipe(templates[i])? else { return Err(missing("send template")) };
            let result = match &error_type {
                Some(e) => SendResult::Failed { error_type: e },
                None => SendResult::Acked { partition: acks[i].0, offset: acks[i].1 },
            };
            // KafkaJS reports no per-message broker latency: the span ends when the call settles.
            let finish = recipe.finish(result, elapsed, None);
            self.finish(&finish, &mut out[STRIDE * i..STRIDE * (i + 1)], &mut ids[ID_STRIDE * i..ID_STRIDE * (i + 1)]);
        }
        Ok(())
    }

    /// Starts processing one message (`batch` = inside a batch handler). `payload_len` -1 = a
    /// tombstone; `timestamp_ms` NaN = none. Returns false when the topic is not traced.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn process_start(
        &self,
        topic: String,
        partition: f64,
        offset: f64,
        key: Unknown<'_>,
        payload_len: f64,
        timestamp_ms: f64,
        remote_valid: bool,
        ambient_span: bool,
        batch: bool,
        mut out: Float64ArraySlice<'_>,
        mut ids: Uint32ArraySlice<'_>,
    ) -> Result<bool> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        if out.len() < STRIDE || ids.len() < ID_STRIDE {
            return Err(missing("room for one message"));
        }
        let mut holder = Vec::new();
        key_bytes(&key, &mut holder)?;
        let message = MessageInfo {
            topic: &topic,
            partition: non_negative_i32(partition),
            offset: finite_i64(offset),
            key: holder.first().and_then(Bytes::get),
            payload_len: payload(payload_len),
            timestamp_ms: finite_i64(timestamp_ms),
        };
        let remote = RemoteInfo { valid: remote_valid };
        let recipe = if batch {
            self.lifecycle.batch_process(&message, remote, now_ms())
        } else {
            self.lifecycle.process(&message, remote, AmbientInfo { has_span: ambient_span }, now_ms())
        };
        let Some(recipe) = recipe else { return Ok(false) };
        self.start(Recipe::Process(recipe), out, ids);
        Ok(true)
    }

    /// [`Self::process_start`] for a whole batch of one topic-partition: `nums` holds 3 numbers
    /// per message (offset, payload length or -1, timestamp ms or NaN), `keys` the keys,
    /// `remote_valid[i]` 1 when message i had a usable parent.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn batch_start(
        &self,
        topic: String,
        partition: f64,
        nums: &[f64],
        keys: Array<'_>,
        remote_valid: &[u8],
        mut out: Float64ArraySlice<'_>,
        mut ids: Uint32ArraySlice<'_>,
    ) -> Result<bool> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        let now = now_ms();
        let count = (nums.len() / 3).min(remote_valid.len()).min(out.len() / STRIDE).min(ids.len() / ID_STRIDE);
        for i in 0..count {
            let key: Unknown<'_> = keys.get(i as u32)?.ok_or_else(|| missing("key"))?;
            let mut holder = Vec::new();
            key_bytes(&key, &mut holder)?;
            let message = MessageInfo {
                topic: &topic,
                partition: non_negative_i32(partition),
                offset: finite_i64(nums[3 * i]),
                key: holder.first().and_then(Bytes::get),
                payload_len: payload(nums[3 * i + 1]),
                timestamp_ms: finite_i64(nums[3 * i + 2]),
            };
            let Some(recipe) = self.lifecycle.batch_process(&message, RemoteInfo { valid: remote_valid[i] != 0 }, now) else { return Ok(false) };
            self.start(Recipe::Process(recipe), &mut out[STRIDE * i..STRIDE * (i + 1)], &mut ids[ID_STRIDE * i..ID_STRIDE * (i + 1)]);
        }
        Ok(true)
    }

    /// Ends the processing of one message: `template` from its start, `e2e_ms` the start's
    /// `E2E_AT` slot, `error_type` set = the handler failed. Writes the finish's numbers and ids.
    #[napi]
    pub fn process_finish(
        &self,
        template: u32,
        e2e_ms: f64,
        error_type: Option<String>,
        elapsed_seconds: f64,
        mut out: Float64ArraySlice<'_>,
        mut ids: Uint32ArraySlice<'_>,
    ) -> Result<()> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        if out.len() < STRIDE || ids.len() < ID_STRIDE {
            return Err(missing("room for one message"));
        }
        let Recipe::Process(mut recipe) = self.recipe(template)? else { return Err(missing("process template")) };
        recipe.span.e2e_latency_ms = (!e2e_ms.is_nan()).then_some(e2e_ms);
        let result = match &error_type {
            Some(e) => HandlerResult::Failed { error_type: e },
            None => HandlerResult::Returned,
        };
        let finish = recipe.finish(result, seconds(elapsed_seconds));
        self.finish(&finish, out, ids);
        Ok(())
    }

    /// The recipe of a receive call from `topics` that returned `count` messages (`failed` =
    /// it failed): the template index, or -1 when it is not traced (none of the topics is, or the
    /// core does not trace an empty receive).
    #[napi]
    pub fn poll_start(&self, topics: Vec<String>, count: u32, failed: bool) -> i64 {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let recipe = if failed { self.lifecycle.poll_failed(&topics) } else { self.lifecycle.poll(&topics, count as usize) };
        match recipe {
            Some(recipe) => i64::from(self.template_of(Recipe::Poll(recipe))),
            None => -1,
        }
    }

    /// Ends a receive call.
    #[napi]
    pub fn poll_finish(&self, template: u32, error_type: Option<String>, elapsed_seconds: f64, mut out: Float64ArraySlice<'_>, mut ids: Uint32ArraySlice<'_>) -> Result<()> {
        let (out, ids) = (f64s(&mut out), u32s(&mut ids));
        if out.len() < STRIDE || ids.len() < ID_STRIDE {
            return Err(missing("room for one message"));
        }
        let Recipe::Poll(recipe) = self.recipe(template)? else { return Err(missing("poll template")) };
        let result = match &error_type {
            Some(e) => PollResult::Failed { error_type: e },
            None => PollResult::Received,
        };
        let finish = recipe.finish(result, seconds(elapsed_seconds));
        self.finish(&finish, out, ids);
        Ok(())
    }
}
