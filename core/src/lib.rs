//! kafka-trace: W3C trace context carried through Apache Kafka message headers.
//!
//! The core decides every byte and every span shape; the C, Node and Python bindings only convert
//! types. Layout:
//! - [`codec`]: `traceparent`, `tracestate` and `baggage` parsed from bytes and formatted into
//!   caller-owned buffers, following W3C Trace Context Level 2 and W3C Baggage.
//! - [`carrier`]: the Kafka header list, with the read policy (duplicates, any-case names) and the
//!   write policy (replace in place, never append twice).
//! - [`ErrorCode`]: the stable error codes every binding maps to its own error type.
//! - [`lifecycle`]: the span model (names, kinds, attributes, parents, links, metrics) as recipes
//!   a binding executes; `otel` executes them on the `opentelemetry` crates (feature `otel`),
//!   `otlp` exports over OTLP (feature `otlp`) and `rdkafka` wraps rust-rdkafka clients
//!   (feature `rdkafka`).
//!
//! # Examples
//!
//! A consumer reads the context a producer wrote, and a forwarder writes its own span as the new
//! parent:
//!
//! ```
//! use kafka_trace::{extract, inject, SpanId};
//!
//! let mut headers: Vec<(String, Vec<u8>)> = vec![
//!     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
//!     ("baggage".into(), b"user=alice".to_vec()),
//! ];
//! let received = extract(&headers).expect("a valid traceparent");
//! assert_eq!(received.baggage.get("user"), Some("alice"));
//!
//! inject(&received.child(SpanId([0x11; 8])), &mut headers);
//! assert_eq!(headers[0].1, b"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
//! assert_eq!(headers[1].1, b"user=alice");
//! ```
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
///
/// # Examples
///
/// ```
/// assert_eq!(kafka_trace::VERSION, env!("CARGO_PKG_VERSION"));
/// assert!(kafka_trace::VERSION.split('.').all(|part| !part.is_empty()));
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
