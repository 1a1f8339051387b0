//! Pure codecs for the three W3C headers. They read bytes (never assuming UTF-8), write into
//! buffers the caller owns, and never panic.

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
