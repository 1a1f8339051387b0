//! The lifecycle executor surface: the core's recipes and finishes, shaped for the TypeScript
//! executor. A [`Tracing`] is one client's [`Lifecycle`]. Per message it runs the core's recipe
//! or finish and hands back only numbers (see [`crate::layout`]) plus the index of a *template*
//! (the recipe without its message-dependent attributes) or a *plan* (the finish without its
//! numbers); the facade fetches each template and plan once, by index, and caches it.

use std::cell::RefCell;
use std::rc::Rc;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use kafka_trace::lifecycle::{
    batch_acks, now_ms, AmbientInfo, Finish, HandlerContext, HandlerResult, Instrument, Lifecycle, MetricRecord, MetricValueSource, Operation,
    PollRecipe, PollResult, ProcessRecipe, RemoteInfo, SendRecipe, SendResult, SpanEnd, Status, INSTRUMENTS,
    METRIC_ATTRIBUTE_KEYS, OPTION_NAMES,
};
use kafka_trace::carrier;
use kafka_trace::span::{Attribute, AttributeValue, ContextSource, MessageInfo, SpanKind, SpanSpec};
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::errors::missing;
use crate::js_memory::{f64s, push_values, u32s, Bytes, Detach};
use crate::codec::{head, raw_view, HEAD};
use crate::js_memory::{raw_function, with_scratch, Answer};
use crate::layout::{
    input_number, is_delta, template_attributes, write_delta, write_numbers, E2E_AT, END_AT, ID_STRIDE, METRIC_AT, METRIC_SLOTS, SCRATCH_BYTES, STRIDE,
};
use crate::kept_ack::{KeptAck, KeptAcks};
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

/// Entries by content, each with a stable index: found by a hash of the content and a
/// comparison (no key is built per message), the last hit first.
struct Interned<T> {
    entries: Vec<T>,
    index: HashMap<u64, Vec<u32>>,
    indexed: usize,
    last: Option<u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), index: HashMap::new(), indexed: 0, last: None }
    }
}

impl<T> Interned<T> {
    fn intern(&mut self, hash: impl FnOnce() -> u64, same: impl Fn(&T) -> bool, make: impl FnOnce() -> T) -> u32 {
        if let Some(i) = self.last {
            if same(&self.entries[i as usize]) {
                return i;
            }
        }
        let hash = hash();
        if let Some(found) = self.index.get(&hash).and_then(|c| c.iter().copied().find(|i| same(&self.entries[*i as usize]))) {
            self.last = Some(found);
            return found;
        }
        let i = self.entries.len() as u32;
        self.entries.push(make());
        if self.indexed < MAX_ENTRIES {
            self.index.entry(hash).or_default().push(i);
            self.indexed += 1;
            self.last = Some(i);
        }
        i
    }
}

/// FNV-1a: the contents hashed here are short and the hash is only an index into candidates.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn hash_value(h: &mut Fnv, v: &AttributeValue) {
    match v {
        AttributeValue::String(s) => {
            h.write_u8(0);
            h.write(s.as_bytes());
            h.write_u8(0xff);
        }
        AttributeValue::Int(i) => {
            h.write_u8(1);
            h.write_i64(*i);
        }
        AttributeValue::Bool(b) => h.write_u8(2 + u8::from(*b)),
        AttributeValue::Double(d) => {
            h.write_u8(4);
            h.write_u64(d.to_bits());
        }
    }
}

fn same_value(a: &AttributeValue, b: &AttributeValue) -> bool {
    match (a, b) {
        (AttributeValue::Double(x), AttributeValue::Double(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Hashes `attributes`; when `template` is set, a message-dependent attribute counts by its key
/// and place only (its value is the message's), so one template has one order of keys.
fn hash_attributes(h: &mut Fnv, attributes: &[Attribute], template: bool) {
    for (k, v) in attributes {
        h.write(k.as_bytes());
        if !(template && is_delta(k)) {
            hash_value(h, v);
        }
    }
    h.write_u8(0xfe);
}

/// The same keys in the same order with the same values; when `template` is set, a
/// message-dependent attribute's value may differ.
fn same_attributes(a: &[Attribute], b: &[Attribute], template: bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && (same_value(va, vb) || (template && is_delta(ka))))
}

fn metric_attributes(recipe: &Recipe) -> &[Attribute] {
    match recipe {
        Recipe::Send(r) => &r.metric_attributes,
        Recipe::Process(r) => &r.metric_attributes,
        Recipe::Poll(r) => &r.metric_attributes,
    }
}

/// A hash of a recipe's content without its message-dependent parts.
fn template_hash(recipe: &Recipe) -> u64 {
    let mut h = Fnv::default();
    let span = recipe.span();
    operation(recipe).hash(&mut h);
    span.kind.hash(&mut h);
    span.parent.hash(&mut h);
    span.links.hash(&mut h);
    span.name.hash(&mut h);
    hash_attributes(&mut h, &span.attributes, true);
    if let Recipe::Process(r) = recipe {
        let c = &r.handler;
        h.write_u8(u8::from(c.keep_ambient) | u8::from(c.message_baggage) << 1 | u8::from(c.keep_remote) << 2);
    }
    hash_attributes(&mut h, metric_attributes(recipe), false);
    h.finish()
}

/// Whether two recipes are the same template.
fn same_template(a: &Recipe, b: &Recipe) -> bool {
    let (sa, sb) = (a.span(), b.span());
    std::mem::discriminant(a) == std::mem::discriminant(b)
        && operation(a) == operation(b)
        && sa.kind == sb.kind
        && sa.parent == sb.parent
        && sa.links == sb.links
        && sa.name == sb.name
        && match (a, b) {
            (Recipe::Process(x), Recipe::Process(y)) => x.handler == y.handler,
            _ => true,
        }
        && same_attributes(&sa.attributes, &sb.attributes, true)
        && same_attributes(metric_attributes(a), metric_attributes(b), false)
}

fn end_is_now(finish: &Finish) -> bool {
    matches!(finish.end, SpanEnd::Now)
}

/// A hash of a finish's content without its numbers.
fn plan_hash(finish: &Finish) -> u64 {
    let mut h = Fnv::default();
    hash_attributes(&mut h, &finish.attributes, true);
    match &finish.status {
        Status::Unset => h.write_u8(0),
        Status::Error(d) => {
            h.write_u8(1);
            d.hash(&mut h);
        }
    }
    h.write_u8(u8::from(end_is_now(finish)));
    for m in &finish.metrics {
        m.instrument.name().hash(&mut h);
        hash_attributes(&mut h, &m.attributes, false);
    }
    h.finish()
}

/// Whether two finishes are the same plan.
fn same_plan(a: &Finish, b: &Finish) -> bool {
    a.status == b.status
        && end_is_now(a) == end_is_now(b)
        && a.metrics.len() == b.metrics.len()
        && a.metrics.iter().zip(&b.metrics).all(|(x, y)| x.instrument.name() == y.instrument.name() && same_attributes(&x.attributes, &y.attributes, false))
        && same_attributes(&a.attributes, &b.attributes, true)
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
    /// The keys of the attributes the span starts with (the core's sampling attributes), in
    /// order: from `attributes`, or a delta slot for a message-dependent key.
    pub start_keys: Vec<String>,
    /// The keys of the attributes to set only on a recording span, in order (likewise).
    pub recorded_keys: Vec<String>,
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

/// The finish of a returned handler for every message of one process template (the core's
/// `ProcessRecipe::returned_finish`): the facade keeps it and fills in the values per message
/// instead of calling the addon.
#[napi(object)]
pub struct ReturnedFinish {
    /// The plan index, as `process_finish` would write it.
    pub plan: u32,
    /// The bit set of the delta slots present.
    pub bits: u32,
    /// The finish's numbers (`layout`'s stride); the slots below are to be filled in.
    pub numbers: Vec<f64>,
    /// Slots that take the handler's elapsed seconds.
    pub elapsed_slots: Vec<u32>,
    /// Slots that take the end-to-end latency in seconds (the start's `e2eAt` slot / 1000).
    #[napi(js_name = "e2eSlots")]
    pub e2e_slots: Vec<u32>,
    /// Whether it is for messages with an end-to-end latency (the start's `e2eAt` slot not NaN).
    #[napi(js_name = "e2e")]
    pub e2e: bool,
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
    state: Rc<TracingState>,
    deprecations: Vec<(String, String)>,
}

/// What a [`Tracing`] shares with its per-message functions ([`Tracing::scratch_calls`]).
pub struct TracingState {
    lifecycle: Lifecycle,
    templates: RefCell<Interned<Recipe>>,
    plans: RefCell<Interned<Finish>>,
    topics: RefCell<Interned<String>>,
    acked: RefCell<KeptAcks>,
}

impl TracingState {
    fn new(lifecycle: Lifecycle) -> Self {
        Self { lifecycle, templates: RefCell::default(), plans: RefCell::default(), topics: RefCell::default(), acked: RefCell::default() }
    }
}

impl std::ops::Deref for Tracing {
    type Target = TracingState;
    fn deref(&self) -> &TracingState {
        &self.state
    }
}

/// Numbers a scratch call writes per message: the message's numbers, its ids, the remote
/// parent's validity.
const SCRATCH_NUMBERS: usize = STRIDE + ID_STRIDE + 1;

/// What the `process` scratch call answers besides a template index.
const NOT_TRACED: i32 = -1;
const NO_SCRATCH: i32 = -2;

impl TracingState {
    fn template_of(&self, recipe: Recipe) -> u32 {
        self.templates.borrow_mut().intern(|| template_hash(&recipe), |t| same_template(t, &recipe), || recipe.clone())
    }

    fn plan_of(&self, finish: &Finish) -> u32 {
        self.plans.borrow_mut().intern(|| plan_hash(finish), |p| same_plan(p, finish), || finish.clone())
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

    /// The finish of one message of a send call (KafkaJS reports no per-message broker
    /// latency: the span ends when the call settles). An acknowledged one takes the finish kept
    /// for its template and partition when its span finish has that finish's shape. `None`: no
    /// such send template (no napi error here, so unit tests link without Node).
    fn send_finish_one(&self, template: u32, result: SendResult<'_>, elapsed: Duration, out: &mut [f64], ids: &mut [u32]) -> Option<()> {
        let templates = self.templates.borrow();
        let Some(Recipe::Send(recipe)) = templates.entries.get(template as usize) else { return None };
        if let SendResult::Acked { partition, .. } = result {
            let kept = self.acked.borrow_mut().get_or_make(template, partition, || {
                let (finish, sources) = recipe.acked_finish(partition);
                KeptAck::new(&finish, &sources, self.plan_of(&finish))
            });
            if let Some(kept) = kept {
                if let Some(bits) = kept.fill(&recipe.finish_span(result, elapsed, None), elapsed, out) {
                    ids[0] = bits;
                    ids[1] = kept.plan;
                    return Some(());
                }
            }
        }
        let finish = recipe.finish(result, elapsed, None);
        drop(templates);
        self.finish(&finish, out, ids);
        Some(())
    }

    /// See [`Tracing::scratch_calls`] (`process`).
    fn process_in(&self, input: &[u8], output: &mut [u8]) -> i32 {
        let n = |i: usize| input_number(input, i);
        let topics = self.topics.borrow();
        let topic = n(0);
        let Some(topic) = (topic >= 0.0).then(|| topics.entries.get(topic as usize)).flatten() else { return NO_SCRATCH };
        let mut at = SCRATCH_BYTES;
        let mut take = |len: f64| -> Option<Option<&[u8]>> {
            if len.is_nan() || len < 0.0 {
                return Some(None);
            }
            let end = at.checked_add(len as usize)?;
            let bytes = input.get(at..end)?;
            at = end;
            Some(Some(bytes))
        };
        let (Some(traceparent), Some(key)) = (take(n(6)), take(n(7))) else { return NO_SCRATCH };
        // The parent alone decides the recipe (the tracestate never changes it).
        let remote_valid = match traceparent {
            Some(tp) => match carrier::extract_parts(&raw_view(Some(tp), None)).parent {
                Ok(parent) => {
                    head(&mut output[..HEAD], &parent);
                    true
                }
                Err(_) => false,
            },
            None => false,
        };
        let message = MessageInfo {
            topic,
            partition: non_negative_i32(n(1)),
            offset: finite_i64(n(2)),
            key,
            payload_len: payload(n(3)),
            timestamp_ms: finite_i64(n(4)),
        };
        let ambient = AmbientInfo { has_span: n(5) != 0.0 };
        let Some(recipe) = self.lifecycle.process(&message, RemoteInfo { valid: remote_valid }, ambient, now_ms()) else { return NOT_TRACED };
        let mut numbers = [f64::NAN; SCRATCH_NUMBERS];
        let mut ids = [0u32; ID_STRIDE];
        drop(topics);
        self.start(Recipe::Process(recipe), &mut numbers[..STRIDE], &mut ids);
        numbers[STRIDE] = f64::from(ids[0]);
        numbers[STRIDE + 1] = f64::from(ids[1]);
        numbers[STRIDE + 2] = f64::from(u8::from(remote_valid));
        write_numbers(output, &numbers);
        ids[1] as i32
    }

    /// See [`Tracing::returned_finish`].
    fn returned_in(&self, template: u32) -> Option<ReturnedFinish> {
        let Some(Recipe::Process(recipe)) = self.templates.borrow().entries.get(template as usize).cloned() else { return None };
        let (finish, sources) = recipe.returned_finish();
        let mut numbers = vec![f64::NAN; STRIDE];
        let mut ids = [0u32; ID_STRIDE];
        self.finish(&finish, &mut numbers, &mut ids);
        let (mut elapsed_slots, mut e2e_slots) = (Vec::new(), Vec::new());
        for (i, source) in sources.iter().take(METRIC_SLOTS).enumerate() {
            let slot = (METRIC_AT + i) as u32;
            match source {
                MetricValueSource::Constant(_) => {}
                MetricValueSource::ElapsedSeconds => elapsed_slots.push(slot),
                MetricValueSource::E2eLatencySeconds => e2e_slots.push(slot),
            }
        }
        Some(ReturnedFinish { plan: ids[1], bits: ids[0], numbers, elapsed_slots, e2e_slots, e2e: recipe.span.e2e_latency_ms.is_some() })
    }

    /// See [`Tracing::scratch_calls`] (`processFinish`).
    fn process_finish_in(&self, input: &[u8], output: &mut [u8]) -> i32 {
        let template = input_number(input, 0);
        let e2e = input_number(input, 1);
        let finish = {
            let mut templates = self.templates.borrow_mut();
            let Some(Recipe::Process(recipe)) = (template >= 0.0).then(|| templates.entries.get_mut(template as usize)).flatten() else {
                return NO_SCRATCH;
            };
            // The template's own latency slot is this message's for the finish (no clone).
            recipe.span.e2e_latency_ms = (!e2e.is_nan()).then_some(e2e);
            recipe.finish(HandlerResult::Returned, seconds(input_number(input, 2)))
        };
        let mut numbers = [f64::NAN; SCRATCH_NUMBERS];
        let mut ids = [0u32; ID_STRIDE];
        self.finish(&finish, &mut numbers[..STRIDE], &mut ids);
        numbers[STRIDE] = f64::from(ids[0]);
        numbers[STRIDE + 1] = f64::from(ids[1]);
        write_numbers(output, &numbers);
        ids[1] as i32
    }
}

#[napi]
impl Tracing {
    /// From an options object spelled as the core's `OPTION_NAMES` (camelCase).
    #[napi(constructor)]
    pub fn new(options: Option<Object<'_>>) -> Result<Self> {
        let parsed = options::parse(options)?;
        Ok(Self { state: Rc::new(TracingState::new(Lifecycle::new(parsed.options, parsed.client))), deprecations: parsed.deprecations })
    }

    /// `[old, current, old, current, …]`: deprecated option spellings the options used.
    #[napi]
    pub fn deprecations(&self) -> Vec<String> {
        self.deprecations.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect()
    }

    /// The id of `topic` for the `process` scratch call ([`Self::scratch_calls`]) (the same id for the same name).
    #[napi]
    pub fn topic_id(&self, topic: String) -> u32 {
        let hash = || {
            let mut h = Fnv::default();
            h.write(topic.as_bytes());
            h.finish()
        };
        self.topics.borrow_mut().intern(hash, |t| *t == topic, || topic.clone())
    }

    /// The per-message calls over the scratch memory, as functions of no arguments that answer a
    /// number (bare Node-API: see [`crate::js_memory::raw_function`]); each keeps this client's
    /// state alive as long as it lives.
    ///
    /// - `process()`: [`Self::process_start`] of one message with the extraction of its parent
    ///   (inputs and outputs as `layout`'s `PROCESS_INPUTS` and `SCRATCH_BYTES` say; the compact
    ///   head of a valid parent at the start of the output). Answers the template index, -1 when
    ///   the topic is not traced, -2 when the inputs do not fit (the caller then uses `extract*`
    ///   and [`Self::process_start`]).
    /// - `processFinish()`: [`Self::process_finish`] of a handler that returned (inputs as
    ///   `layout`'s `FINISH_INPUTS` say; the finish's numbers and ids as `process`'s). Answers the
    ///   plan index, or -2 for an unknown template.
    #[napi]
    pub fn scratch_calls<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        let mut calls = Object::new(env)?;
        let state = self.state.clone();
        let process = move || Answer::Int(with_scratch(|input, output| state.process_in(input, output)).unwrap_or(NO_SCRATCH));
        calls.set_named_property("process", raw_function(env, "process", Box::new(process))?)?;
        let state = self.state.clone();
        let finish = move || Answer::Int(with_scratch(|input, output| state.process_finish_in(input, output)).unwrap_or(NO_SCRATCH));
        calls.set_named_property("processFinish", raw_function(env, "processFinish", Box::new(finish))?)?;
        Ok(calls)
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
            start_keys: span.sampling_attributes().map(|(k, _)| (*k).to_owned()).collect(),
            recorded_keys: span.recorded_attributes().map(|(k, _)| (*k).to_owned()).collect(),
        })
    }

    /// The finish of a returned handler for the messages of process template `template`, or
    /// null when it is not a process template.
    #[napi]
    pub fn returned_finish(&self, template: u32) -> Option<ReturnedFinish> {
        self.returned_in(template)
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
            let result = match &error_type {
                Some(e) => SendResult::Failed { error_type: e },
                None => SendResult::Acked { partition: acks[i].0, offset: acks[i].1 },
            };
            self.send_finish_one(templates[i], result, elapsed, &mut out[STRIDE * i..STRIDE * (i + 1)], &mut ids[ID_STRIDE * i..ID_STRIDE * (i + 1)])
                .ok_or_else(|| missing("send template"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{PROCESS_INPUTS, SCRATCH_LEN, SCRATCH_OUT};
    use kafka_trace::span::{ClientInfo, Options};

    fn tracing() -> Tracing {
        let client = ClientInfo { client_id: Some("c".into()), consumer_group: Some("g".into()), ..ClientInfo::default() };
        Tracing { state: Rc::new(TracingState::new(Lifecycle::new(Options::default(), client))), deprecations: Vec::new() }
    }

    const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Lays out the `process` scratch call's inputs and runs it: (result, output region).
    fn run(t: &Tracing, topic: &str, offset: f64, tp: Option<&[u8]>, key: Option<&[u8]>) -> (i32, Vec<u8>) {
        let mut memory = vec![0u8; SCRATCH_LEN];
        let (input, output) = memory.split_at_mut(SCRATCH_OUT);
        let numbers = [f64::from(t.topic_id(topic.into())), 3.0, offset, 10.0, f64::NAN, 0.0, tp.map_or(-1.0, |b| b.len() as f64), key.map_or(-1.0, |b| b.len() as f64)];
        assert_eq!(numbers.len(), PROCESS_INPUTS.len());
        for (i, n) in numbers.iter().enumerate() {
            input[8 * i..8 * i + 8].copy_from_slice(&n.to_le_bytes());
        }
        let mut at = SCRATCH_BYTES;
        for b in [tp, key].into_iter().flatten() {
            input[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        }
        let r = t.process_in(input, output);
        (r, output.to_vec())
    }

    fn number(output: &[u8], i: usize) -> f64 {
        input_number(&output[SCRATCH_BYTES..], i)
    }

    #[test]
    fn scratch_process_matches_the_recipe_and_interns_templates() {
        let t = tracing();
        let (a, out_a) = run(&t, "orders", 5.0, Some(TP), Some(b"k1"));
        let (b, out_b) = run(&t, "orders", 6.0, Some(TP), Some(b"key-2"));
        let (c, _) = run(&t, "payments", 5.0, Some(TP), None);
        assert_eq!((a, b), (0, 0), "one template for messages that differ only in their numbers");
        assert_eq!(c, 1, "another topic is another template");
        assert_eq!(&out_a[..HEAD], b"4bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b701");
        assert_eq!((number(&out_a, 1), number(&out_b, 1)), (5.0, 6.0), "offset slot");
        assert_eq!(number(&out_a, STRIDE + 2), 1.0, "remote parent valid");
        // The same numbers and ids as the recipe the core makes for the message.
        let message = MessageInfo { topic: "orders", partition: Some(3), offset: Some(5), key: Some(b"k1"), payload_len: Some(10), timestamp_ms: None };
        let recipe = t.lifecycle.process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: false }, now_ms()).unwrap();
        let mut out = [f64::NAN; STRIDE];
        let mut ids = [0u32; ID_STRIDE];
        t.start(Recipe::Process(recipe), &mut out, &mut ids);
        for (i, v) in out.iter().enumerate().filter(|(i, _)| *i != E2E_AT) {
            assert_eq!(v.to_bits(), number(&out_a, i).to_bits(), "slot {i}");
        }
        assert_eq!((f64::from(ids[0]), f64::from(ids[1])), (number(&out_a, STRIDE), number(&out_a, STRIDE + 1)));
        // No usable parent: another template (the ambient context is the parent), validity 0.
        let (d, out_d) = run(&t, "orders", 7.0, Some(b"00-zz"), None);
        assert_eq!((d, number(&out_d, STRIDE + 2)), (2, 0.0));
        let (e, _) = run(&t, "orders", 8.0, None, None);
        assert_eq!(e, 2);
        assert_eq!(t.templates.borrow().entries.len(), 3);
    }

    #[test]
    fn a_template_has_one_order_of_keys_and_names_the_start_and_recorded_ones() {
        let t = tracing();
        let (with_key, _) = run(&t, "orders", 5.0, Some(TP), Some(b"k1"));
        let (other_key, _) = run(&t, "orders", 6.0, Some(TP), Some(b"k2"));
        let (no_key, _) = run(&t, "orders", 7.0, Some(TP), None);
        assert_eq!(with_key, other_key, "only the key's value differs");
        assert_ne!(with_key, no_key, "the key attribute is absent: another order of keys");
        let templates = t.templates.borrow();
        for (index, keyed) in [(with_key, true), (no_key, false)] {
            let span = templates.entries[index as usize].span();
            let keys: Vec<&str> = span.attributes.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys.contains(&"messaging.kafka.message.key"), keyed);
            let start: Vec<&str> = span.sampling_attributes().map(|(k, _)| *k).collect();
            let recorded: Vec<&str> = span.recorded_attributes().map(|(k, _)| *k).collect();
            assert_eq!(start.len() + recorded.len(), keys.len());
            assert!(start.contains(&"messaging.destination.partition.id"));
            assert!(recorded.contains(&"messaging.kafka.offset") && !start.contains(&"messaging.kafka.offset"));
        }
    }

    #[test]
    fn a_returned_finish_filled_in_matches_process_finish() {
        let t = tracing();
        for (offset, timestamp) in [(5.0, f64::NAN), (6.0, 1_000.0)] {
            let mut memory = vec![0u8; SCRATCH_LEN];
            let (input, output) = memory.split_at_mut(SCRATCH_OUT);
            let numbers = [f64::from(t.topic_id("orders".into())), 3.0, offset, 10.0, timestamp, 0.0, TP.len() as f64, -1.0];
            for (i, n) in numbers.iter().enumerate() {
                input[8 * i..8 * i + 8].copy_from_slice(&n.to_le_bytes());
            }
            input[SCRATCH_BYTES..SCRATCH_BYTES + TP.len()].copy_from_slice(TP);
            let template = t.process_in(input, output);
            let e2e = number(output, E2E_AT);
            let kept = t.returned_in(template as u32).expect("a process template");
            assert_eq!(kept.e2e, !e2e.is_nan());
            assert_eq!(kept.elapsed_slots.len(), 1);
            assert_eq!(kept.e2e_slots.len(), usize::from(kept.e2e));
            let mut filled = kept.numbers.clone();
            for s in &kept.elapsed_slots {
                filled[*s as usize] = 0.25;
            }
            for s in &kept.e2e_slots {
                filled[*s as usize] = e2e / 1000.0;
            }
            for (i, n) in [f64::from(template), e2e, 0.25].iter().enumerate() {
                input[8 * i..8 * i + 8].copy_from_slice(&n.to_le_bytes());
            }
            let plan = t.process_finish_in(input, output);
            assert_eq!((kept.plan, f64::from(kept.bits)), (plan as u32, number(output, STRIDE)));
            for (i, v) in filled.iter().enumerate().filter(|(i, _)| *i != E2E_AT) {
                assert_eq!(v.to_bits(), number(output, i).to_bits(), "slot {i}");
            }
        }
    }

    /// The full finish of a send as `send_finish` wrote it before finishes were kept.
    fn full_send_finish(t: &Tracing, template: u32, result: SendResult<'_>, elapsed: Duration, out: &mut [f64], ids: &mut [u32]) {
        let Some(Recipe::Send(recipe)) = t.templates.borrow().entries.get(template as usize).cloned() else { panic!("a send template") };
        t.finish(&recipe.finish(result, elapsed, None), out, ids);
    }

    #[test]
    fn a_kept_send_finish_writes_what_the_full_finish_writes() {
        let client = ClientInfo { client_id: Some("c".into()), ..ClientInfo::default() }.with_bootstrap("k:9092");
        let t = Tracing { state: Rc::new(TracingState::new(Lifecycle::new(Options::default(), client))), deprecations: Vec::new() };
        let mut templates = Vec::new();
        for (topic, partition, key) in [("orders", None, Some(&b"k1"[..])), ("orders", Some(2), None), ("payments", None, None)] {
            let message = MessageInfo { topic, partition, key, payload_len: Some(10), ..MessageInfo::default() };
            let mut out = [0f64; STRIDE];
            let mut ids = [0u32; ID_STRIDE];
            t.start(Recipe::Send(t.lifecycle.send(&message).unwrap()), &mut out, &mut ids);
            templates.push(ids[1]);
        }
        let results = [
            SendResult::Acked { partition: 0, offset: 0 },
            SendResult::Acked { partition: 0, offset: 41 },
            SendResult::Acked { partition: 2, offset: 7 },
            SendResult::Acked { partition: 0, offset: -1 }, // no offset from the broker: another shape
            SendResult::Acked { partition: -1, offset: 5 },
            SendResult::Acked { partition: 7, offset: 1 << 40 },
            SendResult::Failed { error_type: "KafkaJSNumberOfRetriesExceeded" },
            SendResult::Acked { partition: 0, offset: 42 },
        ];
        // Twice over: the first pass keeps finishes, the second uses them.
        for _ in 0..2 {
            for &template in &templates {
                for result in results {
                    for elapsed in [Duration::ZERO, Duration::from_secs_f64(0.012_345_678_9), Duration::from_millis(900)] {
                        let (mut kept, mut full) = ([f64::NAN; STRIDE], [f64::NAN; STRIDE]);
                        let (mut kept_ids, mut full_ids) = ([0u32; ID_STRIDE], [0u32; ID_STRIDE]);
                        t.send_finish_one(template, result, elapsed, &mut kept, &mut kept_ids).expect("a send template");
                        full_send_finish(&t, template, result, elapsed, &mut full, &mut full_ids);
                        assert_eq!(kept_ids, full_ids, "{result:?}");
                        for i in 0..STRIDE {
                            assert_eq!(kept[i].to_bits(), full[i].to_bits(), "slot {i} of {result:?} after {elapsed:?}");
                        }
                    }
                }
            }
        }
        assert!(t.acked.borrow().get(templates[0], 0).is_some() && t.acked.borrow().get(templates[2], 7).is_some());
        assert!(t.send_finish_one(99, results[0], Duration::ZERO, &mut [0f64; STRIDE], &mut [0u32; ID_STRIDE]).is_none(), "an unknown template is refused");
    }

    #[test]
    fn scratch_finish_matches_process_finish() {
        let t = tracing();
        let (template, _) = run(&t, "orders", 5.0, Some(TP), None);
        let mut memory = vec![0u8; SCRATCH_LEN];
        let (input, output) = memory.split_at_mut(SCRATCH_OUT);
        for (i, n) in [f64::from(template), 12.5, 0.25].iter().enumerate() {
            input[8 * i..8 * i + 8].copy_from_slice(&n.to_le_bytes());
        }
        let plan = t.process_finish_in(input, output);
        assert_eq!(plan, 0);
        let Some(Recipe::Process(recipe)) = t.templates.borrow().entries.first().cloned() else { panic!("a process template") };
        let finish = recipe.finish(HandlerResult::Returned, Duration::from_millis(250));
        let mut out = [f64::NAN; STRIDE];
        let mut ids = [0u32; ID_STRIDE];
        t.finish(&finish, &mut out, &mut ids);
        assert_eq!(ids[1], 0, "the same plan");
        for (i, v) in out.iter().enumerate().filter(|(i, _)| *i != E2E_AT) {
            assert_eq!(v.to_bits(), number(output, i).to_bits(), "slot {i}");
        }
        assert!((0..METRIC_SLOTS).any(|j| number(output, METRIC_AT + j) == 0.25), "the duration metric");
        // An unknown template is refused, not guessed.
        input[..8].copy_from_slice(&99f64.to_le_bytes());
        assert_eq!(t.process_finish_in(input, output), NO_SCRATCH);
    }
}

#[cfg(test)]
mod perf {
    use super::*;
    use kafka_trace::span::{ClientInfo, Options};
    use std::hint::black_box;
    use std::time::Instant;

    fn lifecycle() -> Lifecycle {
        let client = ClientInfo { client_id: Some("c".into()), consumer_group: Some("g".into()), server_address: Some("127.0.0.1".into()), server_port: Some(9092) };
        Lifecycle::new(Options::default(), client)
    }

    /// `cargo test --release -p kafka-trace-node --lib --features napi/noop perf -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn per_message_costs() {
        let lc = lifecycle();
        let message = MessageInfo { topic: "t", partition: Some(0), offset: Some(5), key: Some(b"k1"), payload_len: Some(100), timestamp_ms: Some(1) };
        let n = 200_000;
        let time = |name: &str, f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            println!("{name:40} {:6.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        };
        time("lifecycle.process", &mut || {
            black_box(lc.process(black_box(&message), RemoteInfo { valid: true }, AmbientInfo { has_span: false }, 10));
        });
        let recipe = Recipe::Process(lc.process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: false }, 10).unwrap());
        time("template_hash", &mut || {
            black_box(template_hash(black_box(&recipe)));
        });
        time("same_template", &mut || {
            black_box(same_template(black_box(&recipe), black_box(&recipe)));
        });
        let tracing = Tracing { state: Rc::new(TracingState::new(lifecycle())), deprecations: Vec::new() };
        let mut out = [0f64; STRIDE];
        let mut ids = [0u32; ID_STRIDE];
        time("process + start", &mut || {
            let r = tracing.lifecycle.process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: false }, 10).unwrap();
            tracing.start(Recipe::Process(r), &mut out, &mut ids);
        });
        let Recipe::Process(p) = &recipe else { unreachable!() };
        time("recipe.finish", &mut || {
            black_box(p.finish(HandlerResult::Returned, Duration::from_millis(1)));
        });
        let finish = p.finish(HandlerResult::Returned, Duration::from_millis(1));
        time("plan_hash", &mut || {
            black_box(plan_hash(black_box(&finish)));
        });
        time("recipe clone", &mut || {
            black_box(black_box(&recipe).clone());
        });
        let send = MessageInfo { topic: "t", key: Some(b"k1"), payload_len: Some(100), ..MessageInfo::default() };
        let mut ids = [0u32; ID_STRIDE];
        tracing.start(Recipe::Send(tracing.lifecycle.send(&send).unwrap()), &mut out, &mut ids);
        let send_template = ids[1];
        time("lifecycle.send", &mut || {
            black_box(tracing.lifecycle.send(black_box(&send)));
        });
        time("send + start", &mut || {
            let r = tracing.lifecycle.send(&send).unwrap();
            tracing.start(Recipe::Send(r), &mut out, &mut ids);
        });
        let mut offset = 0;
        time("send finish, full (before kept acks)", &mut || {
            offset += 1;
            let templates = tracing.templates.borrow();
            let Some(Recipe::Send(r)) = templates.entries.get(send_template as usize) else { unreachable!() };
            let finish = r.finish(SendResult::Acked { partition: 0, offset }, Duration::from_millis(3), None);
            drop(templates);
            tracing.finish(&finish, &mut out, &mut ids);
        });
        time("send finish, kept ack", &mut || {
            offset += 1;
            tracing.send_finish_one(send_template, SendResult::Acked { partition: 0, offset }, Duration::from_millis(3), &mut out, &mut ids).expect("a send template");
        });
    }
}
