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

mod acks;
mod finish;
mod names;
mod propagation;
mod recipe;

pub use acks::batch_acks;
pub use finish::{now_ms, Finish, HandlerResult, PollResult, SendResult, SpanEnd, Status};
pub use names::{OptionName, OPTION_NAMES};
pub use propagation::{send_context, KeptRemote, SpanIdentity};
pub use recipe::{
    AmbientInfo, HandlerContext, Instrument, InstrumentKind, Lifecycle, MetricRecord, Operation,
    PollRecipe, ProcessRecipe, RemoteInfo, SendRecipe, INSTRUMENTS, METRIC_ATTRIBUTE_KEYS,
};

#[cfg(test)]
mod tests;
