//! The one definition of every typed-array and string layout shared with the TypeScript
//! executor. The facade reads all of these numbers from [`Layout`] (`names().layout`) at load
//! time and hard-codes none of them.
//!
//! **Per-message numbers** (`Float64Array`, [`STRIDE`] slots per message):
//! - `[0, DELTA_KEYS.len())`: the message-dependent attributes of a recipe or a finish, one slot
//!   per key of [`DELTA_KEYS`], encoded by [`DELTA_KINDS`]: 0 a number, 1 a boolean (1/0),
//!   2 a decimal string held as its number (the partition id), 3 the message key as text (the
//!   slot is NaN: the core checked the key is UTF-8, the facade decodes its own input).
//! - `[METRIC_AT, METRIC_AT + METRIC_SLOTS)`: a finish's metric values, in the order of its plan's
//!   metric records.
//! - `END_AT`: a finish's end as milliseconds after the span's start, NaN = end now.
//! - `E2E_AT`: a start's end-to-end latency in ms (NaN = none), handed back to the finish.
//!
//! **Per-message ids** (`Uint32Array`, [`ID_STRIDE`] per message): `[0]` the bit set of the
//! delta slots present, `[1]` the index of the recipe template (start) or finish plan (finish).
//!
//! **Compact context** (the string `extract*` return): trace id hex, span id hex, flags hex
//! ([`COMPACT_TRACE_ID`], [`COMPACT_SPAN_ID`], [`COMPACT_FLAGS`] characters), then either
//! [`SAME_TRACESTATE`] (the tracestate is the caller's raw value byte for byte) or the normalized
//! tracestate (empty = none).
//!
//! **Scratch memory** ([`SCRATCH_LEN`] bytes): inputs below [`SCRATCH_OUT`], outputs from it.

use kafka_trace::lifecycle::INSTRUMENTS;
use kafka_trace::semconv as sc;
use kafka_trace::span::{Attribute, AttributeValue};
use napi_derive::napi;

/// Keys of the message-dependent attributes, in slot order.
pub const DELTA_KEYS: [&str; 6] = [
    sc::MESSAGING_DESTINATION_PARTITION_ID,
    sc::MESSAGING_KAFKA_OFFSET,
    sc::MESSAGING_KAFKA_MESSAGE_KEY,
    sc::MESSAGING_KAFKA_MESSAGE_TOMBSTONE,
    sc::MESSAGING_MESSAGE_BODY_SIZE,
    sc::KAFKA_TRACE_E2E_LATENCY_MS,
];
/// How each delta slot is encoded (see the module documentation).
pub const DELTA_KINDS: [u32; 6] = [2, 0, 3, 1, 0, 0];
/// First slot of a finish's metric values.
pub const METRIC_AT: usize = DELTA_KEYS.len();
/// At most one record per instrument.
pub const METRIC_SLOTS: usize = INSTRUMENTS.len();
/// The end slot of a finish.
pub const END_AT: usize = METRIC_AT + METRIC_SLOTS;
/// The end-to-end latency slot of a start.
pub const E2E_AT: usize = END_AT + 1;
/// Numbers per message.
pub const STRIDE: usize = E2E_AT + 1;
/// Ids per message.
pub const ID_STRIDE: usize = 2;

/// Hex characters of the compact context's parts.
pub const COMPACT_TRACE_ID: usize = 32;
pub const COMPACT_SPAN_ID: usize = 16;
pub const COMPACT_FLAGS: usize = 2;
/// Marker after the flags: the tracestate is the raw value the caller passed.
pub const SAME_TRACESTATE: char = '=';
/// The per-message extract's answer for a traceparent whose bytes are those of its last valid
/// answer (the caller reuses that answer's ids and flags; `codec::extract_parent_in`).
pub const SAME_PARENT: i32 = 0;

/// Bytes of scratch memory, and where its output region starts.
pub const SCRATCH_LEN: usize = 16 * 1024;
pub const SCRATCH_OUT: usize = 8 * 1024;

/// **Scratch calls** (one native call per message, no arguments crossing napi): the inputs are
/// numbers at the start of the input region (one `f64`, little endian, per name of
/// [`PROCESS_INPUTS`] / [`FINISH_INPUTS`], in that order), then bytes from [`SCRATCH_BYTES`]; the
/// results are bytes at the start of the output region (a compact context head, or injected
/// header values) and numbers from [`SCRATCH_BYTES`] of the output region: a message's
/// [`STRIDE`] numbers, then its ids ([`ID_STRIDE`]), then the remote parent's validity (1/0).
pub const SCRATCH_BYTES: usize = 128;
/// Input numbers of `Tracing::scratch_calls`'s `process`, in order: the topic's id (`Tracing::topic_id`),
/// partition, offset, payload length (-1 tombstone), timestamp ms (NaN none), whether the
/// ambient context has a valid span (1/0), the traceparent's byte length (-1 = no header), the
/// key's byte length (-1 = no key); the traceparent bytes then the key bytes follow.
pub const PROCESS_INPUTS: [&str; 8] = ["topic", "partition", "offset", "payloadLength", "timestamp", "ambientSpan", "traceparentLength", "keyLength"];
/// Input numbers of `Tracing::scratch_calls`'s `processFinish`: the template index, the start's
/// end-to-end latency slot, the handler's elapsed seconds.
pub const FINISH_INPUTS: [&str; 3] = ["template", "e2e", "elapsed"];

/// Reads input number `i` of the scratch input region.
pub fn input_number(input: &[u8], i: usize) -> f64 {
    input.get(8 * i..8 * i + 8).and_then(|b| b.try_into().ok()).map_or(f64::NAN, f64::from_le_bytes)
}

/// Writes numbers at [`SCRATCH_BYTES`] of the output region.
pub fn write_numbers(output: &mut [u8], numbers: &[f64]) {
    for (i, n) in numbers.iter().enumerate() {
        let at = SCRATCH_BYTES + 8 * i;
        output[at..at + 8].copy_from_slice(&n.to_le_bytes());
    }
}

/// Everything above, for the facade.
#[napi(object)]
pub struct Layout {
    pub delta_keys: Vec<String>,
    pub delta_kinds: Vec<u32>,
    pub metric_at: u32,
    pub metric_slots: u32,
    pub end_at: u32,
    #[napi(js_name = "e2eAt")]
    pub e2e_at: u32,
    pub stride: u32,
    pub id_stride: u32,
    pub compact_trace_id: u32,
    pub compact_span_id: u32,
    pub compact_flags: u32,
    pub same_tracestate: String,
    pub same_parent: i32,
    pub scratch_len: u32,
    pub scratch_out: u32,
    pub scratch_bytes: u32,
    pub process_inputs: Vec<String>,
    pub finish_inputs: Vec<String>,
}

pub fn layout() -> Layout {
    Layout {
        delta_keys: DELTA_KEYS.iter().map(|k| (*k).to_owned()).collect(),
        delta_kinds: DELTA_KINDS.to_vec(),
        metric_at: METRIC_AT as u32,
        metric_slots: METRIC_SLOTS as u32,
        end_at: END_AT as u32,
        e2e_at: E2E_AT as u32,
        stride: STRIDE as u32,
        id_stride: ID_STRIDE as u32,
        compact_trace_id: COMPACT_TRACE_ID as u32,
        compact_span_id: COMPACT_SPAN_ID as u32,
        compact_flags: COMPACT_FLAGS as u32,
        same_tracestate: SAME_TRACESTATE.to_string(),
        same_parent: SAME_PARENT,
        scratch_len: SCRATCH_LEN as u32,
        scratch_out: SCRATCH_OUT as u32,
        scratch_bytes: SCRATCH_BYTES as u32,
        process_inputs: PROCESS_INPUTS.iter().map(|k| (*k).to_owned()).collect(),
        finish_inputs: FINISH_INPUTS.iter().map(|k| (*k).to_owned()).collect(),
    }
}

/// Whether `key` is message-dependent (goes through the delta slots, not the template).
pub fn is_delta(key: &str) -> bool {
    DELTA_KEYS.contains(&key)
}

/// The attributes without the message-dependent ones.
pub fn template_attributes(attributes: &[Attribute]) -> Vec<Attribute> {
    attributes.iter().filter(|(k, _)| !is_delta(k)).cloned().collect()
}

/// Writes the message-dependent attributes into `out` (at least `DELTA_KEYS.len()` slots) and
/// returns the bit set of the present ones.
pub fn write_delta(attributes: &[Attribute], out: &mut [f64]) -> u32 {
    let mut bits = 0u32;
    for (k, v) in attributes {
        let Some(i) = DELTA_KEYS.iter().position(|d| d == k) else { continue };
        bits |= 1 << i;
        out[i] = match (DELTA_KINDS[i], v) {
            (_, AttributeValue::Int(n)) => *n as f64,
            (_, AttributeValue::Double(d)) => *d,
            (_, AttributeValue::Bool(b)) => f64::from(u8::from(*b)),
            (2, AttributeValue::String(s)) => s.parse::<f64>().unwrap_or(f64::NAN),
            (_, AttributeValue::String(_)) => f64::NAN,
        };
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_trace::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
    use kafka_trace::span::{ClientInfo, MessageInfo, Options};

    #[test]
    fn slots_do_not_overlap() {
        assert!(METRIC_AT >= DELTA_KEYS.len());
        const { assert!(END_AT >= METRIC_AT + METRIC_SLOTS) };
        const { assert!(E2E_AT > END_AT && STRIDE > E2E_AT) };
        assert_eq!(DELTA_KEYS.len(), DELTA_KINDS.len());
    }

    #[test]
    fn every_attribute_is_in_the_template_or_a_slot() {
        let options = Options { record_body_size: true, ..Options::default() };
        let lc = Lifecycle::new(options, ClientInfo::default());
        let message = MessageInfo { topic: "t", partition: Some(1), offset: Some(5), key: Some(b"k"), payload_len: Some(3), timestamp_ms: Some(10) };
        let recipe = lc.process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 20).unwrap();
        let template = template_attributes(&recipe.span.attributes);
        let mut out = [0f64; STRIDE];
        let bits = write_delta(&recipe.span.attributes, &mut out);
        assert_eq!(template.len() + bits.count_ones() as usize, recipe.span.attributes.len());
        assert_eq!(bits, 0b11_0111);
        assert_eq!((out[0], out[1], out[4], out[5]), (1.0, 5.0, 3.0, 10.0));
        assert!(out[2].is_nan());
    }
}
