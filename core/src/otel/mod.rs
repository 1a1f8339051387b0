//! Bridge to the `opentelemetry` crates (feature `otel`):
//! - [`propagator`](KafkaTracePropagator): context in and out of Kafka headers, composed by the
//!   core (W3C Level 2 kept through SDK spans);
//! - [`Executor`]: carries out the lifecycle's recipes ([`crate::lifecycle`]) on any [`Tracer`]
//!   and [`Meter`] ([`Instruments`]);
//! - the first API ([`start_span`], [`end_span`], [`KafkaMetrics`]), kept as wrappers.
//!
//! [`Tracer`]: opentelemetry::trace::Tracer
//! [`Meter`]: opentelemetry::metrics::Meter

mod convert;
mod executor;
mod instruments;
mod legacy;
mod propagator;

pub use convert::key_values;
pub use executor::{handler_context, Executor, MessageContext, Running, StartTime};
pub use instruments::Instruments;
pub use legacy::{end_span, start_span, KafkaMetrics, SpanSources};
pub use propagator::{
    add_baggage, extract_context, inject_context, kept_remote, remote_span_context, trace_context_of,
    KafkaTracePropagator,
};

#[cfg(test)]
mod tests;
