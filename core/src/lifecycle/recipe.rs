//! Recipes: what a binding does when an operation starts.

use crate::carrier::Extracted;
use crate::semconv::{self as sc, metrics as m};
use crate::span::{self, Attribute, ClientInfo, ContextSource, MessageInfo, Options, SpanSpec};

/// The four operations a binding traces.
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
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AmbientInfo {
    /// The current context holds a valid span.
    pub has_span: bool,
}

/// What the binding read from the message's headers.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteInfo {
    /// The headers held a usable parent (a valid, unambiguous `traceparent`).
    pub valid: bool,
}

impl RemoteInfo {
    /// From the core's extraction of the headers.
    pub fn of(extracted: &Extracted<'_>) -> Self {
        Self {
            valid: extracted.parent.is_ok(),
        }
    }
}

/// How to build the context the user's handler runs in. Every field is a rule the binding
/// follows, the same in every language: the handler sees the caller's context values, the
/// message's baggage (over the caller's, entry by entry) and the process span as the active span.
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
#[derive(Clone, Debug, PartialEq)]
pub struct SendRecipe {
    /// Name, kind, start attributes; the parent is always the ambient context, no links.
    pub span: SpanSpec,
    /// The metric attributes known at the start (the finish adds the acknowledged partition and
    /// `error.type`).
    pub metric_attributes: Vec<Attribute>,
}

/// The recipe of one processed message (alone or inside a batch).
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
#[derive(Clone, Debug, PartialEq)]
pub struct PollRecipe {
    /// Name, kind, start attributes; the parent is the ambient context.
    pub span: SpanSpec,
    /// The metric attributes (the finish adds `error.type`).
    pub metric_attributes: Vec<Attribute>,
}

/// Counter or histogram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// A monotonic counter of messages.
    Counter,
    /// A histogram of seconds.
    Histogram,
}

/// The metric instruments of the conventions, plus our end-to-end latency.
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
pub const INSTRUMENTS: [Instrument; 5] = [
    Instrument::OperationDuration,
    Instrument::SentMessages,
    Instrument::ConsumedMessages,
    Instrument::ProcessDuration,
    Instrument::E2eLatency,
];

impl Instrument {
    /// The metric name.
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
    pub fn kind(self) -> InstrumentKind {
        match self {
            Self::SentMessages | Self::ConsumedMessages => InstrumentKind::Counter,
            _ => InstrumentKind::Histogram,
        }
    }

    /// The unit (`s` or `{message}`).
    pub fn unit(self) -> &'static str {
        match self.kind() {
            InstrumentKind::Counter => m::UNIT_MESSAGES,
            InstrumentKind::Histogram => m::UNIT_SECONDS,
        }
    }

    /// The description.
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifecycle {
    options: Options,
    client: ClientInfo,
}

impl Lifecycle {
    /// A lifecycle for a client with `options`.
    pub fn new(options: Options, client: ClientInfo) -> Self {
        Self { options, client }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The client.
    pub fn client(&self) -> &ClientInfo {
        &self.client
    }

    /// Whether `topic` is traced at all (a filtered topic gets no span, no header and no metric).
    pub fn allows(&self, topic: &str) -> bool {
        self.options.topics.allows(topic)
    }

    /// The recipe of a send, or `None` when the topic is not traced.
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
    pub fn poll(&self, topics: &[&str], message_count: usize) -> Option<PollRecipe> {
        if message_count == 0 {
            return None;
        }
        self.poll_recipe(topics, message_count)
    }

    /// The recipe of a receive call that failed (traced even when it returned nothing), or `None`
    /// when none of `topics` (the subscription, when the binding knows it) is traced.
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
    pub fn parent(&self) -> ContextSource {
        self.span.parent
    }
}
