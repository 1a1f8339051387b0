//! kafka-trace: W3C trace context carried through Apache Kafka message headers.
//!
//! The core decides every byte and every span shape; the C, Node and Python bindings only convert
//! types. Layout:
//! - [`codec`]: `traceparent`, `tracestate` and `baggage` parsed from bytes and formatted into
//!   caller-owned buffers, following W3C Trace Context Level 2 and W3C Baggage.
//! - [`carrier`]: the Kafka header list, with the read policy (duplicates, any-case names) and the
//!   write policy (replace in place, never append twice).
//! - [`ErrorCode`]: the stable error codes every binding maps to its own error type.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod carrier;
pub mod codec;
pub mod encode;
mod error;
pub mod interop;
pub mod lifecycle;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "rdkafka")]
pub mod rdkafka;
pub mod semconv;
pub mod setter;
pub mod span;

pub use carrier::{extract, extract_parts, inject, Extracted, TraceContext};
pub use codec::baggage::{Baggage, BaggageEntry};
pub use codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
pub use codec::tracestate::{TraceState, TraceStateBuf};
pub use error::ErrorCode;

/// The crate version, also reported by every binding.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
