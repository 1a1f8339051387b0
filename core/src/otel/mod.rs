//! Bridge to the `opentelemetry` crates (feature `otel`):
//! - [`propagator`](KafkaTracePropagator): context in and out of Kafka headers, composed by the
//!   core (W3C Level 2 kept through SDK spans);
//! - [`Executor`]: carries out the lifecycle's recipes ([`crate::lifecycle`]) on any [`Tracer`]
//!   and [`Meter`] ([`Instruments`]);
//! - the first API ([`start_span`], [`end_span`], [`KafkaMetrics`]), kept as wrappers.
//!
//! # Examples
//!
//! A send and the processing of its message, executed on an OpenTelemetry SDK tracer (here one
//! exporting to memory): the process span is the child of the send span.
//!
//! ```
//! use std::time::Duration;
//!
//! use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, SendResult};
//! use kafka_trace::otel::{inject_context, Executor, MessageContext};
//! use kafka_trace::span::MessageInfo;
//! use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
//! use opentelemetry::Context;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//!
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let executor = Executor::new(provider.tracer("app"), None);
//! let lifecycle = Lifecycle::default();
//! let message = MessageInfo { topic: "orders", payload_len: Some(2), ..MessageInfo::default() };
//!
//! // Producer: start the send span, inject it, end it on the acknowledgement.
//! let recipe = lifecycle.send(&message).unwrap();
//! let send = executor.start_send(&recipe, &Context::current());
//! let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
//! assert!(inject_context(send.context(), &mut headers));
//! executor.finish(&send, &recipe.finish(SendResult::Acked { partition: 0, offset: 7 }, send.elapsed(), None));
//!
//! // Consumer: the handler runs in the process span's context.
//! let from_headers = MessageContext::from_headers(Some(&headers));
//! let recipe = lifecycle.process(&message, from_headers.remote_info(), AmbientInfo::default(), 0).unwrap();
//! let process = executor.start_process(&recipe, &Context::current(), &from_headers, None);
//! let handler_trace = process.context().span().span_context().trace_id();
//! executor.finish(&process, &recipe.finish(HandlerResult::Returned, Duration::from_millis(1)));
//!
//! let spans = exporter.get_finished_spans().unwrap();
//! let (send_span, process_span) = (&spans[0], &spans[1]);
//! assert_eq!((send_span.name.as_ref(), process_span.name.as_ref()), ("send orders", "process orders"));
//! assert_eq!(process_span.parent_span_id, send_span.span_context.span_id());
//! assert_eq!(handler_trace, send_span.span_context.trace_id());
//! ```
//!
//! [`Tracer`]: opentelemetry::trace::Tracer
//! [`Meter`]: opentelemetry::metrics::Meter

mod convert;
mod executor;
mod instruments;
mod legacy;
mod kept;
mod propagator;
mod starts;

pub use convert::key_values;
pub use executor::{handler_context, Executor, MessageContext, Running, StartTime};
pub use instruments::{Instruments, METRIC_SET_CAPACITY};
pub use starts::{Kept, StartCache, Started, START_CACHE_CAPACITY};
pub use kept::{KEPT_STRINGS, KEPT_STRING_BYTES};
pub use legacy::{end_span, start_span, KafkaMetrics, SpanSources};
pub use propagator::{
    add_baggage, extract_context, inject_context, kept_remote, remote_span_context, trace_context_of,
    KafkaTracePropagator,
};

#[cfg(test)]
mod tests;
