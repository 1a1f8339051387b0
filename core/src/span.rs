//! The producer/consumer span model of the OpenTelemetry messaging conventions for Kafka,
//! independent of any tracing SDK.
//!
//! Each function returns a [`SpanSpec`]: name, kind, attributes, where the parent comes from and
//! which contexts become links. A binding turns the spec into a span of its own SDK (Rust
//! `opentelemetry`, `@opentelemetry/api`, Python `opentelemetry-api`, or the C ABI's tracer) and
//! never decides any of these itself.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::span::{send_span, AttributeValue, ClientInfo, ContextSource, MessageInfo, Options, SpanKind};
//!
//! let client = ClientInfo { client_id: Some("orders-api".into()), ..ClientInfo::default() }.with_bootstrap("broker-1:9092,broker-2:9092");
//! let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(2), ..MessageInfo::default() };
//! let spec = send_span(&message, &client, &Options::default());
//! assert_eq!((spec.name.as_str(), spec.kind, spec.parent), ("send orders", SpanKind::Producer, ContextSource::Ambient));
//! let keys: Vec<&str> = spec.attributes.iter().map(|(k, _)| *k).collect();
//! assert_eq!(
//!     keys,
//!     [
//!         "messaging.system",
//!         "messaging.operation.name",
//!         "messaging.operation.type",
//!         "messaging.client.id",
//!         "server.address",
//!         "server.port",
//!         "messaging.destination.name",
//!         "messaging.kafka.message.key",
//!     ]
//! );
//! assert_eq!(spec.attribute("server.port"), Some(&AttributeValue::Int(9092)));
//! ```

use crate::semconv::{self as sc, operation};

/// Kind of the span, as in OpenTelemetry.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{poll_span, ClientInfo, SpanKind};
///
/// assert_eq!(poll_span(&["orders"], 3, &ClientInfo::default()).kind, SpanKind::Client);
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{process_span, AttributeValue, ClientInfo, MessageInfo, Options};
///
/// let message = MessageInfo { topic: "orders", partition: Some(2), offset: Some(41), payload_len: None, timestamp_ms: Some(1_000), ..MessageInfo::default() };
/// let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, false, 1_250);
/// assert_eq!(spec.attribute("messaging.destination.partition.id"), Some(&AttributeValue::String("2".into())));
/// assert_eq!(spec.attribute("messaging.kafka.offset"), Some(&AttributeValue::Int(41)));
/// assert_eq!(spec.attribute("messaging.kafka.message.tombstone"), Some(&AttributeValue::Bool(true)));
/// assert_eq!(spec.attribute("kafka_trace.e2e_latency_ms"), Some(&AttributeValue::Double(250.0)));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::semconv;
/// use kafka_trace::span::{send_outcome, Attribute, AttributeValue};
///
/// let attributes: Vec<Attribute> = send_outcome(Ok((3, 17))).attributes;
/// assert_eq!(attributes[0], (semconv::MESSAGING_DESTINATION_PARTITION_ID, AttributeValue::String("3".into())));
/// ```
pub type Attribute = (&'static str, AttributeValue);

/// How a consumer span relates to the context the producer injected.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{process_span, ClientInfo, ContextSource, MessageInfo, Options, Strategy};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let link = Options { strategy: Strategy::Link, ..Options::default() };
/// let spec = process_span(&message, &ClientInfo::default(), &link, true, true, 0);
/// assert_eq!((spec.parent, spec.links), (ContextSource::Ambient, vec![ContextSource::Remote]));
/// ```
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
    /// Parses `parent` or `link` (as given in configuration; case and surrounding spaces are
    /// ignored).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::Strategy;
    ///
    /// assert_eq!(Strategy::parse(" Link "), Some(Strategy::Link));
    /// assert_eq!(Strategy::parse("parent"), Some(Strategy::Parent));
    /// assert_eq!(Strategy::parse("child"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "parent" => Some(Self::Parent),
            "link" => Some(Self::Link),
            _ => None,
        }
    }
}

/// Where a new span's parent comes from; the binding resolves it in its own SDK.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{batch_process_span, ClientInfo, ContextSource, MessageInfo, Options};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// // Inside a batch, a message with a valid context is its producer's child, linked to the poll.
/// let spec = batch_process_span(&message, &ClientInfo::default(), &Options::default(), true, 0);
/// assert_eq!((spec.parent, spec.links), (ContextSource::Remote, vec![ContextSource::Poll]));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::TopicFilter;
///
/// let filter = TopicFilter { include: vec!["orders.*".into()], exclude: vec!["*.dlq".into()] };
/// assert!(filter.allows("orders.eu"));
/// assert!(!filter.allows("orders.eu.dlq"));
/// assert!(!filter.allows("payments"));
/// assert!(TopicFilter::default().allows("anything"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Only these topics, when not empty.
    pub include: Vec<String>,
    /// Never these topics (wins over include).
    pub exclude: Vec<String>,
}

impl TopicFilter {
    /// Whether spans are made for `topic`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::TopicFilter;
    ///
    /// let filter = TopicFilter { exclude: vec!["__*".into()], ..TopicFilter::default() };
    /// assert!(!filter.allows("__consumer_offsets"));
    /// assert!(filter.allows("orders"));
    /// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{send_span, ClientInfo, MessageInfo, Options, Strategy};
///
/// let defaults = Options::default();
/// assert_eq!((defaults.strategy, defaults.record_message_key, defaults.record_body_size), (Strategy::Parent, true, false));
///
/// let options = Options { record_message_key: false, record_body_size: true, ..Options::default() };
/// let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(42), ..MessageInfo::default() };
/// let spec = send_span(&message, &ClientInfo::default(), &options);
/// assert!(spec.attribute("messaging.kafka.message.key").is_none());
/// assert_eq!(spec.attribute("messaging.message.body.size"), Some(&kafka_trace::span::AttributeValue::Int(42)));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{poll_span, AttributeValue, ClientInfo};
///
/// let client = ClientInfo { consumer_group: Some("billing".into()), ..ClientInfo::default() };
/// let spec = poll_span(&["orders"], 1, &client);
/// assert_eq!(spec.attribute("messaging.consumer.group.name"), Some(&AttributeValue::String("billing".into())));
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::ClientInfo;
    ///
    /// let v4 = ClientInfo::default().with_bootstrap(" SASL_SSL://kafka-1:9093, kafka-2:9093");
    /// assert_eq!((v4.server_address.as_deref(), v4.server_port), (Some("kafka-1"), Some(9093)));
    /// let v6 = ClientInfo::default().with_bootstrap("[::1]:9092");
    /// assert_eq!((v6.server_address.as_deref(), v6.server_port), (Some("::1"), Some(9092)));
    /// let bare = ClientInfo::default().with_bootstrap("localhost");
    /// assert_eq!((bare.server_address.as_deref(), bare.server_port), (Some("localhost"), None));
    /// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{send_span, ClientInfo, MessageInfo, Options};
///
/// // A binary key is never recorded; a null value is a tombstone.
/// let message = MessageInfo { topic: "orders", key: Some(&[0xff, 0xfe]), payload_len: None, ..MessageInfo::default() };
/// let spec = send_span(&message, &ClientInfo::default(), &Options::default());
/// assert!(spec.attribute("messaging.kafka.message.key").is_none());
/// assert!(spec.attribute("messaging.kafka.message.tombstone").is_some());
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{process_span, ClientInfo, ContextSource, MessageInfo, Options, SpanKind};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), timestamp_ms: Some(5_000), ..MessageInfo::default() };
/// // A valid remote context and a current span: the remote is the parent, the current span a link.
/// let spec = process_span(&message, &ClientInfo::default(), &Options::default(), true, true, 4_000);
/// assert_eq!((spec.name.as_str(), spec.kind), ("process orders", SpanKind::Consumer));
/// assert_eq!((spec.parent, spec.links), (ContextSource::Remote, vec![ContextSource::Ambient]));
/// assert_eq!(spec.e2e_latency_ms, Some(0.0)); // consumer clock behind the producer's: clamped
/// ```
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

/// The attribute keys a sampler sees when a span starts: the ones the messaging conventions name
/// as important for sampling decisions ("SHOULD be provided at span creation time"). Every other
/// attribute of the [`SpanSpec`] (client id, offset, message key, body size, tombstone, batch
/// count, end-to-end latency) is set only once the span is known to be recording, so a span the
/// sampler drops never pays for converting them. The same rule in every binding.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::SAMPLING_ATTRIBUTE_KEYS;
///
/// assert!(SAMPLING_ATTRIBUTE_KEYS.contains(&"messaging.destination.name"));
/// assert!(!SAMPLING_ATTRIBUTE_KEYS.contains(&"messaging.kafka.offset"));
/// ```
pub const SAMPLING_ATTRIBUTE_KEYS: [&str; 8] = [
    sc::MESSAGING_SYSTEM,
    sc::MESSAGING_OPERATION_NAME,
    sc::MESSAGING_OPERATION_TYPE,
    sc::MESSAGING_DESTINATION_NAME,
    sc::MESSAGING_DESTINATION_PARTITION_ID,
    sc::MESSAGING_CONSUMER_GROUP_NAME,
    sc::SERVER_ADDRESS,
    sc::SERVER_PORT,
];

/// Whether `key` is one of [`SAMPLING_ATTRIBUTE_KEYS`].
///
/// # Examples
///
/// ```
/// use kafka_trace::span::is_sampling_attribute;
///
/// assert!(is_sampling_attribute("server.port"));
/// assert!(!is_sampling_attribute("messaging.client.id"));
/// ```
pub fn is_sampling_attribute(key: &str) -> bool {
    SAMPLING_ATTRIBUTE_KEYS.contains(&key)
}

impl SpanSpec {
    /// The value of attribute `key`, if set.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::{send_span, AttributeValue, ClientInfo, MessageInfo, Options};
    ///
    /// let spec = send_span(&MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() }, &ClientInfo::default(), &Options::default());
    /// assert_eq!(spec.attribute("messaging.system"), Some(&AttributeValue::String("kafka".into())));
    /// assert_eq!(spec.attribute("messaging.kafka.offset"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The attributes to pass when the span starts ([`SAMPLING_ATTRIBUTE_KEYS`]), in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::{send_span, ClientInfo, MessageInfo, Options};
    ///
    /// let client = ClientInfo { client_id: Some("api".into()), ..ClientInfo::default() };
    /// let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(2), ..MessageInfo::default() };
    /// let spec = send_span(&message, &client, &Options::default());
    /// let keys: Vec<&str> = spec.sampling_attributes().map(|(k, _)| *k).collect();
    /// assert_eq!(keys, ["messaging.system", "messaging.operation.name", "messaging.operation.type", "messaging.destination.name"]);
    /// ```
    pub fn sampling_attributes(&self) -> impl Iterator<Item = &Attribute> + '_ {
        self.attributes.iter().filter(|(k, _)| is_sampling_attribute(k))
    }

    /// The attributes to set only when the started span is recording, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::span::{send_span, ClientInfo, MessageInfo, Options};
    ///
    /// let client = ClientInfo { client_id: Some("api".into()), ..ClientInfo::default() };
    /// let message = MessageInfo { topic: "orders", key: Some(b"o-1"), payload_len: Some(2), ..MessageInfo::default() };
    /// let spec = send_span(&message, &client, &Options::default());
    /// let keys: Vec<&str> = spec.recorded_attributes().map(|(k, _)| *k).collect();
    /// assert_eq!(keys, ["messaging.client.id", "messaging.kafka.message.key"]);
    /// ```
    pub fn recorded_attributes(&self) -> impl Iterator<Item = &Attribute> + '_ {
        self.attributes.iter().filter(|(k, _)| !is_sampling_attribute(k))
    }
}

/// How a send or process ended.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{error_outcome, AttributeValue};
///
/// let outcome = error_outcome("MsgTimedOut");
/// assert_eq!(outcome.attributes, [("error.type", AttributeValue::String("MsgTimedOut".into()))]);
/// assert_eq!(outcome.error.as_deref(), Some("MsgTimedOut"));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::now_ms;
///
/// let before = now_ms();
/// assert!(before > 1_600_000_000_000); // after September 2020
/// assert!(now_ms() >= before);
/// ```
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Record timestamp to `now_ms`, clamped at 0 (clocks of producer and consumer hosts differ).
/// A missing or non-positive timestamp gives `None`.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::e2e_latency_ms;
///
/// assert_eq!(e2e_latency_ms(Some(1_000), 1_250), Some(250.0));
/// assert_eq!(e2e_latency_ms(Some(2_000), 1_250), Some(0.0));
/// assert_eq!(e2e_latency_ms(Some(-1), 1_250), None);
/// assert_eq!(e2e_latency_ms(None, 1_250), None);
/// ```
pub fn e2e_latency_ms(timestamp_ms: Option<i64>, now_ms: i64) -> Option<f64> {
    timestamp_ms.filter(|t| *t > 0).map(|t| now_ms.saturating_sub(t).max(0) as f64)
}

/// The `send {topic}` PRODUCER span, a child of the ambient context. Its context is what the
/// producer injects into the message.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{send_span, ClientInfo, ContextSource, MessageInfo, Options, SpanKind};
///
/// let spec = send_span(&MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() }, &ClientInfo::default(), &Options::default());
/// assert_eq!((spec.name.as_str(), spec.kind, spec.parent), ("send orders", SpanKind::Producer, ContextSource::Ambient));
/// assert!(spec.links.is_empty());
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{send_outcome, AttributeValue};
///
/// let acked = send_outcome(Ok((3, 17)));
/// assert_eq!(
///     acked.attributes,
///     [("messaging.destination.partition.id", AttributeValue::String("3".into())), ("messaging.kafka.offset", AttributeValue::Int(17))]
/// );
/// assert_eq!(acked.error, None);
/// assert_eq!(send_outcome(Err("MsgSizeTooLarge")).error.as_deref(), Some("MsgSizeTooLarge"));
/// ```
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
/// error name or an exception class). An empty error type becomes `_OTHER`.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{error_outcome, AttributeValue};
///
/// let outcome = error_outcome("");
/// assert_eq!(outcome.attributes, [("error.type", AttributeValue::String("_OTHER".into()))]);
/// assert_eq!(outcome.error.as_deref(), Some("_OTHER"));
/// ```
pub fn error_outcome(error_type: &str) -> Outcome {
    let error_type = if error_type.is_empty() { "_OTHER" } else { error_type };
    Outcome { attributes: vec![str_attr(sc::ERROR_TYPE, error_type)], error: Some(error_type.to_owned()) }
}

/// The `process {topic}` CONSUMER span for one message, covering the user's handler.
/// `remote_valid` says whether the headers held a usable context, `ambient_valid` whether the
/// binding's current context holds a span.
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{process_span, ClientInfo, ContextSource, MessageInfo, Options};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let (client, options) = (ClientInfo::default(), Options::default());
/// // No usable context in the headers: the span continues whatever is current.
/// let spec = process_span(&message, &client, &options, false, true, 0);
/// assert_eq!((spec.parent, spec.links.len()), (ContextSource::Ambient, 0));
/// let spec = process_span(&message, &client, &options, true, false, 0);
/// assert_eq!((spec.parent, spec.links.len()), (ContextSource::Remote, 0));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{batch_process_span, ClientInfo, ContextSource, MessageInfo, Options, Strategy};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let client = ClientInfo::default();
/// let link = Options { strategy: Strategy::Link, ..Options::default() };
/// let spec = batch_process_span(&message, &client, &link, true, 0);
/// assert_eq!((spec.parent, spec.links), (ContextSource::Poll, vec![ContextSource::Remote]));
/// let spec = batch_process_span(&message, &client, &Options::default(), false, 0);
/// assert_eq!((spec.parent, spec.links), (ContextSource::Poll, vec![]));
/// ```
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
///
/// # Examples
///
/// ```
/// use kafka_trace::span::{poll_span, AttributeValue, ClientInfo};
///
/// let spec = poll_span(&["orders", "orders"], 2, &ClientInfo::default());
/// assert_eq!(spec.name, "poll orders");
/// assert_eq!(spec.attribute("messaging.operation.type"), Some(&AttributeValue::String("receive".into())));
/// assert_eq!(spec.attribute("messaging.batch.message_count"), Some(&AttributeValue::Int(2)));
/// let mixed = poll_span(&["orders", "payments"], 2, &ClientInfo::default());
/// assert_eq!(mixed.name, "poll");
/// assert_eq!(mixed.attribute("messaging.destination.name"), None);
/// ```
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
