//! The span lifecycle, decided once for every binding.
//!
//! A binding asks a [`Lifecycle`] for a *recipe* when an operation starts (a send, the processing
//! of one message, of one message inside a batch, or a poll) and for a [`Finish`] when it ends.
//! The recipe says everything the binding's OpenTelemetry API needs: span name, kind, start
//! attributes, where the parent comes from and which contexts become links, how to build the
//! context the user's handler runs in, and which metric attributes the operation carries. The
//! finish says the end attributes, the status, when the span ends and every metric record.
//! Bindings execute recipes; they decide nothing. Feature-free like [`crate::span`].
//!
//! Definitions (OpenTelemetry messaging semantic conventions, Kafka):
//! - **send**: `send {topic}` PRODUCER, from the produce call until the broker acknowledged the
//!   message (librdkafka's own per-message latency when the client reports it).
//! - **poll**: `poll {topic}` CLIENT, operation type `receive`: from the receive call until it
//!   returned messages. It never includes the handlers. `messaging.client.operation.duration`
//!   records it.
//! - **process**: `process {topic}` CONSUMER: the user's handler for one message;
//!   `messaging.process.duration` records it, `messaging.client.consumed.messages` counts it.
//!
//! # Examples
//!
//! A send and the processing of the message it wrote, as a binding runs them:
//!
//! ```
//! use std::time::Duration;
//!
//! use kafka_trace::lifecycle::{AmbientInfo, Instrument, Lifecycle, RemoteInfo, SendResult, HandlerResult, Status};
//! use kafka_trace::span::{ClientInfo, ContextSource, MessageInfo, Options};
//!
//! let lifecycle = Lifecycle::new(Options::default(), ClientInfo::default().with_bootstrap("127.0.0.1:9092"));
//! let message = MessageInfo { topic: "orders", payload_len: Some(2), ..MessageInfo::default() };
//!
//! let send = lifecycle.send(&message).expect("orders is traced");
//! assert_eq!(send.span.name, "send orders");
//! let finish = send.finish(SendResult::Acked { partition: 0, offset: 41 }, Duration::from_millis(3), None);
//! assert_eq!(finish.status, Status::Unset);
//! assert_eq!(finish.metrics.iter().map(|m| m.instrument).collect::<Vec<_>>(), [Instrument::OperationDuration, Instrument::SentMessages]);
//!
//! let consumed = MessageInfo { partition: Some(0), offset: Some(41), ..message };
//! let process = lifecycle.process(&consumed, RemoteInfo { valid: true }, AmbientInfo::default(), 0).unwrap();
//! assert_eq!((process.span.name.as_str(), process.parent()), ("process orders", ContextSource::Remote));
//! let finish = process.finish(HandlerResult::Failed { error_type: "ValueError" }, Duration::from_millis(8));
//! assert_eq!(finish.status, Status::Error("ValueError".into()));
//! ```

mod acks;
mod finish;
mod names;
mod partitions;
mod propagation;
mod recipe;
pub(crate) mod starts;

pub use acks::batch_acks;
pub use finish::{now_ms, Finish, HandlerResult, MetricValueSource, PollResult, SendResult, SpanEnd, Status};
pub use names::{OptionName, OPTION_NAMES};
pub use partitions::{PartitionCache, PARTITION_CACHE_CAPACITY};
pub use starts::{Situation, SituationCache, START_CACHE_CAPACITY};
pub use propagation::{send_context, send_context_parsed, KeptRemote, SpanIdentity};
pub use recipe::{
    AmbientInfo, HandlerContext, Instrument, InstrumentKind, Lifecycle, MetricRecord, Operation,
    PollRecipe, ProcessRecipe, RemoteInfo, SendRecipe, INSTRUMENTS, METRIC_ATTRIBUTE_KEYS,
};

#[cfg(test)]
mod tests;
