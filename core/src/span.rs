//! The producer/consumer span model of the OpenTelemetry messaging conventions for Kafka,
//! independent of any tracing SDK.
//!
//! Each function returns a [`SpanSpec`]: name, kind, attributes, where the parent comes from and
//! which contexts become links. A binding turns the spec into a span of its own SDK (Rust
//! `opentelemetry`, `@opentelemetry/api`, Python `opentelemetry-api`, or the C ABI's tracer) and
//! never decides any of these itself.

use crate::semconv::{self as sc, operation};

/// Kind of the span, as in OpenTelemetry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// `send {topic}`.
    Producer,
    /// `process {topic}`.
    Consumer,
    /// `poll {topic}`.
    Client,
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// Text.
    String(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Floating point.
    Double(f64),
}

/// One attribute: a key from [`crate::semconv`] and its value.
pub type Attribute = (&'static str, AttributeValue);

/// How a consumer span relates to the context the producer injected.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// The producer's context is the parent, so backends show one trace; an ambient span
    /// (e.g. a surrounding poll or request) becomes a link.
    #[default]
    Parent,
    /// Semconv-strict: the ambient context is the parent and the producer's context a link.
    Link,
}

impl Strategy {
    /// Parses `parent` or `link` (as given in configuration).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "parent" => Some(Self::Parent),
            "link" => Some(Self::Link),
            _ => None,
        }
    }
}

/// Where a new span's parent comes from; the binding resolves it in its own SDK.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContextSource {
    /// The binding's current context (may hold no span, which makes a root).
    Ambient,
    /// The context extracted from the message's headers.
    Remote,
    /// The `poll` span of the batch the message came in.
    Poll,
}

/// Which topics are traced: exact names or `*` wildcards; an empty include list means all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Only these topics, when not empty.
    pub include: Vec<String>,
    /// Never these topics (wins over include).
    pub exclude: Vec<String>,
}

impl TopicFilter {
    /// Whether spans are made for `topic`.
    pub fn allows(&self, topic: &str) -> bool {
        let matches = |patterns: &[String]| patterns.iter().any(|p| glob_match(p.as_bytes(), topic.as_bytes()));
        !matches(&self.exclude) && (self.include.is_empty() || matches(&self.include))
    }
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.iter().position(|&b| b == b'*') {
        None => pattern == text,
        Some(star) => {
            let (prefix, rest) = (&pattern[..star], &pattern[star + 1..]);
            text.starts_with(prefix) && (prefix.len()..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
    }
}

/// Options shared by every binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Parent or link, for single messages and inside batches.
    pub strategy: Strategy,
    /// Record `messaging.kafka.message.key` (only ever for UTF-8 keys).
    pub record_message_key: bool,
    /// Record `messaging.message.body.size` (opt-in in the conventions).
    pub record_body_size: bool,
    /// Which topics are traced.
    pub topics: TopicFilter,
}

impl Default for Options {
    fn default() -> Self {
        Self { strategy: Strategy::Parent, record_message_key: true, record_body_size: false, topics: TopicFilter::default() }
    }
}

/// The client a span belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `client.id`.
    pub client_id: Option<String>,
    /// `group.id` (consumers).
    pub consumer_group: Option<String>,
    /// Host of the first bootstrap server.
    pub server_address: Option<String>,
    /// Port of the first bootstrap server.
    pub server_port: Option<u16>,
}

impl ClientInfo {
    /// Takes `server.address`/`server.port` from the first entry of a `bootstrap.servers` list
    /// (`host:port`, `[v6]:port`, or a bare host; an optional `SCHEME://` prefix is ignored).
    pub fn with_bootstrap(mut self, servers: &str) -> Self {
        let first = servers.split(',').map(str::trim).find(|s| !s.is_empty()).unwrap_or("");
        let first = first.split_once("://").map_or(first, |(_, rest)| rest);
        let (host, port) = match first.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')) => {
                (host, port.parse().ok())
            }
            _ => (first, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.server_address = (!host.is_empty()).then(|| host.to_owned());
        self.server_port = port;
        self
    }
}

/// What the span model needs to know about one message.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition, when known (a producer often learns it only on delivery).
    pub partition: Option<i32>,
    /// Offset, when known.
    pub offset: Option<i64>,
    /// The raw key.
    pub key: Option<&'a [u8]>,
    /// Payload length; `None` for a tombstone (null value).
    pub payload_len: Option<usize>,
    /// Record timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// Everything a binding needs to start one span.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanSpec {
    /// `send orders`, `process orders`, `poll orders`.
    pub name: String,
    /// Producer, consumer or client.
    pub kind: SpanKind,
    /// Attributes known when the span starts.
    pub attributes: Vec<Attribute>,
    /// Where the parent comes from.
    pub parent: ContextSource,
    /// Contexts to link to (never the parent itself).
    pub links: Vec<ContextSource>,
    /// End-to-end latency of a consumed message, also recorded as a histogram.
    pub e2e_latency_ms: Option<f64>,
}

impl SpanSpec {
    /// The value of attribute `key`, if set.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The low-cardinality subset of the attributes that metrics carry.
    pub fn metric_attributes(&self) -> Vec<Attribute> {
        const METRIC_KEYS: [&str; 6] = [
            sc::MESSAGING_SYSTEM,
            sc::MESSAGING_OPERATION_NAME,
            sc::MESSAGING_DESTINATION_NAME,
            sc::MESSAGING_DESTINATION_PARTITION_ID,
            sc::MESSAGING_CONSUMER_GROUP_NAME,
            sc::ERROR_TYPE,
        ];
        self.attributes.iter().filter(|(k, _)| METRIC_KEYS.contains(k)).cloned().collect()
    }
}

/// How a send or process ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Attributes to add before ending the span.
    pub attributes: Vec<Attribute>,
    /// `Some(description)` when the span's status must be Error.
    pub error: Option<String>,
}

fn str_attr(key: &'static str, value: &str) -> Attribute {
    (key, AttributeValue::String(value.to_owned()))
}

fn common(operation_name: &str, operation_type: &str, client: &ClientInfo) -> Vec<Attribute> {
    let mut attrs = Vec::with_capacity(14);
    attrs.push(str_attr(sc::MESSAGING_SYSTEM, sc::SYSTEM_KAFKA));
    attrs.push(str_attr(sc::MESSAGING_OPERATION_NAME, operation_name));
    attrs.push(str_attr(sc::MESSAGING_OPERATION_TYPE, operation_type));
    if let Some(id) = &client.client_id {
        attrs.push(str_attr(sc::MESSAGING_CLIENT_ID, id));
    }
    if let Some(address) = &client.server_address {
        attrs.push(str_attr(sc::SERVER_ADDRESS, address));
    }
    if let Some(port) = client.server_port {
        attrs.push((sc::SERVER_PORT, AttributeValue::Int(port.into())));
    }
    attrs
}

fn message_attributes(attrs: &mut Vec<Attribute>, message: &MessageInfo<'_>, options: &Options) {
    attrs.push(str_attr(sc::MESSAGING_DESTINATION_NAME, message.topic));
    if let Some(partition) = message.partition.filter(|p| *p >= 0) {
        attrs.push((sc::MESSAGING_DESTINATION_PARTITION_ID, AttributeValue::String(partition.to_string())));
    }
    if let Some(offset) = message.offset.filter(|o| *o >= 0) {
        attrs.push((sc::MESSAGING_KAFKA_OFFSET, AttributeValue::Int(offset)));
    }
    if options.record_message_key {
        // Binary keys are common (Avro, ids); the conventions only allow a readable string.
        if let Some(key) = message.key.and_then(|k| core::str::from_utf8(k).ok()) {
            attrs.push(str_attr(sc::MESSAGING_KAFKA_MESSAGE_KEY, key));
        }
    }
    match message.payload_len {
        None => attrs.push((sc::MESSAGING_KAFKA_MESSAGE_TOMBSTONE, AttributeValue::Bool(true))),
        Some(len) if options.record_body_size => {
            attrs.push((sc::MESSAGING_MESSAGE_BODY_SIZE, AttributeValue::Int(i64::try_from(len).unwrap_or(i64::MAX))))
        }
        Some(_) => {}
    }
}

/// Milliseconds since the Unix epoch: the clock [`e2e_latency_ms`] compares record timestamps with.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Record timestamp to `now_ms`, clamped at 0 (clocks of producer and consumer hosts differ).
pub fn e2e_latency_ms(timestamp_ms: Option<i64>, now_ms: i64) -> Option<f64> {
    timestamp_ms.filter(|t| *t > 0).map(|t| now_ms.saturating_sub(t).max(0) as f64)
}

/// The `send {topic}` PRODUCER span, a child of the ambient context. Its context is what the
/// producer injects into the message.
pub fn send_span(message: &MessageInfo<'_>, client: &ClientInfo, options: &Options) -> SpanSpec {
    let mut attributes = common(operation::SEND, operation::SEND, client);
    message_attributes(&mut attributes, message, options);
    SpanSpec {
        name: format!("{} {}", operation::SEND, message.topic),
        kind: SpanKind::Producer,
        attributes,
        parent: ContextSource::Ambient,
        links: Vec::new(),
        e2e_latency_ms: None,
    }
}

/// The attributes and status of a finished send: partition and offset from the broker's ack,
/// or the error class.
pub fn send_outcome(result: Result<(i32, i64), &str>) -> Outcome {
    match result {
        Ok((partition, offset)) => {
            let mut attributes = vec![(sc::MESSAGING_DESTINATION_PARTITION_ID, AttributeValue::String(partition.to_string()))];
            if offset >= 0 {
                attributes.push((sc::MESSAGING_KAFKA_OFFSET, AttributeValue::Int(offset)));
            }
            Outcome { attributes, error: None }
        }
        Err(error_type) => error_outcome(error_type),
    }
}

/// The attributes and status of an operation that failed with `error_type` (e.g. a librdkafka
/// error name or an exception class).
pub fn error_outcome(error_type: &str) -> Outcome {
    let error_type = if error_type.is_empty() { "_OTHER" } else { error_type };
    Outcome { attributes: vec![str_attr(sc::ERROR_TYPE, error_type)], error: Some(error_type.to_owned()) }
}

/// The `process {topic}` CONSUMER span for one message, covering the user's handler.
/// `remote_valid` says whether the headers held a usable context, `ambient_valid` whether the
/// binding's current context holds a span.
pub fn process_span(
    message: &MessageInfo<'_>,
    client: &ClientInfo,
    options: &Options,
    remote_valid: bool,
    ambient_valid: bool,
    now_ms: i64,
) -> SpanSpec {
    let (parent, links) = match (options.strategy, remote_valid) {
        (Strategy::Parent, true) => (ContextSource::Remote, if ambient_valid { vec![ContextSource::Ambient] } else { Vec::new() }),
        (Strategy::Parent, false) => (ContextSource::Ambient, Vec::new()),
        (Strategy::Link, true) => (ContextSource::Ambient, vec![ContextSource::Remote]),
        (Strategy::Link, false) => (ContextSource::Ambient, Vec::new()),
    };
    consumer_span(message, client, options, parent, links, now_ms)
}

/// The `process {topic}` span of one message inside a batch: its own producer context is the
/// parent and the batch's poll span a link (strategy `parent`), or the reverse (strategy `link`).
/// A message without a usable context hangs under the poll span.
pub fn batch_process_span(message: &MessageInfo<'_>, client: &ClientInfo, options: &Options, remote_valid: bool, now_ms: i64) -> SpanSpec {
    let (parent, links) = match (options.strategy, remote_valid) {
        (Strategy::Parent, true) => (ContextSource::Remote, vec![ContextSource::Poll]),
        (Strategy::Link, true) => (ContextSource::Poll, vec![ContextSource::Remote]),
        (_, false) => (ContextSource::Poll, Vec::new()),
    };
    consumer_span(message, client, options, parent, links, now_ms)
}

fn consumer_span(
    message: &MessageInfo<'_>,
    client: &ClientInfo,
    options: &Options,
    parent: ContextSource,
    links: Vec<ContextSource>,
    now_ms: i64,
) -> SpanSpec {
    let mut attributes = common(operation::PROCESS, operation::PROCESS, client);
    message_attributes(&mut attributes, message, options);
    if let Some(group) = &client.consumer_group {
        attributes.push(str_attr(sc::MESSAGING_CONSUMER_GROUP_NAME, group));
    }
    let e2e_latency_ms = e2e_latency_ms(message.timestamp_ms, now_ms);
    if let Some(latency) = e2e_latency_ms {
        attributes.push((sc::KAFKA_TRACE_E2E_LATENCY_MS, AttributeValue::Double(latency)));
    }
    SpanSpec {
        name: format!("{} {}", operation::PROCESS, message.topic),
        kind: SpanKind::Consumer,
        attributes,
        parent,
        links,
        e2e_latency_ms,
    }
}

/// The `poll {topic}` CLIENT span around a batch receive (`poll` alone when the batch spans
/// several topics), a child of the ambient context.
pub fn poll_span(topics: &[&str], message_count: usize, client: &ClientInfo) -> SpanSpec {
    let mut attributes = common(operation::POLL, operation::TYPE_RECEIVE, client);
    let first = topics.first().copied();
    let single_topic = first.filter(|t| topics.iter().all(|o| o == t));
    if let Some(topic) = single_topic {
        attributes.push(str_attr(sc::MESSAGING_DESTINATION_NAME, topic));
    }
    attributes.push((sc::MESSAGING_BATCH_MESSAGE_COUNT, AttributeValue::Int(i64::try_from(message_count).unwrap_or(i64::MAX))));
    if let Some(group) = &client.consumer_group {
        attributes.push(str_attr(sc::MESSAGING_CONSUMER_GROUP_NAME, group));
    }
    SpanSpec {
        name: match single_topic {
            Some(topic) => format!("{} {topic}", operation::POLL),
            None => operation::POLL.to_owned(),
        },
        kind: SpanKind::Client,
        attributes,
        parent: ContextSource::Ambient,
        links: Vec::new(),
        e2e_latency_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> MessageInfo<'static> {
        MessageInfo { topic: "orders", partition: Some(2), offset: Some(42), key: Some(b"k-1"), payload_len: Some(10), timestamp_ms: Some(1_000) }
    }

    fn client() -> ClientInfo {
        ClientInfo { client_id: Some("svc".into()), consumer_group: Some("billing".into()), ..Default::default() }.with_bootstrap("PLAINTEXT://broker-1:9093,broker-2:9092")
    }

    #[test]
    fn process_span_has_every_attribute() {
        let spec = process_span(&message(), &client(), &Options::default(), true, false, 1_250);
        assert_eq!(spec.name, "process orders");
        assert_eq!(spec.kind, SpanKind::Consumer);
        let s = |v: &str| AttributeValue::String(v.into());
        assert_eq!(
            spec.attributes,
            vec![
                ("messaging.system", s("kafka")),
                ("messaging.operation.name", s("process")),
                ("messaging.operation.type", s("process")),
                ("messaging.client.id", s("svc")),
                ("server.address", s("broker-1")),
                ("server.port", AttributeValue::Int(9093)),
                ("messaging.destination.name", s("orders")),
                ("messaging.destination.partition.id", s("2")),
                ("messaging.kafka.offset", AttributeValue::Int(42)),
                ("messaging.kafka.message.key", s("k-1")),
                ("messaging.consumer.group.name", s("billing")),
                ("kafka_trace.e2e_latency_ms", AttributeValue::Double(250.0)),
            ]
        );
    }

    #[test]
    fn strategies_choose_parent_and_links() {
        let table = [
            (Strategy::Parent, true, true, ContextSource::Remote, vec![ContextSource::Ambient]),
            (Strategy::Parent, true, false, ContextSource::Remote, vec![]),
            (Strategy::Parent, false, true, ContextSource::Ambient, vec![]),
            (Strategy::Link, true, true, ContextSource::Ambient, vec![ContextSource::Remote]),
            (Strategy::Link, false, false, ContextSource::Ambient, vec![]),
        ];
        for (strategy, remote, ambient, parent, links) in table {
            let options = Options { strategy, ..Options::default() };
            let spec = process_span(&message(), &client(), &options, remote, ambient, 0);
            assert_eq!((spec.parent, spec.links), (parent, links), "{strategy:?} remote={remote} ambient={ambient}");
        }
        let batch = batch_process_span(&message(), &client(), &Options::default(), true, 0);
        assert_eq!((batch.parent, batch.links), (ContextSource::Remote, vec![ContextSource::Poll]));
        let orphan = batch_process_span(&message(), &client(), &Options::default(), false, 0);
        assert_eq!((orphan.parent, orphan.links), (ContextSource::Poll, vec![]));
    }

    #[test]
    fn binary_keys_tombstones_and_clock_skew() {
        let m = MessageInfo { key: Some(b"\xff\x00"), payload_len: None, timestamp_ms: Some(5_000), ..message() };
        let spec = process_span(&m, &ClientInfo::default(), &Options::default(), false, false, 4_000);
        assert_eq!(spec.attribute(sc::MESSAGING_KAFKA_MESSAGE_KEY), None);
        assert_eq!(spec.attribute(sc::MESSAGING_KAFKA_MESSAGE_TOMBSTONE), Some(&AttributeValue::Bool(true)));
        assert_eq!(spec.e2e_latency_ms, Some(0.0));
        let no_key = Options { record_message_key: false, ..Options::default() };
        assert_eq!(send_span(&message(), &ClientInfo::default(), &no_key).attribute(sc::MESSAGING_KAFKA_MESSAGE_KEY), None);
    }

    #[test]
    fn poll_names_and_outcomes() {
        assert_eq!(poll_span(&["a", "a"], 2, &client()).name, "poll a");
        let mixed = poll_span(&["a", "b"], 2, &client());
        assert_eq!(mixed.name, "poll");
        assert_eq!(mixed.attribute(sc::MESSAGING_DESTINATION_NAME), None);
        assert_eq!(mixed.attribute(sc::MESSAGING_BATCH_MESSAGE_COUNT), Some(&AttributeValue::Int(2)));
        let failed = send_outcome(Err("MsgTimedOut"));
        assert_eq!(failed.error.as_deref(), Some("MsgTimedOut"));
        assert_eq!(failed.attributes, vec![(sc::ERROR_TYPE, AttributeValue::String("MsgTimedOut".into()))]);
    }

    #[test]
    fn topic_filter_globs() {
        let f = TopicFilter { include: vec!["orders.*".into(), "audit".into()], exclude: vec!["*.dlq".into()] };
        assert!(f.allows("orders.eu"));
        assert!(f.allows("audit"));
        assert!(!f.allows("orders.eu.dlq"));
        assert!(!f.allows("payments"));
        assert!(TopicFilter::default().allows("anything"));
    }

    #[test]
    fn bootstrap_parsing() {
        let c = ClientInfo::default().with_bootstrap("[::1]:9092");
        assert_eq!((c.server_address.as_deref(), c.server_port), (Some("::1"), Some(9092)));
        let c = ClientInfo::default().with_bootstrap("kafka");
        assert_eq!((c.server_address.as_deref(), c.server_port), (Some("kafka"), None));
    }
}
