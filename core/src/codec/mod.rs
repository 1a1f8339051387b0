//! Pure codecs for the three W3C headers. They read bytes (never assuming UTF-8), write into
//! buffers the caller owns, and never panic.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::{Baggage, TraceParent, TraceState};
//!
//! let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! let state = TraceState::parse(b"rojo=00f067aa0ba902b7").unwrap();
//! let baggage = Baggage::parse(b"user=alice");
//! assert_eq!(parent.span_id.to_string(), "00f067aa0ba902b7");
//! assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
//! assert_eq!(baggage.get("user"), Some("alice"));
//! ```

pub mod baggage;
mod hex;
pub mod traceparent;
pub mod tracestate;

/// Trims the optional white space (space and tab) that W3C allows around header values and list
/// members. Other white space, such as a newline, is not OWS and stays, so the value fails to parse.
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}
