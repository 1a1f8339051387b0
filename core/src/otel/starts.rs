//! Span starts from a bounded per-topic cache: what every message of one (operation, topic,
//! partition, parent situation) starts its span with — name, kind, parent and link sources, the
//! sampling attributes as ready-made `KeyValue`s — is taken once from a recipe of the core and
//! shared by the next messages, so a span the sampler drops costs no recipe and no string clone.
//! The full recipe is built only for a span that records; the metrics of a span that does not
//! record come from the recipe kept for its situation ([`Kept`]).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::{self as ot, Span as _, TraceContextExt as _, Tracer};
use opentelemetry::{Context, KeyValue};

use super::convert::to_kind;
use super::kept::{kept_key_value, span_name};
use super::executor::{handler_context, set_recorded, Executor, MessageContext, Running, SpanHead, Sources, StartTime};
use super::instruments::{Instruments, Resolved};
use crate::lifecycle::{
    AmbientInfo, Finish, HandlerContext, HandlerResult, Lifecycle, PartitionCache, ProcessRecipe, SendRecipe, SendResult,
    Situation, SituationCache,
};
/// How many (topic, situation) entries a [`StartCache`] keeps: the core's
/// [`crate::lifecycle::START_CACHE_CAPACITY`].
pub use crate::lifecycle::START_CACHE_CAPACITY;
use crate::span::{ContextSource, MessageInfo, SpanSpec};

/// The constant part of a span start, from a recipe of the core.
#[derive(Debug)]
struct Template {
    /// Kept for the process ([`super::kept`]): the span builder takes it without a copy.
    name: Cow<'static, str>,
    kind: ot::SpanKind,
    parent: ContextSource,
    links: Vec<ContextSource>,
    /// String values kept for the process ([`super::kept`]), or reference counted: a span's copy
    /// of them copies no string.
    sampling: Vec<KeyValue>,
    /// A process recipe's handler rule.
    handler: Option<HandlerContext>,
    /// The recipe the template was taken from (its metric records are every message's).
    recipe: KeptRecipe,
    /// Its metric records, converted once.
    metrics: Arc<KeptMetrics>,
}

/// The metric records of a template's kept recipe with their attribute sets converted once, so a
/// span that does not record finishes without a recipe finish and without a set lookup per
/// message ([`Executor::finish_kept_send`], [`Executor::finish_kept_process`]).
#[derive(Debug, Default)]
struct KeptMetrics {
    /// A process template's records of a returned handler (with the end-to-end latency record).
    returned: OnceLock<Arc<[Resolved]>>,
    /// A send template's records of an acknowledged send, per acknowledged partition (the core's
    /// bounded [`PartitionCache`]: partitions past its bound convert their records per message).
    acked: PartitionCache<Arc<[Resolved]>>,
}

#[derive(Debug)]
enum KeptRecipe {
    Send(Arc<SendRecipe>),
    Process(Arc<ProcessRecipe>),
}

/// A recipe a [`StartCache`] keeps.
trait Keep: Clone {
    fn keep(self) -> KeptRecipe;
    fn kept(recipe: &KeptRecipe) -> Option<Arc<Self>>;
}

impl Keep for SendRecipe {
    fn keep(self) -> KeptRecipe {
        KeptRecipe::Send(Arc::new(self))
    }

    fn kept(recipe: &KeptRecipe) -> Option<Arc<Self>> {
        match recipe {
            KeptRecipe::Send(r) => Some(r.clone()),
            KeptRecipe::Process(_) => None,
        }
    }
}

impl Keep for ProcessRecipe {
    fn keep(self) -> KeptRecipe {
        KeptRecipe::Process(Arc::new(self))
    }

    fn kept(recipe: &KeptRecipe) -> Option<Arc<Self>> {
        match recipe {
            KeptRecipe::Process(r) => Some(r.clone()),
            KeptRecipe::Send(_) => None,
        }
    }
}

/// The recipe kept for a span's situation, to finish a span that does not record on an
/// executor that records metrics: the same metric records as the message's own recipe.
#[derive(Clone, Debug)]
pub struct Kept<R> {
    /// The recipe of the first message of the situation.
    pub recipe: Arc<R>,
    /// This message's end-to-end latency (process).
    pub e2e_latency_ms: Option<f64>,
    /// The situation's metric records, converted once.
    metrics: Arc<KeptMetrics>,
}

impl Kept<SendRecipe> {
    /// [`SendRecipe::finish`] for this message.
    pub fn finish(&self, result: SendResult<'_>, elapsed: std::time::Duration, broker_latency: Option<std::time::Duration>) -> Finish {
        self.recipe.finish(result, elapsed, broker_latency)
    }
}

impl Kept<ProcessRecipe> {
    /// [`ProcessRecipe::finish`] for this message ([`ProcessRecipe::finish_with_e2e`]).
    pub fn finish(&self, result: HandlerResult<'_>, elapsed: std::time::Duration) -> Finish {
        self.recipe.finish_with_e2e(result, elapsed, self.e2e_latency_ms)
    }
}

impl Template {
    fn of<R: Keep>(recipe: &R, (spec, handler): (&SpanSpec, Option<HandlerContext>)) -> Self {
        Self {
            name: span_name(&spec.name),
            kind: to_kind(spec.kind),
            parent: spec.parent,
            links: spec.links.clone(),
            sampling: spec.sampling_attributes().map(kept_key_value).collect(),
            handler,
            recipe: recipe.clone().keep(),
            metrics: Arc::default(),
        }
    }
}

/// FNV-1a: topic names are short and chosen by the application, not by an attacker reaching
/// the process; SipHash would cost more than the rest of the lookup.
type Entry = Option<Arc<Template>>;


/// A bounded cache of span starts, for one [`Lifecycle`] (keep it next to the lifecycle it was
/// filled from; a cache used with another lifecycle would start spans by the first one's rules).
///
/// Memory: at most `capacity` entries. An entry's span name and the string values of its sampling
/// attributes are kept for the life of the process (a span then takes them without a copy),
/// bounded for the whole process at [`KEPT_STRINGS`](super::KEPT_STRINGS) distinct strings and
/// [`KEPT_STRING_BYTES`](super::KEPT_STRING_BYTES) bytes, however many caches there are; past
/// those bounds an entry's spans copy their name and share its values by reference count.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Lifecycle, SendResult};
/// use kafka_trace::otel::{Executor, StartCache};
/// use kafka_trace::span::MessageInfo;
/// use opentelemetry::Context;
/// # use opentelemetry::trace::TracerProvider as _;
/// # let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
/// # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
///
/// let (lifecycle, cache) = (Lifecycle::default(), StartCache::default());
/// let executor = Executor::new(provider.tracer("app"), None);
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// for offset in 0..2 {
///     let started = executor.start_send_cached(&cache, &lifecycle, &message, &Context::new()).unwrap();
///     // The span records: the recipe is there to finish it.
///     let recipe = started.recipe.as_ref().unwrap();
///     executor.finish(&started.running, &recipe.finish(SendResult::Acked { partition: 0, offset }, started.running.elapsed(), None));
/// }
/// assert_eq!(cache.len(), 1);
/// let spans = exporter.get_finished_spans().unwrap();
/// assert_eq!((spans.len(), spans[1].name.as_ref()), (2, "send orders"));
/// ```
pub struct StartCache {
    /// Read-mostly: every message reads, a new situation writes once.
    entries: SituationCache<Entry>,
    capacity: usize,
}

impl Default for StartCache {
    fn default() -> Self {
        Self::with_capacity(START_CACHE_CAPACITY)
    }
}

impl std::fmt::Debug for StartCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartCache").field("len", &self.len()).field("capacity", &self.capacity).finish()
    }
}

impl StartCache {
    /// A cache that keeps at most `capacity` entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::otel::{Executor, StartCache};
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::Context;
    ///
    /// let (lifecycle, cache) = (Lifecycle::default(), StartCache::with_capacity(2));
    /// let executor = Executor::new(opentelemetry::global::tracer("app"), None);
    /// for topic in ["a", "b", "c", "d"] {
    ///     let message = MessageInfo { topic, payload_len: Some(1), ..MessageInfo::default() };
    ///     assert!(executor.start_send_cached(&cache, &lifecycle, &message, &Context::new()).is_some());
    /// }
    /// assert_eq!(cache.len(), 2); // bounded: "c" and "d" took the full recipe path
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: SituationCache::with_capacity(capacity), capacity }
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

}

/// A span started through a [`StartCache`].
#[derive(Debug)]
pub struct Started<R> {
    /// The running span (its context: see [`Running::context`]).
    pub running: Running,
    /// The operation's full recipe, built when it is needed: for a span that records, and for a
    /// topic's first message.
    pub recipe: Option<R>,
    /// Without `recipe`, on an executor that records metrics: the recipe kept for the span's
    /// situation, to finish with ([`Executor::finish`] records its metrics; the span does not
    /// record). Neither: end the span with [`Executor::end_unrecorded`].
    pub kept: Option<Kept<R>>,
}

impl<T> Executor<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    /// Like [`Lifecycle::send`] and [`Executor::start_send`], with the span's constant part taken
    /// from `cache` (one per `lifecycle`). `None`: the lifecycle does not trace the topic.
    pub fn start_send_cached(
        &self,
        cache: &StartCache,
        lifecycle: &Lifecycle,
        message: &MessageInfo<'_>,
        ambient: &Context,
    ) -> Option<Started<SendRecipe>> {
        let situation = Situation::send(message);
        let build = || lifecycle.send(message);
        let sources = Sources { ambient, remote: None, poll: None };
        let into_cx = |span, _| ambient.with_span(span);
        self.start_cached(cache, (message.topic, situation), &sources, build, |r| (&r.span, None), into_cx, || None)
    }

    /// Like [`Lifecycle::process`] (no `poll`) or [`Lifecycle::batch_process`] (with the poll
    /// span's context) and [`Executor::start_process`], with the span's constant part taken from
    /// `cache` (one per `lifecycle`). `None`: the lifecycle does not trace the topic.
    pub fn start_process_cached(
        &self,
        cache: &StartCache,
        lifecycle: &Lifecycle,
        message: &MessageInfo<'_>,
        context: &MessageContext,
        ambient: &Context,
        poll: Option<&Context>,
    ) -> Option<Started<ProcessRecipe>> {
        let remote = context.remote_info();
        let ambient_span = poll.is_none() && ambient.span().span_context().is_valid();
        let situation = match poll {
            Some(_) => Situation::batch_process(message, remote.valid),
            None => Situation::process(message, remote.valid, ambient_span),
        };
        let build = || match poll {
            Some(_) => lifecycle.batch_process(message, remote, crate::lifecycle::now_ms()),
            None => lifecycle.process(message, remote, AmbientInfo { has_span: ambient_span }, crate::lifecycle::now_ms()),
        };
        let poll_sc = poll.map(|p| p.span().span_context().clone());
        let sources = Sources { ambient, remote: context.remote.as_ref(), poll: poll_sc.as_ref() };
        let into_cx = |span, handler: Option<HandlerContext>| {
            let handler = handler.expect("a process recipe has a handler rule");
            handler_context(handler, ambient, context).with_span(span)
        };
        let e2e = || crate::span::e2e_latency_ms(message.timestamp_ms, crate::lifecycle::now_ms());
        self.start_cached(cache, (message.topic, situation), &sources, build, |r| (&r.span, Some(r.handler)), into_cx, e2e)
    }

    /// Ends a span started without a recipe (it does not record, and the executor records no
    /// metrics): nothing to set, nothing to record.
    pub fn end_unrecorded(&self, running: &Running) {
        running.context().span().end();
    }

    /// The same as `self.finish(running, &kept.finish(result, elapsed, broker_latency))` for a
    /// span started without a recipe ([`Started::kept`]), cheaper: an acknowledged send records
    /// the metric records of its situation and partition, converted once, with its own duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, SendResult};
    /// use kafka_trace::otel::{Executor, Instruments, StartCache};
    /// use kafka_trace::span::MessageInfo;
    /// use opentelemetry::metrics::MeterProvider as _;
    /// use opentelemetry::Context;
    /// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    /// # use opentelemetry::trace::TracerProvider as _;
    ///
    /// let exporter = InMemoryMetricExporter::default();
    /// let meters = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// let tracers = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOff).build();
    /// let executor = Executor::new(tracers.tracer("app"), Some(&meters.meter("app")));
    /// let (lifecycle, cache) = (Lifecycle::default(), StartCache::default());
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// for offset in 0..3 {
    ///     let started = executor.start_send_cached(&cache, &lifecycle, &message, &Context::new()).unwrap();
    ///     if let Some(kept) = &started.kept {
    ///         executor.finish_kept_send(&started.running, kept, SendResult::Acked { partition: 0, offset }, Duration::from_millis(2), None);
    ///     }
    /// }
    /// meters.force_flush().unwrap();
    /// let exported = exporter.get_finished_metrics().unwrap();
    /// assert!(exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).any(|m| m.name() == "messaging.client.sent.messages"));
    /// ```
    pub fn finish_kept_send(
        &self,
        running: &Running,
        kept: &Kept<SendRecipe>,
        result: SendResult<'_>,
        elapsed: Duration,
        broker_latency: Option<Duration>,
    ) {
        let resolved = match (self.kept_instruments(running), result) {
            (Some(instruments), SendResult::Acked { partition, .. }) => Some(kept.metrics.acked.get_or_insert_with(partition, || {
                let (finish, sources) = kept.recipe.acked_finish(partition);
                instruments.resolve(&finish.metrics, &sources)
            })),
            _ => None,
        };
        match (resolved, self.instruments()) {
            (Some(resolved), Some(instruments)) => {
                self.end_unrecorded(running);
                instruments.record_resolved(&resolved, broker_latency.unwrap_or(elapsed).as_secs_f64(), None);
            }
            _ => self.finish(running, &kept.finish(result, elapsed, broker_latency)),
        }
    }

    /// The same as `self.finish(running, &kept.finish(result, elapsed))` for a span started
    /// without a recipe ([`Started::kept`]), cheaper: a returned handler records the metric
    /// records of its situation, converted once, with its own duration and end-to-end latency.
    pub fn finish_kept_process(&self, running: &Running, kept: &Kept<ProcessRecipe>, result: HandlerResult<'_>, elapsed: Duration) {
        let Some(instruments) = self.kept_instruments(running).filter(|_| result == HandlerResult::Returned) else {
            return self.finish(running, &kept.finish(result, elapsed));
        };
        let resolved = kept.metrics.returned.get_or_init(|| {
            // With a latency, so the latency's record is among them (a message without one skips it).
            let mut recipe = (*kept.recipe).clone();
            recipe.span.e2e_latency_ms = Some(0.0);
            let (finish, sources) = recipe.returned_finish();
            instruments.resolve(&finish.metrics, &sources)
        });
        self.end_unrecorded(running);
        instruments.record_resolved(resolved, elapsed.as_secs_f64(), kept.e2e_latency_ms.map(|ms| ms / 1000.0));
    }

    /// The instruments, for a kept finish of a span that does not record (a recording span, which
    /// a kept recipe is not for, finishes from its recipe).
    fn kept_instruments(&self, running: &Running) -> Option<&Instruments> {
        self.instruments().filter(|_| !running.context().span().is_recording())
    }

    /// Starts a span from `cache` (its recipe from `build` when new or recording), straight into
    /// the [`Started`] returned (no intermediate to move): `e2e` is a kept finish's end-to-end
    /// latency, asked for only when there is one.
    #[allow(clippy::too_many_arguments)]
    fn start_cached<R: Keep>(
        &self,
        cache: &StartCache,
        (topic, situation): (&str, Situation),
        sources: &Sources<'_>,
        build: impl FnOnce() -> Option<R>,
        parts: impl Fn(&R) -> (&SpanSpec, Option<HandlerContext>),
        into_cx: impl FnOnce(T::Span, Option<HandlerContext>) -> Context,
        e2e: impl FnOnce() -> Option<f64>,
    ) -> Option<Started<R>> {
        let start = StartTime::now();
        let template = match cache.entries.get(topic, situation) {
            Some(entry) => entry?,
            None => {
                // First of its kind: the recipe decides, the cache keeps its constant part.
                let recipe = build();
                cache.entries.put(topic, situation, recipe.as_ref().map(|r| Arc::new(Template::of(r, parts(r)))));
                let recipe = recipe?;
                let (spec, handler) = parts(&recipe);
                let cx = into_cx(self.start_span(spec, sources, start), handler);
                return Some(Started { running: Running::new(cx, start), recipe: Some(recipe), kept: None });
            }
        };
        let head = SpanHead {
            name: template.name.clone(),
            kind: template.kind.clone(),
            sampling: template.sampling.clone(),
            parent: template.parent,
            links: &template.links,
        };
        let mut span = self.start_head(head, sources, start);
        let handler = template.handler;
        if !span.is_recording() {
            let kept = self
                .instruments()
                .and_then(|_| R::kept(&template.recipe))
                .map(|recipe| Kept { recipe, e2e_latency_ms: e2e(), metrics: template.metrics.clone() });
            return Some(Started { running: Running::new(into_cx(span, handler), start), recipe: None, kept });
        }
        let recipe = build();
        if let Some(r) = &recipe {
            set_recorded(&mut span, parts(r).0);
        }
        Some(Started { running: Running::new(into_cx(span, handler), start), recipe, kept: None })
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::Value;

    use super::*;
    use crate::otel::convert::key_value;
    use crate::span::AttributeValue;

    #[test]
    fn a_template_gives_every_span_its_name_and_string_values_without_a_copy() {
        let message = MessageInfo { topic: "kt-template-shares", partition: Some(3), payload_len: Some(1), ..MessageInfo::default() };
        let recipe = Lifecycle::default().send(&message).unwrap();
        let template = Template::of(&recipe, (&recipe.span, None));
        assert!(matches!(template.name, Cow::Borrowed("send kt-template-shares")), "{:?}", template.name);
        // The same key-values as the recipe's sampling attributes, in order.
        let expected: Vec<KeyValue> = recipe.span.sampling_attributes().map(key_value).collect();
        assert_eq!(template.sampling, expected);
        let mut strings = 0;
        for kv in &template.sampling {
            if let (Value::String(kept), Value::String(copy)) = (&kv.value, &kv.clone().value) {
                assert_eq!(kept.as_str().as_ptr(), copy.as_str().as_ptr(), "{} copied", kv.key);
                // Kept for the process: every entry with this value shares it.
                assert_eq!(kept.as_str().as_ptr(), kept_key_value(&("k", AttributeValue::String(kept.to_string()))).value.as_str().as_ptr());
                strings += 1;
            }
        }
        // system, operation name and type, destination name, partition id.
        assert_eq!(strings, 5);
    }
}
