//! Recipes: what a binding does when an operation starts.

use crate::carrier::Extracted;
use crate::semconv::{self as sc, metrics as m};
use crate::span::{self, Attribute, ClientInfo, ContextSource, MessageInfo, Options, SpanSpec};

/// The four operations a binding traces.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Lifecycle, Operation, RemoteInfo};
/// use kafka_trace::span::MessageInfo;
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().batch_process(&message, RemoteInfo { valid: true }, 0).unwrap();
/// assert_eq!(recipe.operation, Operation::BatchProcess);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `send {topic}`, PRODUCER.
    Send,
    /// `process {topic}` for one message handed to a per-message handler, CONSUMER.
    Process,
    /// `process {topic}` for one message of a batch handed to a batch handler, CONSUMER.
    BatchProcess,
    /// `poll {topic}`, CLIENT: the receive call.
    Poll,
}

/// What the binding knows about its current (ambient) context.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
/// use kafka_trace::span::{ContextSource, MessageInfo};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// // A handler called inside a span of the application: that span becomes a link.
/// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: true }, 0).unwrap();
/// assert_eq!(recipe.span.links, [ContextSource::Ambient]);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AmbientInfo {
    /// The current context holds a valid span.
    pub has_span: bool,
}

/// What the binding read from the message's headers.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
/// use kafka_trace::span::{ContextSource, MessageInfo};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// // No usable traceparent: the process span continues the ambient context (a root if none).
/// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: false }, AmbientInfo::default(), 0).unwrap();
/// assert_eq!(recipe.parent(), ContextSource::Ambient);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteInfo {
    /// The headers held a usable parent (a valid, unambiguous `traceparent`).
    pub valid: bool,
}

impl RemoteInfo {
    /// From the core's extraction of the headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::extract_parts;
    /// use kafka_trace::lifecycle::RemoteInfo;
    ///
    /// let good: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
    /// assert!(RemoteInfo::of(&extract_parts(&good)).valid);
    /// let bad: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-zz".to_vec())];
    /// assert!(!RemoteInfo::of(&extract_parts(&bad)).valid);
    /// ```
    pub fn of(extracted: &Extracted<'_>) -> Self {
        Self {
            valid: extracted.parent.is_ok(),
        }
    }
}

/// How to build the context the user's handler runs in. Every field is a rule the binding
/// follows, the same in every language: the handler sees the caller's context values, the
/// message's baggage (over the caller's, entry by entry) and the process span as the active span.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{AmbientInfo, HandlerContext, Lifecycle, RemoteInfo};
/// use kafka_trace::span::MessageInfo;
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 0).unwrap();
/// assert_eq!(recipe.handler, HandlerContext { keep_ambient: true, message_baggage: true, keep_remote: true });
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HandlerContext {
    /// Start from the binding's current context, so its values (and baggage) stay visible.
    pub keep_ambient: bool,
    /// Merge the message's baggage into it; a message entry replaces an ambient one of the same key.
    pub message_baggage: bool,
    /// Keep the remote context the core accepted ([`super::KeptRemote`]) in the handler's
    /// context, so a message sent from the handler keeps the random flag and every tracestate
    /// member, whatever the SDK's own rules keep.
    pub keep_remote: bool,
}

/// The one rule for every binding.
const HANDLER_CONTEXT: HandlerContext = HandlerContext {
    keep_ambient: true,
    message_baggage: true,
    keep_remote: true,
};

/// The recipe of a send.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::Lifecycle;
/// use kafka_trace::span::{ClientInfo, MessageInfo, Options};
///
/// let lifecycle = Lifecycle::new(Options::default(), ClientInfo::default().with_bootstrap("kafka:9092"));
/// let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = lifecycle.send(&message).unwrap();
/// assert!(recipe.span.attribute("messaging.kafka.message.key").is_some());
/// // The key is on the span, never on a metric.
/// let keys: Vec<&str> = recipe.metric_attributes.iter().map(|(k, _)| *k).collect();
/// assert_eq!(
///     keys,
///     ["messaging.system", "messaging.operation.name", "messaging.operation.type", "server.address", "server.port", "messaging.destination.name"]
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SendRecipe {
    /// Name, kind, start attributes; the parent is always the ambient context, no links.
    pub span: SpanSpec,
    /// The metric attributes known at the start (the finish adds the acknowledged partition and
    /// `error.type`).
    pub metric_attributes: Vec<Attribute>,
}

/// The recipe of one processed message (alone or inside a batch).
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, Operation, RemoteInfo};
/// use kafka_trace::span::{ClientInfo, MessageInfo, Options, SpanKind};
///
/// let client = ClientInfo { consumer_group: Some("billing".into()), ..ClientInfo::default() };
/// let lifecycle = Lifecycle::new(Options::default(), client);
/// let message = MessageInfo { topic: "orders", partition: Some(1), offset: Some(9), payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = lifecycle.process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 0).unwrap();
/// assert_eq!((recipe.operation, recipe.span.kind), (Operation::Process, SpanKind::Consumer));
/// assert!(recipe.metric_attributes.iter().any(|(k, _)| *k == "messaging.consumer.group.name"));
/// assert!(!recipe.metric_attributes.iter().any(|(k, _)| *k == "messaging.kafka.offset"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRecipe {
    /// [`Operation::Process`] or [`Operation::BatchProcess`].
    pub operation: Operation,
    /// Name, kind, start attributes, parent source and links.
    pub span: SpanSpec,
    /// How to build the handler's context.
    pub handler: HandlerContext,
    /// The metric attributes (the finish adds `error.type`).
    pub metric_attributes: Vec<Attribute>,
}

/// The recipe of a poll.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::Lifecycle;
/// use kafka_trace::span::{AttributeValue, ContextSource};
///
/// let recipe = Lifecycle::default().poll(&["orders", "orders", "orders"], 3).unwrap();
/// assert_eq!((recipe.span.name.as_str(), recipe.span.parent), ("poll orders", ContextSource::Ambient));
/// assert_eq!(recipe.span.attribute("messaging.batch.message_count"), Some(&AttributeValue::Int(3)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PollRecipe {
    /// Name, kind, start attributes; the parent is the ambient context.
    pub span: SpanSpec,
    /// The metric attributes (the finish adds `error.type`).
    pub metric_attributes: Vec<Attribute>,
}

/// Counter or histogram.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{InstrumentKind, INSTRUMENTS};
///
/// let counters = INSTRUMENTS.iter().filter(|i| i.kind() == InstrumentKind::Counter).count();
/// assert_eq!(counters, 2);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// A monotonic counter of messages.
    Counter,
    /// A histogram of seconds.
    Histogram,
}

/// The metric instruments of the conventions, plus our end-to-end latency.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Instrument, InstrumentKind};
///
/// let i = Instrument::ProcessDuration;
/// assert_eq!((i.name(), i.kind(), i.unit()), ("messaging.process.duration", InstrumentKind::Histogram, "s"));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// `messaging.client.operation.duration`: send (until acknowledged) and poll (receive).
    OperationDuration,
    /// `messaging.client.sent.messages`.
    SentMessages,
    /// `messaging.client.consumed.messages`: one per message handed to the application.
    ConsumedMessages,
    /// `messaging.process.duration`: the handler of one message.
    ProcessDuration,
    /// `kafka_trace.e2e.latency`: record timestamp to the start of processing.
    E2eLatency,
}

/// Every instrument, for bindings that create them up front.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::INSTRUMENTS;
///
/// let names: Vec<&str> = INSTRUMENTS.iter().map(|i| i.name()).collect();
/// assert_eq!(
///     names,
///     [
///         "messaging.client.operation.duration",
///         "messaging.client.sent.messages",
///         "messaging.client.consumed.messages",
///         "messaging.process.duration",
///         "kafka_trace.e2e.latency",
///     ]
/// );
/// ```
pub const INSTRUMENTS: [Instrument; 5] = [
    Instrument::OperationDuration,
    Instrument::SentMessages,
    Instrument::ConsumedMessages,
    Instrument::ProcessDuration,
    Instrument::E2eLatency,
];

impl Instrument {
    /// The metric name.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Instrument;
    ///
    /// assert_eq!(Instrument::E2eLatency.name(), "kafka_trace.e2e.latency");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::OperationDuration => m::CLIENT_OPERATION_DURATION,
            Self::SentMessages => m::CLIENT_SENT_MESSAGES,
            Self::ConsumedMessages => m::CLIENT_CONSUMED_MESSAGES,
            Self::ProcessDuration => m::PROCESS_DURATION,
            Self::E2eLatency => m::E2E_LATENCY,
        }
    }

    /// Counter or histogram.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{Instrument, InstrumentKind};
    ///
    /// assert_eq!(Instrument::SentMessages.kind(), InstrumentKind::Counter);
    /// assert_eq!(Instrument::OperationDuration.kind(), InstrumentKind::Histogram);
    /// ```
    pub fn kind(self) -> InstrumentKind {
        match self {
            Self::SentMessages | Self::ConsumedMessages => InstrumentKind::Counter,
            _ => InstrumentKind::Histogram,
        }
    }

    /// The unit (`s` or `{message}`).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Instrument;
    ///
    /// assert_eq!(Instrument::ConsumedMessages.unit(), "{message}");
    /// assert_eq!(Instrument::E2eLatency.unit(), "s");
    /// ```
    pub fn unit(self) -> &'static str {
        match self.kind() {
            InstrumentKind::Counter => m::UNIT_MESSAGES,
            InstrumentKind::Histogram => m::UNIT_SECONDS,
        }
    }

    /// The description.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Instrument;
    ///
    /// assert_eq!(Instrument::SentMessages.description(), "Messages the producer sent");
    /// ```
    pub fn description(self) -> &'static str {
        match self {
            Self::OperationDuration => {
                "Duration of send (until acknowledged) and poll (receive) operations"
            }
            Self::SentMessages => "Messages the producer sent",
            Self::ConsumedMessages => "Messages handed to the application",
            Self::ProcessDuration => "Duration of the handler of one message",
            Self::E2eLatency => "Record timestamp to the start of processing",
        }
    }
}

/// One value to record on one instrument.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Instrument, Lifecycle, PollResult};
///
/// let recipe = Lifecycle::default().poll(&["orders"], 5).unwrap();
/// let finish = recipe.finish(PollResult::Received, Duration::from_millis(250));
/// let record = &finish.metrics[0];
/// assert_eq!((record.instrument, record.value), (Instrument::OperationDuration, 0.25));
/// assert_eq!(record.attributes, recipe.metric_attributes);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRecord {
    /// Which instrument.
    pub instrument: Instrument,
    /// Seconds for histograms, a count for counters.
    pub value: f64,
    /// The attribute set: only keys of [`METRIC_ATTRIBUTE_KEYS`].
    pub attributes: Vec<Attribute>,
}

/// The only keys a metric ever carries: bounded by construction (never an offset, a key or a
/// message id, so a metrics backend sees a handful of series per instrument, not one per message).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, SendResult, METRIC_ATTRIBUTE_KEYS};
/// use kafka_trace::span::{ClientInfo, MessageInfo, Options};
///
/// let client = ClientInfo { client_id: Some("c-1".into()), ..ClientInfo::default() };
/// let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::new(Options::default(), client).send(&message).unwrap();
/// let finish = recipe.finish(SendResult::Acked { partition: 2, offset: 7 }, Duration::ZERO, None);
/// for record in &finish.metrics {
///     assert!(record.attributes.iter().all(|(k, _)| METRIC_ATTRIBUTE_KEYS.contains(k)));
/// }
/// ```
pub const METRIC_ATTRIBUTE_KEYS: [&str; 9] = [
    sc::MESSAGING_SYSTEM,
    sc::MESSAGING_OPERATION_NAME,
    sc::MESSAGING_OPERATION_TYPE,
    sc::MESSAGING_DESTINATION_NAME,
    sc::MESSAGING_DESTINATION_PARTITION_ID,
    sc::MESSAGING_CONSUMER_GROUP_NAME,
    sc::SERVER_ADDRESS,
    sc::SERVER_PORT,
    sc::ERROR_TYPE,
];

pub(super) fn metric_subset(attributes: &[Attribute]) -> Vec<Attribute> {
    attributes
        .iter()
        .filter(|(k, _)| METRIC_ATTRIBUTE_KEYS.contains(k))
        .cloned()
        .collect()
}

/// One client's lifecycle: its options and what it is connected to.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::Lifecycle;
/// use kafka_trace::span::{ClientInfo, MessageInfo, Options, TopicFilter};
///
/// let options = Options { topics: TopicFilter { exclude: vec!["audit.*".into()], ..TopicFilter::default() }, ..Options::default() };
/// let lifecycle = Lifecycle::new(options, ClientInfo::default());
/// let audit = MessageInfo { topic: "audit.login", payload_len: Some(1), ..MessageInfo::default() };
/// assert!(lifecycle.send(&audit).is_none()); // no span, no header, no metric
/// let orders = MessageInfo { topic: "orders", ..audit };
/// assert_eq!(lifecycle.send(&orders).unwrap().span.name, "send orders");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifecycle {
    options: Options,
    client: ClientInfo,
}

impl Lifecycle {
    /// A lifecycle for a client with `options`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::span::{ClientInfo, Options, Strategy};
    ///
    /// let options = Options { strategy: Strategy::Link, ..Options::default() };
    /// let client = ClientInfo { client_id: Some("orders-api".into()), ..ClientInfo::default() };
    /// let lifecycle = Lifecycle::new(options, client);
    /// assert_eq!(lifecycle.options().strategy, Strategy::Link);
    /// ```
    pub fn new(options: Options, client: ClientInfo) -> Self {
        Self { options, client }
    }

    /// The options.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::span::Options;
    ///
    /// assert_eq!(Lifecycle::default().options(), &Options::default());
    /// ```
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The client.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::span::{ClientInfo, Options};
    ///
    /// let lifecycle = Lifecycle::new(Options::default(), ClientInfo::default().with_bootstrap("kafka:9093"));
    /// assert_eq!(lifecycle.client().server_port, Some(9093));
    /// ```
    pub fn client(&self) -> &ClientInfo {
        &self.client
    }

    /// Whether `topic` is traced at all (a filtered topic gets no span, no header and no metric).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::span::{ClientInfo, Options, TopicFilter};
    ///
    /// let options = Options { topics: TopicFilter { include: vec!["orders*".into()], ..TopicFilter::default() }, ..Options::default() };
    /// let lifecycle = Lifecycle::new(options, ClientInfo::default());
    /// assert!(lifecycle.allows("orders-eu"));
    /// assert!(!lifecycle.allows("payments"));
    /// ```
    pub fn allows(&self, topic: &str) -> bool {
        self.options.topics.allows(topic)
    }

    /// The recipe of a send, or `None` when the topic is not traced.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    /// use kafka_trace::span::{ContextSource, MessageInfo, SpanKind};
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// assert_eq!((recipe.span.kind, recipe.span.parent), (SpanKind::Producer, ContextSource::Ambient));
    /// assert!(recipe.span.links.is_empty());
    /// ```
    pub fn send(&self, message: &MessageInfo<'_>) -> Option<SendRecipe> {
        if !self.allows(message.topic) {
            return None;
        }
        let span = span::send_span(message, &self.client, &self.options);
        let metric_attributes = metric_subset(&span.attributes);
        Some(SendRecipe {
            span,
            metric_attributes,
        })
    }

    /// The recipe of one message handed to a per-message handler, or `None` when the topic is
    /// not traced. `now_ms` is [`span::now_ms`] (a parameter so tests and vectors are exact).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
    /// use kafka_trace::span::{AttributeValue, ContextSource, MessageInfo};
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), timestamp_ms: Some(10_000), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: false }, 10_040).unwrap();
    /// assert_eq!((recipe.parent(), recipe.span.links.len()), (ContextSource::Remote, 0));
    /// assert_eq!(recipe.span.attribute("kafka_trace.e2e_latency_ms"), Some(&AttributeValue::Double(40.0)));
    /// ```
    pub fn process(
        &self,
        message: &MessageInfo<'_>,
        remote: RemoteInfo,
        ambient: AmbientInfo,
        now_ms: i64,
    ) -> Option<ProcessRecipe> {
        if !self.allows(message.topic) {
            return None;
        }
        let span = span::process_span(
            message,
            &self.client,
            &self.options,
            remote.valid,
            ambient.has_span,
            now_ms,
        );
        Some(self.process_recipe(Operation::Process, span))
    }

    /// The recipe of one message of a batch; its poll span is [`ContextSource::Poll`] (the
    /// binding passes the poll span it started from [`Lifecycle::poll`], or the ambient span
    /// when the client has no receive call of its own to trace).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{Lifecycle, RemoteInfo};
    /// use kafka_trace::span::{ContextSource, MessageInfo};
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let lifecycle = Lifecycle::default();
    /// let traced = lifecycle.batch_process(&message, RemoteInfo { valid: true }, 0).unwrap();
    /// assert_eq!((traced.parent(), traced.span.links), (ContextSource::Remote, vec![ContextSource::Poll]));
    /// let untraced = lifecycle.batch_process(&message, RemoteInfo { valid: false }, 0).unwrap();
    /// assert_eq!((untraced.parent(), untraced.span.links), (ContextSource::Poll, vec![]));
    /// ```
    pub fn batch_process(
        &self,
        message: &MessageInfo<'_>,
        remote: RemoteInfo,
        now_ms: i64,
    ) -> Option<ProcessRecipe> {
        if !self.allows(message.topic) {
            return None;
        }
        let span =
            span::batch_process_span(message, &self.client, &self.options, remote.valid, now_ms);
        Some(self.process_recipe(Operation::BatchProcess, span))
    }

    fn process_recipe(&self, operation: Operation, span: SpanSpec) -> ProcessRecipe {
        let metric_attributes = metric_subset(&span.attributes);
        ProcessRecipe {
            operation,
            span,
            handler: HANDLER_CONTEXT,
            metric_attributes,
        }
    }

    /// The recipe of a receive call that returned `message_count` messages from `topics` (one
    /// entry per message or per topic; the name carries the topic when there is only one), or
    /// `None` when none of the topics is traced or the call returned nothing: an idle consumer
    /// polls in a loop, and a span per empty receive would bury the traces that matter. The
    /// binding asks after the call returned and starts the span at the call's start time.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::Lifecycle;
    ///
    /// let lifecycle = Lifecycle::default();
    /// assert!(lifecycle.poll(&["orders"], 0).is_none()); // an empty receive: no span
    /// assert_eq!(lifecycle.poll(&["orders", "payments"], 2).unwrap().span.name, "poll");
    /// ```
    pub fn poll(&self, topics: &[&str], message_count: usize) -> Option<PollRecipe> {
        if message_count == 0 {
            return None;
        }
        self.poll_recipe(topics, message_count)
    }

    /// The recipe of a receive call that failed (traced even when it returned nothing), or `None`
    /// when none of `topics` (the subscription, when the binding knows it) is traced.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, PollResult, Status};
    /// use kafka_trace::span::AttributeValue;
    ///
    /// let recipe = Lifecycle::default().poll_failed(&["orders"]).unwrap();
    /// assert_eq!(recipe.span.attribute("messaging.batch.message_count"), Some(&AttributeValue::Int(0)));
    /// let finish = recipe.finish(PollResult::Failed { error_type: "BrokerTransportFailure" }, Duration::from_millis(5));
    /// assert_eq!(finish.status, Status::Error("BrokerTransportFailure".into()));
    /// ```
    pub fn poll_failed(&self, topics: &[&str]) -> Option<PollRecipe> {
        self.poll_recipe(topics, 0)
    }

    fn poll_recipe(&self, topics: &[&str], message_count: usize) -> Option<PollRecipe> {
        let traced: Vec<&str> = topics.iter().copied().filter(|t| self.allows(t)).collect();
        if !topics.is_empty() && traced.is_empty() {
            return None;
        }
        let span = span::poll_span(&traced, message_count, &self.client);
        let metric_attributes = metric_subset(&span.attributes);
        Some(PollRecipe {
            span,
            metric_attributes,
        })
    }
}

impl ProcessRecipe {
    /// Where the span's parent comes from.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
    /// use kafka_trace::span::{ClientInfo, ContextSource, MessageInfo, Options, Strategy};
    ///
    /// let link = Lifecycle::new(Options { strategy: Strategy::Link, ..Options::default() }, ClientInfo::default());
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = link.process(&message, RemoteInfo { valid: true }, AmbientInfo { has_span: true }, 0).unwrap();
    /// assert_eq!(recipe.parent(), ContextSource::Ambient);
    /// assert_eq!(recipe.span.links, [ContextSource::Remote]);
    /// ```
    pub fn parent(&self) -> ContextSource {
        self.span.parent
    }
}
