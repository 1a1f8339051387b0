//! Names from the OpenTelemetry messaging semantic conventions (Kafka), in one place.
//! Every binding takes span names, attribute keys and metric names from here.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::semconv::{self, metrics, operation};
//!
//! assert_eq!(semconv::MESSAGING_DESTINATION_NAME, "messaging.destination.name");
//! assert_eq!(format!("{} {}", operation::SEND, "orders"), "send orders"); // a send span's name
//! assert_eq!(metrics::CLIENT_OPERATION_DURATION, "messaging.client.operation.duration");
//! assert_eq!(metrics::UNIT_SECONDS, "s");
//! ```

/// `messaging.system`; always [`SYSTEM_KAFKA`].
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// The value of `messaging.system`.
pub const SYSTEM_KAFKA: &str = "kafka";
/// `send`, `process` or `poll`.
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// `send`, `process` or `receive`.
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// The topic.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// The partition, as a string.
pub const MESSAGING_DESTINATION_PARTITION_ID: &str = "messaging.destination.partition.id";
/// The message offset.
pub const MESSAGING_KAFKA_OFFSET: &str = "messaging.kafka.offset";
/// The message key, only when it is valid UTF-8 (and not turned off).
pub const MESSAGING_KAFKA_MESSAGE_KEY: &str = "messaging.kafka.message.key";
/// Whether the message is a tombstone (null value).
pub const MESSAGING_KAFKA_MESSAGE_TOMBSTONE: &str = "messaging.kafka.message.tombstone";
/// The consumer group.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// The client id.
pub const MESSAGING_CLIENT_ID: &str = "messaging.client.id";
/// Number of messages in a batch.
pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
/// Body size in bytes (opt-in).
pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
/// First bootstrap server host.
pub const SERVER_ADDRESS: &str = "server.address";
/// First bootstrap server port.
pub const SERVER_PORT: &str = "server.port";
/// Error class of a failed operation.
pub const ERROR_TYPE: &str = "error.type";
/// Record timestamp to process start in milliseconds, clamped at 0. Not (yet) in the semantic
/// conventions, hence our own namespace.
pub const KAFKA_TRACE_E2E_LATENCY_MS: &str = "kafka_trace.e2e_latency_ms";

/// Operation names.
///
/// # Examples
///
/// ```
/// use kafka_trace::semconv::operation;
///
/// assert_eq!([operation::SEND, operation::PROCESS, operation::POLL], ["send", "process", "poll"]);
/// assert_eq!(operation::TYPE_RECEIVE, "receive");
/// ```
pub mod operation {
    /// Producing a message.
    pub const SEND: &str = "send";
    /// Handling one consumed message.
    pub const PROCESS: &str = "process";
    /// Receiving a batch.
    pub const POLL: &str = "poll";
    /// `messaging.operation.type` of a poll.
    pub const TYPE_RECEIVE: &str = "receive";
}

/// Metric instruments (names, units, descriptions).
///
/// # Examples
///
/// ```
/// use kafka_trace::semconv::metrics;
///
/// assert_eq!(metrics::CLIENT_SENT_MESSAGES, "messaging.client.sent.messages");
/// assert_eq!(metrics::UNIT_MESSAGES, "{message}");
/// ```
pub mod metrics {
    /// Histogram, seconds: duration of send and poll operations.
    pub const CLIENT_OPERATION_DURATION: &str = "messaging.client.operation.duration";
    /// Counter: messages the producer sent (attempted; failures carry `error.type`).
    pub const CLIENT_SENT_MESSAGES: &str = "messaging.client.sent.messages";
    /// Counter: messages the consumer received.
    pub const CLIENT_CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
    /// Histogram, seconds: duration of the user's handler.
    pub const PROCESS_DURATION: &str = "messaging.process.duration";
    /// Histogram, seconds: record timestamp to process start, per topic (our own name).
    pub const E2E_LATENCY: &str = "kafka_trace.e2e.latency";
    /// Unit of the duration histograms.
    pub const UNIT_SECONDS: &str = "s";
    /// Unit of the counters.
    pub const UNIT_MESSAGES: &str = "{message}";
}
