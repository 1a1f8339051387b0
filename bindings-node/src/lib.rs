//! Node.js addon (napi-rs) over the `kafka_trace` core.
//!
//! This crate only converts types: JavaScript header values (Buffer, string, arrays of them,
//! null) into byte slices for the core, and the core's results into the cheapest JavaScript
//! shapes (one string, a number, or numbers written into a caller-owned typed array). Every rule
//! (header names and policy, W3C codecs, span names, kinds, attributes, parent/link choice,
//! e2e latency) is the core's.
//!
//! Hot-path shapes (see DESIGN.md: a napi call costs ~35 ns, a Buffer ~200 ns, a fresh object
//! ~900 ns):
//! - [`extract`] returns one ASCII string `trace_id(32) span_id(16) flags(2) tracestate…` or the
//!   numeric error code, so the facade builds its `SpanContext` with substrings.
//! - [`SpanModel`] returns span *templates* once per topic (cached by the facade) and, per
//!   message, only the attributes that depend on the message, as a bit set plus numbers written
//!   into a reused `Float64Array`.
//! - [`extract_batch`] reads a whole `eachBatch` in one call.
#![deny(clippy::all)]

use kafka_trace::carrier::{self, Headers, HeadersMut, BAGGAGE, TRACEPARENT, TRACESTATE};
use kafka_trace::codec::baggage::Baggage;
use kafka_trace::codec::traceparent::TRACEPARENT_LEN;
use kafka_trace::interop::{self, HeaderKind};
use kafka_trace::semconv::{self as sc, metrics as m, operation};
use kafka_trace::span::{self, AttributeValue, ClientInfo, ContextSource, MessageInfo, Options, SpanKind, SpanSpec, Strategy, TopicFilter};
use kafka_trace::{ErrorCode, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceStateBuf};
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;

// ---------------------------------------------------------------------------------------------
// Names: everything the facade needs to spell, taken from the core once at load time.

/// Attribute keys and metric names of the core's semantic conventions.
#[napi(object)]
pub struct Names {
    /// Header names in the order the core writes them: traceparent, tracestate, baggage.
    pub fields: Vec<String>,
    pub traceparent: String,
    pub tracestate: String,
    pub baggage: String,
    /// Length of the version-00 traceparent the core writes.
    pub traceparent_len: u32,
    /// Layout of the compact context string returned by `extract`.
    pub compact_trace_id_len: u32,
    pub compact_span_id_len: u32,
    pub compact_flags_len: u32,
    /// The marker `extractBuffers` puts after the flags when the tracestate is the raw input.
    pub compact_same_tracestate: String,
    /// Attribute for the NestJS pattern that handled a message.
    pub nestjs_pattern: String,
    /// Keys of the per-message attributes, in bit order of the deltas (see `SpanModel`).
    pub delta_keys: Vec<String>,
    /// For each delta key: 0 number, 1 boolean, 2 string = the partition as text,
    /// 3 string = the message key as UTF-8 text (the core already checked it is UTF-8).
    pub delta_kinds: Vec<u32>,
    /// Attribute key of the Nest/handler pattern is not in the conventions; the error type is.
    pub error_type: String,
    pub destination_name: String,
    pub consumer_group_name: String,
    pub batch_message_count: String,
    pub system: String,
    pub operation_send: String,
    pub operation_process: String,
    pub operation_poll: String,
    pub metric_operation_duration: String,
    pub metric_sent_messages: String,
    pub metric_consumed_messages: String,
    pub metric_process_duration: String,
    pub metric_e2e_latency: String,
    pub unit_seconds: String,
    pub unit_messages: String,
    /// Error codes: `errorNames[code]` is the stable snake_case name ("" for unused numbers).
    pub error_names: Vec<String>,
    pub core_version: String,
}

const DELTA_KEYS: [&str; 6] = [
    sc::MESSAGING_DESTINATION_PARTITION_ID,
    sc::MESSAGING_KAFKA_OFFSET,
    sc::MESSAGING_KAFKA_MESSAGE_KEY,
    sc::MESSAGING_KAFKA_MESSAGE_TOMBSTONE,
    sc::MESSAGING_MESSAGE_BODY_SIZE,
    sc::KAFKA_TRACE_E2E_LATENCY_MS,
];
const DELTA_KINDS: [u32; 6] = [2, 0, 3, 1, 0, 0];
const TRACE_ID_HEX: usize = 32;
const SPAN_ID_HEX: usize = 16;
const FLAGS_HEX: usize = 2;

#[napi]
pub fn names() -> Names {
    let mut error_names = vec![String::new(); 1 + ErrorCode::ALL.len()];
    for code in ErrorCode::ALL {
        if let Some(slot) = error_names.get_mut(code.code() as usize) {
            *slot = code.as_str().to_owned();
        }
    }
    Names {
        fields: vec![TRACEPARENT.into(), TRACESTATE.into(), BAGGAGE.into()],
        traceparent: TRACEPARENT.into(),
        tracestate: TRACESTATE.into(),
        baggage: BAGGAGE.into(),
        traceparent_len: TRACEPARENT_LEN as u32,
        compact_trace_id_len: TRACE_ID_HEX as u32,
        compact_span_id_len: SPAN_ID_HEX as u32,
        compact_flags_len: FLAGS_HEX as u32,
        compact_same_tracestate: SAME_TRACESTATE.to_string(),
        nestjs_pattern: interop::NESTJS_PATTERN.into(),
        delta_keys: DELTA_KEYS.iter().map(|k| (*k).to_owned()).collect(),
        delta_kinds: DELTA_KINDS.to_vec(),
        error_type: sc::ERROR_TYPE.into(),
        destination_name: sc::MESSAGING_DESTINATION_NAME.into(),
        consumer_group_name: sc::MESSAGING_CONSUMER_GROUP_NAME.into(),
        batch_message_count: sc::MESSAGING_BATCH_MESSAGE_COUNT.into(),
        system: sc::MESSAGING_SYSTEM.into(),
        operation_send: operation::SEND.into(),
        operation_process: operation::PROCESS.into(),
        operation_poll: operation::POLL.into(),
        metric_operation_duration: m::CLIENT_OPERATION_DURATION.into(),
        metric_sent_messages: m::CLIENT_SENT_MESSAGES.into(),
        metric_consumed_messages: m::CLIENT_CONSUMED_MESSAGES.into(),
        metric_process_duration: m::PROCESS_DURATION.into(),
        metric_e2e_latency: m::E2E_LATENCY.into(),
        unit_seconds: m::UNIT_SECONDS.into(),
        unit_messages: m::UNIT_MESSAGES.into(),
        error_names,
        core_version: kafka_trace::VERSION.into(),
    }
}

/// Which of our headers `name` is: 0 none, 1 traceparent, 2 tracestate, 3 baggage (any case).
#[napi]
pub fn header_kind(name: String) -> u32 {
    HeaderKind::of(name.as_bytes()) as u32
}

// ---------------------------------------------------------------------------------------------
// Header values from JavaScript.

/// Bytes of one header value: borrowed from a Buffer/Uint8Array, or copied from a string.
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Null,
}

impl Bytes<'_> {
    fn get(&self) -> Option<&[u8]> {
        match self {
            Bytes::Borrowed(b) => Some(b),
            Bytes::Owned(v) => Some(v),
            Bytes::Null => None,
        }
    }
}

/// Appends the value(s) of one JavaScript header value: a Buffer or Uint8Array, a string, an
/// array of those (KafkaJS's shape for a repeated header), or null/undefined (a Kafka null
/// value). Anything else (a number, a plain object) reads as a null value; it never throws.
fn push_values<'a>(value: &Unknown<'a>, out: &mut Vec<Bytes<'a>>, depth: u8) -> Result<()> {
    match value.get_type()? {
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { value.cast()? };
            out.push(Bytes::Owned(s.into_bytes()));
        }
        ValueType::Object => {
            if value.is_buffer()? {
                // SAFETY: checked to be a Buffer; the slice lives as long as the call.
                let b: BufferSlice<'a> = unsafe { value.cast()? };
                out.push(Bytes::Borrowed(slice_of(b)));
            } else if value.is_typedarray()? {
                match unsafe { value.cast::<Uint8ArraySlice<'a>>() } {
                    Ok(u) => out.push(Bytes::Borrowed(typed_slice(u))),
                    Err(_) => out.push(Bytes::Null),
                }
            } else if depth == 0 && value.is_array()? {
                // SAFETY: checked to be an array.
                let array: Array<'a> = unsafe { value.cast()? };
                for i in 0..array.len() {
                    if let Some(item) = array.get::<Unknown<'a>>(i)? {
                        push_values(&item, out, depth + 1)?;
                    }
                }
            } else {
                out.push(Bytes::Null);
            }
        }
        _ => out.push(Bytes::Null),
    }
    Ok(())
}

fn slice_of(b: BufferSlice<'_>) -> &[u8] {
    let bytes: &[u8] = &b;
    // The Buffer is kept alive by the JavaScript caller for the duration of this call; extend
    // the borrow from the local handle to that duration.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

fn typed_slice(u: Uint8ArraySlice<'_>) -> &[u8] {
    let bytes: &[u8] = &u;
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

/// A header list borrowed from JavaScript values, for the core's [`Headers`] trait.
struct View<'a> {
    items: Vec<(&'static str, Bytes<'a>)>,
}

impl Headers for View<'_> {
    fn header_count(&self) -> usize {
        self.items.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.items.get(index).map(|(n, v)| (*n, v.get()))
    }
}

fn is_absent(value: &Unknown<'_>) -> Result<bool> {
    Ok(value.get_type()? == ValueType::Undefined)
}

/// Builds the list the core reads from the values of our headers (`undefined` = absent).
fn view_of<'a>(tp: &Unknown<'a>, ts: &Unknown<'a>) -> Result<View<'a>> {
    let mut items = Vec::with_capacity(2);
    let mut values = Vec::with_capacity(2);
    for (name, value) in [(TRACEPARENT, tp), (TRACESTATE, ts)] {
        if is_absent(value)? {
            continue;
        }
        values.clear();
        push_values(value, &mut values, 0)?;
        items.extend(values.drain(..).map(|v| (name, v)));
    }
    Ok(View { items })
}

/// Writes the compact form of a valid context: 32 + 16 + 2 hex digits, then the normalized
/// tracestate (possibly empty).
fn compact(out: &mut String, parent: &TraceParent, tracestate: &std::result::Result<kafka_trace::TraceState<'_>, ErrorCode>) {
    let encoded = parent.encode();
    // `00-` + trace id + `-` + span id + `-` + flags: take the hex digits out of the encoding.
    out.push_str(std::str::from_utf8(&encoded[3..3 + TRACE_ID_HEX]).unwrap_or_default());
    out.push_str(std::str::from_utf8(&encoded[36..36 + SPAN_ID_HEX]).unwrap_or_default());
    out.push_str(std::str::from_utf8(&encoded[53..53 + FLAGS_HEX]).unwrap_or_default());
    if let Ok(state) = tracestate {
        for (i, member) in state.members().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(member.key);
            out.push('=');
            out.push_str(member.value);
        }
    }
}

/// Reads the parent context from the values of the `traceparent` and `tracestate` headers of
/// one message (each `undefined` when absent; a value may be a Buffer, string, array of them or
/// null). Returns the compact context string, or the error code (a number) for a new root.
#[napi]
pub fn extract<'a>(traceparent: Unknown<'a>, tracestate: Unknown<'a>) -> Result<Either<String, u32>> {
    let view = view_of(&traceparent, &tracestate)?;
    let got = carrier::extract_parts(&view);
    Ok(match &got.parent {
        Ok(parent) => {
            let mut out = String::with_capacity(64);
            compact(&mut out, parent, &got.tracestate);
            Either::A(out)
        }
        Err(code) => Either::B(code.code()),
    })
}

/// Marker after the flags in a compact context: the tracestate is byte for byte the single raw
/// tracestate value the caller passed (already normalized), so the facade can keep that value
/// and decode it only if someone reads it.
const SAME_TRACESTATE: char = '=';

fn compact_fast(parent: &TraceParent, tracestate: &std::result::Result<kafka_trace::TraceState<'_>, ErrorCode>, raw: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    compact(&mut out, parent, tracestate);
    let head = TRACE_ID_HEX + SPAN_ID_HEX + FLAGS_HEX;
    if !raw.is_empty() && out.as_bytes()[head..] == *raw {
        out.truncate(head);
        out.push(SAME_TRACESTATE);
    }
    out
}

/// [`extract`] for the common KafkaJS shape: one `traceparent` Buffer and one `tracestate`
/// Buffer (empty when absent). After the flags, `=` means "the tracestate is exactly the raw
/// value you passed"; otherwise the normalized tracestate follows (empty = none).
#[napi]
pub fn extract_buffers(traceparent: BufferSlice<'_>, tracestate: BufferSlice<'_>) -> Either<String, u32> {
    let tp: &[u8] = &traceparent;
    let ts: &[u8] = &tracestate;
    let view = View { items: if ts.is_empty() { vec![(TRACEPARENT, Bytes::Borrowed(tp))] } else { vec![(TRACEPARENT, Bytes::Borrowed(tp)), (TRACESTATE, Bytes::Borrowed(ts))] } };
    let got = carrier::extract_parts(&view);
    match &got.parent {
        Ok(parent) => Either::A(compact_fast(parent, &got.tracestate, ts)),
        Err(code) => Either::B(code.code()),
    }
}

// ---------------------------------------------------------------------------------------------
// The scratch buffer: a per-thread block of Rust memory that JavaScript sees as a Uint8Array.
// Copying a header value into it from JavaScript (`TypedArray#set`) and passing lengths is much
// cheaper than passing Buffers through napi, and results come back the same way.

const SCRATCH_LEN: usize = 16 * 1024;
/// Inputs go below this offset, outputs at and above it.
const SCRATCH_OUT: usize = 8 * 1024;

thread_local! {
    static SCRATCH: std::cell::Cell<*mut u8> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// The scratch memory of this thread as a Uint8Array (the first call only; later calls return
/// null, since two ArrayBuffers must not share one backing store). `scratchLayout()` gives the
/// offsets.
#[napi]
pub fn scratch(env: &Env) -> Result<Option<Uint8ArraySlice<'_>>> {
    SCRATCH.with(|cell| {
        if !cell.get().is_null() {
            return Ok(None);
        }
        let memory: &'static mut [u8] = Box::leak(vec![0u8; SCRATCH_LEN].into_boxed_slice());
        let ptr = memory.as_mut_ptr();
        cell.set(ptr);
        // SAFETY: the memory is leaked (lives as long as the thread's JavaScript environment), is
        // used by one thread, and only inside calls from that thread's JavaScript.
        unsafe { Uint8ArraySlice::from_external(env, ptr, SCRATCH_LEN, (), |_, _| {}) }.map(Some)
    })
}

/// `[length, output offset]` of the scratch memory.
#[napi]
pub fn scratch_layout() -> Vec<u32> {
    vec![SCRATCH_LEN as u32, SCRATCH_OUT as u32]
}

fn with_scratch<R>(f: impl FnOnce(&mut [u8], &mut [u8]) -> R) -> Option<R> {
    SCRATCH.with(|cell| {
        let ptr = cell.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: see `scratch`; JavaScript is not running while this call does.
        let memory = unsafe { std::slice::from_raw_parts_mut(ptr, SCRATCH_LEN) };
        let (input, output) = memory.split_at_mut(SCRATCH_OUT);
        Some(f(input, output))
    })
}

/// [`extract_buffers`] over the scratch memory: the traceparent value is at `0..tp_len`, the
/// tracestate value right after it (`ts_len` bytes, 0 = absent). Writes the compact context at
/// the output offset and returns its length, or returns `-code` for a new root.
#[napi]
pub fn extract_scratch(tp_len: u32, ts_len: u32) -> i32 {
    let too_small = -(ErrorCode::BufferTooSmall.code() as i32);
    with_scratch(|input, output| {
        let (tp_len, ts_len) = (tp_len as usize, ts_len as usize);
        if tp_len + ts_len > input.len() {
            return too_small;
        }
        let tp = &input[..tp_len];
        let ts = &input[tp_len..tp_len + ts_len];
        let view = View {
            items: if ts.is_empty() {
                vec![(TRACEPARENT, Bytes::Borrowed(tp))]
            } else {
                vec![(TRACEPARENT, Bytes::Borrowed(tp)), (TRACESTATE, Bytes::Borrowed(ts))]
            },
        };
        let got = carrier::extract_parts(&view);
        match &got.parent {
            Ok(parent) => {
                let compact = compact_fast(parent, &got.tracestate, ts);
                match output.get_mut(..compact.len()) {
                    Some(slot) => {
                        slot.copy_from_slice(compact.as_bytes());
                        compact.len() as i32
                    }
                    None => too_small,
                }
            }
            Err(code) => -(code.code() as i32),
        }
    })
    .unwrap_or(too_small)
}

/// The parent alone over the scratch memory (the traceparent value at `0..tp_len`): writes the
/// 50 hex digits of trace id, span id and flags at the output offset and returns 50, or returns
/// `-code`. The facade reads the tracestate lazily with [`tracestate_of`], only when it is used,
/// which gives the same result as reading both at once (the tracestate never changes the parent).
#[napi]
pub fn extract_scratch_parent(tp_len: u32) -> i32 {
    let too_small = -(ErrorCode::BufferTooSmall.code() as i32);
    with_scratch(|input, output| {
        let Some(tp) = input.get(..tp_len as usize) else { return too_small };
        let view = View { items: vec![(TRACEPARENT, Bytes::Borrowed(tp))] };
        let parent = carrier::extract_parts(&view).parent;
        match parent {
            Ok(parent) => {
                let encoded = parent.encode();
                let head = TRACE_ID_HEX + SPAN_ID_HEX + FLAGS_HEX;
                output[..TRACE_ID_HEX].copy_from_slice(&encoded[3..3 + TRACE_ID_HEX]);
                output[TRACE_ID_HEX..TRACE_ID_HEX + SPAN_ID_HEX].copy_from_slice(&encoded[36..36 + SPAN_ID_HEX]);
                output[TRACE_ID_HEX + SPAN_ID_HEX..head].copy_from_slice(&encoded[53..53 + FLAGS_HEX]);
                head as i32
            }
            Err(code) => -(code.code() as i32),
        }
    })
    .unwrap_or(too_small)
}

/// The normalized tracestate of a message whose parent is valid, from its `tracestate` header
/// value(s) (Buffer, string or arrays of them); "" when absent or discarded.
#[napi]
pub fn tracestate_of(values: Unknown<'_>) -> Result<String> {
    let mut list = Vec::new();
    push_values(&values, &mut list, 0)?;
    let normalized = match kafka_trace::TraceState::parse_values(list.iter().filter_map(Bytes::get)) {
        Ok(state) => TraceStateBuf::from_state(&state).as_str().to_owned(),
        Err(_) => String::new(),
    };
    Ok(normalized)
}

/// Many messages in one call over the scratch memory (an `eachBatch`): the input holds, back to
/// back, each message's traceparent then tracestate bytes; `lengths[2i]`, `lengths[2i+1]` are
/// their lengths (`-1` = header absent). On return `lengths[2i]..lengths[2i+1]` is message i's
/// compact context in the output region, or `lengths[2i]` is `-code` and `lengths[2i+1]` 0.
/// Returns how many messages were read (fewer than asked when the output region is full).
#[napi]
pub fn extract_scratch_batch(mut lengths: Int32ArraySlice<'_>, count: u32) -> u32 {
    // SAFETY: JavaScript does not run while this call does.
    let lengths = unsafe { lengths.as_mut() };
    with_scratch(|input, output| {
        let mut at = 0usize;
        let mut written = 0usize;
        let count = (count as usize).min(lengths.len() / 2);
        for i in 0..count {
            let (tp_len, ts_len) = (lengths[2 * i], lengths[2 * i + 1]);
            let take = |len: i32, at: &mut usize| -> Option<Option<&[u8]>> {
                if len < 0 {
                    return Some(None);
                }
                let end = at.checked_add(len as usize)?;
                let bytes = input.get(*at..end)?;
                *at = end;
                Some(Some(bytes))
            };
            let (Some(tp), Some(ts)) = (take(tp_len, &mut at), take(ts_len, &mut at)) else { return i as u32 };
            let mut items = Vec::with_capacity(2);
            if let Some(tp) = tp {
                items.push((TRACEPARENT, Bytes::Borrowed(tp)));
            }
            if let Some(ts) = ts {
                items.push((TRACESTATE, Bytes::Borrowed(ts)));
            }
            let view = View { items };
            let got = carrier::extract_parts(&view);
            match &got.parent {
                Ok(parent) => {
                    let compact = compact_fast(parent, &got.tracestate, ts.unwrap_or_default());
                    let Some(slot) = output.get_mut(written..written + compact.len()) else { return i as u32 };
                    slot.copy_from_slice(compact.as_bytes());
                    lengths[2 * i] = written as i32;
                    written += compact.len();
                    lengths[2 * i + 1] = written as i32;
                }
                Err(code) => {
                    lengths[2 * i] = -(code.code() as i32);
                    lengths[2 * i + 1] = 0;
                }
            }
        }
        count as u32
    })
    .unwrap_or(0)
}

/// Offset in the scratch input of the flag bytes of [`traceparent_scratch_batch`].
const BATCH_FLAGS_AT: usize = 4096;

/// Many traceparents in one call (a `send`/`sendBatch`): message i's trace id and span id hex
/// are at `48*i..48*i+48` of the input, its flags byte at `4096+i`. Writes each traceparent at
/// `55*i` of the output (a first byte 0 marks invalid ids) and returns how many were written.
#[napi]
pub fn traceparent_scratch_batch(count: u32) -> u32 {
    with_scratch(|input, output| {
        let ids = TRACE_ID_HEX + SPAN_ID_HEX;
        let count = (count as usize).min(BATCH_FLAGS_AT / ids).min(output.len() / TRACEPARENT_LEN);
        for i in 0..count {
            let hex = &input[ids * i..ids * (i + 1)];
            let trace_id = std::str::from_utf8(&hex[..TRACE_ID_HEX]).unwrap_or_default();
            let span_id = std::str::from_utf8(&hex[TRACE_ID_HEX..]).unwrap_or_default();
            let slot = &mut output[TRACEPARENT_LEN * i..TRACEPARENT_LEN * (i + 1)];
            match parent_of(trace_id, span_id, u32::from(input[BATCH_FLAGS_AT + i])) {
                Some(tp) => slot.copy_from_slice(&tp.encode()),
                None => slot[0] = 0,
            }
        }
        count as u32
    })
    .unwrap_or(0)
}

/// [`traceparent_header`] over the scratch memory: the trace id hex at `0..32`, the span id hex
/// at `32..48`. Writes the traceparent at the output offset and returns its length (0 = invalid).
#[napi]
pub fn traceparent_scratch(flags: u32) -> u32 {
    with_scratch(|input, output| {
        let trace_id = std::str::from_utf8(&input[..TRACE_ID_HEX]).unwrap_or_default();
        let span_id = std::str::from_utf8(&input[TRACE_ID_HEX..TRACE_ID_HEX + SPAN_ID_HEX]).unwrap_or_default();
        match parent_of(trace_id, span_id, flags) {
            Some(tp) => tp.write_to(output).map(|n| n as u32).unwrap_or(0),
            None => 0,
        }
    })
    .unwrap_or(0)
}

/// Reads the contexts of a whole batch in one call. `values` holds two entries per message
/// (traceparent value, tracestate value; `undefined` when absent). Returns the compact contexts
/// joined in one string; `bounds[2i]..bounds[2i+1]` is message i's slice, or `bounds[2i]` is
/// `-code` and `bounds[2i+1]` 0 when it starts a new root.
#[napi]
pub fn extract_batch<'a>(values: Array<'a>, mut bounds: Int32ArraySlice<'a>) -> Result<String> {
    // SAFETY: JavaScript does not run while this call does.
    let bounds = unsafe { bounds.as_mut() };
    let count = (values.len() / 2) as usize;
    let mut out = String::with_capacity(count * 50);
    for i in 0..count.min(bounds.len() / 2) {
        let tp: Unknown<'a> = values.get(2 * i as u32)?.ok_or_else(|| Error::from_reason("missing value"))?;
        let ts: Unknown<'a> = values.get(2 * i as u32 + 1)?.ok_or_else(|| Error::from_reason("missing value"))?;
        let view = view_of(&tp, &ts)?;
        let got = carrier::extract_parts(&view);
        match &got.parent {
            Ok(parent) => {
                let start = out.len();
                compact(&mut out, parent, &got.tracestate);
                bounds[2 * i] = start as i32;
                bounds[2 * i + 1] = out.len() as i32;
            }
            Err(code) => {
                bounds[2 * i] = -(code.code() as i32);
                bounds[2 * i + 1] = 0;
            }
        }
    }
    Ok(out)
}

/// Decodes the baggage from the values of the `baggage` header(s) (Buffer, string, array of them).
/// Returns `[key, value, properties, key, value, properties, …]`, properties joined with `;`.
#[napi]
pub fn parse_baggage(values: Unknown<'_>) -> Result<Vec<String>> {
    let mut list = Vec::new();
    push_values(&values, &mut list, 0)?;
    let baggage = Baggage::parse_values(list.iter().filter_map(Bytes::get));
    Ok(flat_baggage(&baggage))
}

fn flat_baggage(baggage: &Baggage) -> Vec<String> {
    let mut out = Vec::with_capacity(baggage.entries().len() * 3);
    for e in baggage.entries() {
        out.push(e.key.clone());
        out.push(e.value.clone());
        out.push(e.properties.join(";"));
    }
    out
}

/// The baggage header value for `[key, value, properties, …]` entries ("" = write none).
#[napi]
pub fn baggage_header(entries: Vec<String>) -> String {
    baggage_of(&entries).to_header_string()
}

fn baggage_of(entries: &[String]) -> Baggage {
    interop::baggage_from_entries(entries.chunks_exact(3).map(|c| (c[0].as_str(), c[1].as_str(), c[2].as_str())))
}

/// The traceparent header value of a span context ("" when the ids are not valid).
#[napi]
pub fn traceparent_header(trace_id: String, span_id: String, flags: u32) -> String {
    match parent_of(&trace_id, &span_id, flags) {
        Some(tp) => String::from_utf8_lossy(&tp.encode()).into_owned(),
        None => String::new(),
    }
}

fn parent_of(trace_id: &str, span_id: &str, flags: u32) -> Option<TraceParent> {
    let trace_id = TraceId::from_hex(trace_id.as_bytes()).filter(TraceId::is_valid)?;
    let span_id = SpanId::from_hex(span_id.as_bytes()).filter(SpanId::is_valid)?;
    Some(TraceParent::new(trace_id, span_id, TraceFlags((flags & 0xff) as u8)))
}

/// The tracestate header value to write for a serialized tracestate: normalized and truncated
/// ("" = write none; an invalid tracestate also writes none).
#[napi]
pub fn tracestate_header(serialized: String) -> String {
    match TraceStateBuf::parse(serialized.as_bytes()) {
        Ok(buf) => String::from_utf8_lossy(buf.header_value().as_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// `key=value` put first in a normalized tracestate; `null` when the key or value is invalid.
#[napi]
pub fn tracestate_set(serialized: String, key: String, value: String) -> Option<String> {
    let mut buf = TraceStateBuf::parse(serialized.as_bytes()).unwrap_or_default();
    buf.set(&key, &value).ok()?;
    Some(buf.as_str().to_owned())
}

/// The normalized tracestate without `key`.
#[napi]
pub fn tracestate_unset(serialized: String, key: String) -> String {
    let buf = TraceStateBuf::parse(serialized.as_bytes()).unwrap_or_default();
    interop::tracestate_unset(&buf, &key).as_str().to_owned()
}

/// `[key, value, key, value, …]` of a tracestate, or the error code when it is discarded.
#[napi]
pub fn tracestate_members(serialized: String) -> Either<Vec<String>, u32> {
    match interop::tracestate_members(serialized.as_bytes()) {
        Ok(members) => Either::A(members.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Err(code) => Either::B(code.code()),
    }
}

// ---------------------------------------------------------------------------------------------
// Whole header lists (`[name, value, name, value, …]`): the complete, slower API used by the
// shared vectors and by producers that must rewrite existing trace headers.

struct OwnedList(Vec<(String, Option<Vec<u8>>)>);

impl Headers for OwnedList {
    fn header_count(&self) -> usize {
        self.0.header_count()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.0.header(index)
    }
}

fn owned_list(list: &Array<'_>) -> Result<OwnedList> {
    let mut out = Vec::with_capacity(list.len() as usize / 2);
    let mut values = Vec::new();
    for i in 0..list.len() / 2 {
        let name: String = list.get(2 * i)?.unwrap_or_default();
        let value: Unknown<'_> = list.get(2 * i + 1)?.ok_or_else(|| Error::from_reason("missing value"))?;
        values.clear();
        push_values(&value, &mut values, 1)?;
        let bytes = values.first().and_then(Bytes::get).map(<[u8]>::to_vec);
        out.push((name, bytes));
    }
    Ok(OwnedList(out))
}

/// Everything the core reads from a header list.
#[napi(object)]
pub struct ExtractedList {
    /// `[version, traceId, spanId, flags]` as lowercase hex, or null for a new root.
    pub traceparent: Option<Vec<String>>,
    /// Why a new root: the stable error code name ("" when the parent is valid).
    pub error: String,
    /// `[key, value, …]`.
    pub tracestate: Vec<String>,
    /// Why the tracestate was discarded ("" when it was not).
    pub tracestate_error: String,
    /// `[key, value, properties, …]`.
    pub baggage: Vec<String>,
}

/// Extracts from a complete header list `[name, value, …]` (value: Buffer, string or null).
#[napi]
pub fn extract_list(list: Array<'_>) -> Result<ExtractedList> {
    let headers = owned_list(&list)?;
    let got = carrier::extract_parts(&headers);
    let (traceparent, error) = match &got.parent {
        Ok(tp) => (
            Some(vec![format!("{:02x}", tp.version), tp.trace_id.to_string(), tp.span_id.to_string(), format!("{:02x}", tp.flags.0)]),
            String::new(),
        ),
        Err(code) => (None, code.as_str().to_owned()),
    };
    let (tracestate, tracestate_error) = match &got.tracestate {
        Ok(ts) => (ts.members().iter().flat_map(|m| [m.key.to_owned(), m.value.to_owned()]).collect(), String::new()),
        Err(code) => (Vec::new(), code.as_str().to_owned()),
    };
    Ok(ExtractedList { traceparent, error, tracestate, tracestate_error, baggage: flat_baggage(&got.baggage) })
}

/// Injects a context into a complete header list `[name, value, …]` with the core's write
/// policy (replace in place, drop copies, append what is missing) and returns the new list;
/// values are Buffers (null for Kafka null values). Returns null when the ids are invalid.
#[napi]
pub fn inject_list(
    env: &Env,
    list: Array<'_>,
    trace_id: String,
    span_id: String,
    flags: u32,
    tracestate: String,
    baggage: Vec<String>,
) -> Result<Option<Vec<Unknown<'static>>>> {
    let Some(parent) = parent_of(&trace_id, &span_id, flags) else { return Ok(None) };
    let mut headers = owned_list(&list)?.0;
    let context = TraceContext {
        traceparent: parent,
        tracestate: TraceStateBuf::parse(tracestate.as_bytes()).unwrap_or_default(),
        baggage: baggage_of(&baggage),
    };
    carrier::inject(&context, &mut headers);
    let mut out = Vec::with_capacity(headers.len() * 2);
    for (name, value) in headers {
        out.push(env.create_string(&name)?.to_unknown());
        match value {
            Some(v) => out.push(BufferSlice::copy_from(env, v)?.to_unknown()),
            None => out.push(Null.into_unknown(env)?),
        }
    }
    // SAFETY of the lifetime: the values are returned to JavaScript right away.
    Ok(Some(out.into_iter().map(|u| unsafe { std::mem::transmute::<Unknown<'_>, Unknown<'static>>(u) }).collect()))
}

/// Rewrites the headers of a message that already carries trace headers (`list` is
/// `[name, value, …]` where a value may also be an array, as in KafkaJS). Returns the new list
/// `[name, valueOrIndex, …]`: a number is the index in `list` of the original value to keep, a
/// string is a value we wrote. Lets the facade keep untouched values (Buffers, arrays) as given.
#[napi]
pub fn rewrite_list(names: Vec<String>, traceparent: String, tracestate: String, baggage: String) -> Vec<Either<String, u32>> {
    struct Slots(Vec<(String, Either<String, u32>)>);
    impl Headers for Slots {
        fn header_count(&self) -> usize {
            self.0.len()
        }
        fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
            self.0.get(index).map(|(n, _)| (n.as_str(), None))
        }
    }
    impl HeadersMut for Slots {
        fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
            if let Some(slot) = self.0.get_mut(index) {
                *slot = (name.to_owned(), Either::A(String::from_utf8_lossy(value).into_owned()));
            }
        }
        fn remove_header(&mut self, index: usize) {
            if index < self.0.len() {
                self.0.remove(index);
            }
        }
        fn append_header(&mut self, name: &str, value: &[u8]) {
            self.0.push((name.to_owned(), Either::A(String::from_utf8_lossy(value).into_owned())));
        }
    }
    let mut slots = Slots(names.into_iter().enumerate().map(|(i, n)| (n, Either::B(i as u32))).collect());
    let Ok(parent) = TraceParent::parse(traceparent.as_bytes()) else {
        return slots.0.into_iter().flat_map(|(n, v)| [Either::A(n), v]).collect();
    };
    carrier::inject_values(&mut slots, &parent, tracestate.as_bytes(), baggage.as_bytes());
    slots.0.into_iter().flat_map(|(n, v)| [Either::A(n), v]).collect()
}

// ---------------------------------------------------------------------------------------------
// The span model.

/// Configuration of a [`SpanModel`] (all optional; defaults are the core's).
#[napi(object)]
pub struct ModelConfig {
    /// `parent` (default) or `link`.
    pub strategy: Option<String>,
    pub record_message_key: Option<bool>,
    pub record_body_size: Option<bool>,
    pub include_topics: Option<Vec<String>>,
    pub exclude_topics: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub consumer_group: Option<String>,
    /// `bootstrap.servers`-style list, `host:port,host:port`.
    pub brokers: Option<String>,
}

/// A span as the core specifies it, with the kind and context sources as numbers: kind is the
/// `@opentelemetry/api` `SpanKind` value; parent/links: 0 ambient, 1 remote, 2 poll.
#[napi(object)]
pub struct JsSpanSpec {
    pub name: String,
    pub kind: u32,
    pub attributes: Object<'static>,
    pub metric_attributes: Object<'static>,
    pub parent: u32,
    pub links: Vec<u32>,
    pub e2e_latency_ms: Option<f64>,
}

fn otel_kind(kind: SpanKind) -> u32 {
    // @opentelemetry/api SpanKind: INTERNAL 0, SERVER 1, CLIENT 2, PRODUCER 3, CONSUMER 4.
    match kind {
        SpanKind::Client => 2,
        SpanKind::Producer => 3,
        SpanKind::Consumer => 4,
    }
}

fn source(source: ContextSource) -> u32 {
    match source {
        ContextSource::Ambient => 0,
        ContextSource::Remote => 1,
        ContextSource::Poll => 2,
    }
}

fn attributes_object(env: &Env, attributes: &[(&'static str, AttributeValue)]) -> Result<Object<'static>> {
    let mut obj = Object::new(env)?;
    for (k, v) in attributes {
        match v {
            AttributeValue::String(s) => obj.set(k, s.as_str())?,
            AttributeValue::Int(i) => obj.set(k, *i as f64)?,
            AttributeValue::Bool(b) => obj.set(k, *b)?,
            AttributeValue::Double(d) => obj.set(k, *d)?,
        }
    }
    // SAFETY of the lifetime: the object is returned to JavaScript right away.
    Ok(unsafe { std::mem::transmute::<Object<'_>, Object<'static>>(obj) })
}

fn js_spec(env: &Env, spec: &SpanSpec) -> Result<JsSpanSpec> {
    Ok(JsSpanSpec {
        name: spec.name.clone(),
        kind: otel_kind(spec.kind),
        attributes: attributes_object(env, &spec.attributes)?,
        metric_attributes: attributes_object(env, &spec.metric_attributes())?,
        parent: source(spec.parent),
        links: spec.links.iter().copied().map(source).collect(),
        e2e_latency_ms: spec.e2e_latency_ms,
    })
}

/// Writes the per-message attributes of `spec` (those in `DELTA_KEYS`) into `out` (one slot per
/// key: the number, 1/0 for a boolean, NaN for a string the facade converts from its input) and
/// returns the bit set of present keys, the bit set of those that are also metric attributes
/// (<< 8), the parent source (<< 16) and the link sources (bit 20 + source).
fn delta(spec: &SpanSpec, out: &mut [f64]) -> u32 {
    let mut bits = 0u32;
    for (k, v) in &spec.attributes {
        let Some(i) = DELTA_KEYS.iter().position(|d| d == k) else { continue };
        bits |= 1 << i;
        if let Some(slot) = out.get_mut(i) {
            *slot = match v {
                AttributeValue::Int(n) => *n as f64,
                AttributeValue::Double(d) => *d,
                AttributeValue::Bool(b) => f64::from(u8::from(*b)),
                AttributeValue::String(_) => f64::NAN,
            };
        }
    }
    for (k, _) in spec.metric_attributes() {
        if let Some(i) = DELTA_KEYS.iter().position(|d| *d == k) {
            bits |= 1 << (8 + i);
        }
    }
    bits |= source(spec.parent) << 16;
    for link in &spec.links {
        bits |= 1 << (20 + source(*link));
    }
    bits
}

fn optional_key<'a>(key: &'a Unknown<'a>, holder: &'a mut Vec<Bytes<'a>>) -> Result<Option<&'a [u8]>> {
    if matches!(key.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    push_values(key, holder, 1)?;
    Ok(holder.first().and_then(Bytes::get))
}

fn opt_i32(v: f64) -> Option<i32> {
    (v.is_finite() && v >= 0.0).then_some(v as i32)
}

fn opt_i64(v: f64) -> Option<i64> {
    (v.is_finite()).then_some(v as i64)
}

/// The core's span model for one client (producer or consumer) and its options.
#[napi]
pub struct SpanModel {
    client: ClientInfo,
    options: Options,
}

#[napi]
impl SpanModel {
    #[napi(constructor)]
    pub fn new(config: Option<ModelConfig>) -> Result<Self> {
        let config = config.unwrap_or(ModelConfig {
            strategy: None,
            record_message_key: None,
            record_body_size: None,
            include_topics: None,
            exclude_topics: None,
            client_id: None,
            consumer_group: None,
            brokers: None,
        });
        let defaults = Options::default();
        let strategy = match &config.strategy {
            None => Strategy::default(),
            Some(s) => Strategy::parse(s).ok_or_else(|| Error::new(Status::InvalidArg, format!("unknown strategy {s:?} (parent or link)")))?,
        };
        let options = Options {
            strategy,
            record_message_key: config.record_message_key.unwrap_or(defaults.record_message_key),
            record_body_size: config.record_body_size.unwrap_or(defaults.record_body_size),
            topics: TopicFilter { include: config.include_topics.unwrap_or_default(), exclude: config.exclude_topics.unwrap_or_default() },
        };
        let mut client = ClientInfo { client_id: config.client_id, consumer_group: config.consumer_group, ..ClientInfo::default() };
        if let Some(brokers) = &config.brokers {
            client = client.with_bootstrap(brokers);
        }
        Ok(Self { client, options })
    }

    /// Whether spans are made for `topic`.
    #[napi]
    pub fn allows(&self, topic: String) -> bool {
        self.options.topics.allows(&topic)
    }

    /// The `send {topic}` span of a message that has no per-message attributes (cache it per topic).
    #[napi]
    pub fn send_template(&self, env: &Env, topic: String) -> Result<JsSpanSpec> {
        let message = MessageInfo { topic: &topic, payload_len: Some(0), ..MessageInfo::default() };
        js_spec(env, &span::send_span(&message, &self.client, &self.options))
    }

    /// Per-message part of a `send` span (see `delta`). `partition` < 0 = not chosen by the
    /// caller; `payload_len` < 0 = tombstone.
    #[napi]
    pub fn send_delta(&self, topic: String, partition: f64, key: Unknown<'_>, payload_len: f64, mut out: Float64ArraySlice<'_>) -> Result<u32> {
        let out = unsafe { out.as_mut() };
        let mut holder = Vec::new();
        let key = optional_key(&key, &mut holder)?;
        let message = MessageInfo {
            topic: &topic,
            partition: opt_i32(partition),
            key,
            payload_len: (payload_len >= 0.0).then_some(payload_len as usize),
            ..MessageInfo::default()
        };
        Ok(delta(&span::send_span(&message, &self.client, &self.options), out))
    }

    /// Per-message attributes of a send acknowledged at `partition`/`offset` (offset < 0 unknown).
    #[napi]
    pub fn send_outcome_delta(&self, partition: i32, offset: f64, mut out: Float64ArraySlice<'_>) -> u32 {
        let out = unsafe { out.as_mut() };
        let outcome = span::send_outcome(Ok((partition, opt_i64(offset).unwrap_or(-1))));
        let spec = SpanSpec {
            name: String::new(),
            kind: SpanKind::Producer,
            attributes: outcome.attributes,
            parent: ContextSource::Ambient,
            links: Vec::new(),
            e2e_latency_ms: None,
        };
        delta(&spec, out) & 0xffff
    }

    /// The per-message parts of every `send` span of one `send`/`sendBatch` call for `topic`, in
    /// one call: `nums` holds 2 numbers per message (partition or -1, payload length or -1 for a
    /// tombstone), `keys` the keys. Writes 6 slots per message into `out`, the bit sets into `bits`.
    #[napi]
    pub fn send_batch_delta(&self, topic: String, nums: &[f64], keys: Array<'_>, mut out: Float64ArraySlice<'_>, mut bits: Uint32ArraySlice<'_>) -> Result<()> {
        // SAFETY: JavaScript does not run while this call does.
        let (out, bits) = unsafe { (out.as_mut(), bits.as_mut()) };
        let count = bits.len().min(nums.len() / 2).min(out.len() / DELTA_KEYS.len());
        for i in 0..count {
            let key: Unknown<'_> = keys.get(i as u32)?.ok_or_else(|| Error::from_reason("missing key"))?;
            let mut holder = Vec::new();
            let key = optional_key(&key, &mut holder)?;
            let message = MessageInfo {
                topic: &topic,
                partition: opt_i32(nums[2 * i]),
                key,
                payload_len: (nums[2 * i + 1] >= 0.0).then_some(nums[2 * i + 1] as usize),
                ..MessageInfo::default()
            };
            let spec = span::send_span(&message, &self.client, &self.options);
            bits[i] = delta(&spec, &mut out[DELTA_KEYS.len() * i..DELTA_KEYS.len() * (i + 1)]);
        }
        Ok(())
    }

    /// [`Self::send_outcome_delta`] for many acknowledged messages in one call: `nums` holds
    /// 2 numbers per message (partition, offset or -1).
    #[napi]
    pub fn send_outcome_batch_delta(&self, nums: &[f64], mut out: Float64ArraySlice<'_>, mut bits: Uint32ArraySlice<'_>) {
        // SAFETY: JavaScript does not run while this call does.
        let (out, bits) = unsafe { (out.as_mut(), bits.as_mut()) };
        let count = bits.len().min(nums.len() / 2).min(out.len() / DELTA_KEYS.len());
        for i in 0..count {
            let partition = opt_i32(nums[2 * i]).unwrap_or(-1);
            let outcome = span::send_outcome(Ok((partition, opt_i64(nums[2 * i + 1]).unwrap_or(-1))));
            let spec = SpanSpec {
                name: String::new(),
                kind: SpanKind::Producer,
                attributes: outcome.attributes,
                parent: ContextSource::Ambient,
                links: Vec::new(),
                e2e_latency_ms: None,
            };
            bits[i] = delta(&spec, &mut out[DELTA_KEYS.len() * i..DELTA_KEYS.len() * (i + 1)]) & 0xffff;
        }
    }

    /// Attributes and status description of a failed operation.
    #[napi]
    pub fn error_outcome(&self, env: &Env, error_type: String) -> Result<JsSpanSpec> {
        let outcome = span::error_outcome(&error_type);
        let spec = SpanSpec {
            name: outcome.error.unwrap_or_default(),
            kind: SpanKind::Producer,
            attributes: outcome.attributes,
            parent: ContextSource::Ambient,
            links: Vec::new(),
            e2e_latency_ms: None,
        };
        js_spec(env, &spec)
    }

    /// The `process {topic}` span template for a message without per-message attributes, for a
    /// single message (`batch` false: `remote_valid`, `ambient_valid` choose parent and links) or
    /// a message inside a batch.
    #[napi]
    pub fn process_template(&self, env: &Env, topic: String, remote_valid: bool, ambient_valid: bool, batch: bool) -> Result<JsSpanSpec> {
        let message = MessageInfo { topic: &topic, payload_len: Some(0), ..MessageInfo::default() };
        let spec = if batch {
            span::batch_process_span(&message, &self.client, &self.options, remote_valid, 0)
        } else {
            span::process_span(&message, &self.client, &self.options, remote_valid, ambient_valid, 0)
        };
        js_spec(env, &spec)
    }

    /// Per-message part of a `process` span (see `delta`). `payload_len` < 0 = tombstone,
    /// `timestamp_ms` NaN = unknown.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn process_delta(
        &self,
        topic: String,
        partition: f64,
        offset: f64,
        key: Unknown<'_>,
        payload_len: f64,
        timestamp_ms: f64,
        now_ms: f64,
        mut out: Float64ArraySlice<'_>,
    ) -> Result<u32> {
        let out = unsafe { out.as_mut() };
        let mut holder = Vec::new();
        let key = optional_key(&key, &mut holder)?;
        let message = MessageInfo {
            topic: &topic,
            partition: opt_i32(partition),
            offset: opt_i64(offset),
            key,
            payload_len: (payload_len >= 0.0).then_some(payload_len as usize),
            timestamp_ms: opt_i64(timestamp_ms),
        };
        Ok(delta(&span::process_span(&message, &self.client, &self.options, true, false, now_ms as i64), out) & 0xffff)
    }

    /// The per-message parts of a whole batch in one call: `nums` holds 4 numbers per message
    /// (offset, payload length or -1, timestamp ms or NaN, unused), `keys` the keys. Writes 6
    /// slots per message into `out` and the bit sets into `bits`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn process_batch_delta(
        &self,
        topic: String,
        partition: f64,
        nums: &[f64],
        keys: Array<'_>,
        now_ms: f64,
        mut out: Float64ArraySlice<'_>,
        mut bits: Uint32ArraySlice<'_>,
    ) -> Result<()> {
        // SAFETY: JavaScript does not run while this call does.
        let (out, bits) = unsafe { (out.as_mut(), bits.as_mut()) };
        let count = bits.len().min(nums.len() / 4).min(out.len() / DELTA_KEYS.len());
        for i in 0..count {
            let key: Unknown<'_> = keys.get(i as u32)?.ok_or_else(|| Error::from_reason("missing key"))?;
            let mut holder = Vec::new();
            let key = optional_key(&key, &mut holder)?;
            let n = &nums[4 * i..4 * i + 4];
            let message = MessageInfo {
                topic: &topic,
                partition: opt_i32(partition),
                offset: opt_i64(n[0]),
                key,
                payload_len: (n[1] >= 0.0).then_some(n[1] as usize),
                timestamp_ms: opt_i64(n[2]),
            };
            let spec = span::batch_process_span(&message, &self.client, &self.options, true, now_ms as i64);
            bits[i] = delta(&spec, &mut out[DELTA_KEYS.len() * i..DELTA_KEYS.len() * (i + 1)]) & 0xffff;
        }
        Ok(())
    }

    /// The `poll` span of a batch received from `topics` (one entry per message or per topic).
    #[napi]
    pub fn poll_span(&self, env: &Env, topics: Vec<String>, message_count: u32) -> Result<JsSpanSpec> {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        js_spec(env, &span::poll_span(&topics, message_count as usize, &self.client))
    }
}

/// The core crate version.
#[napi]
pub fn core_version() -> String {
    kafka_trace::VERSION.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_keys_cover_the_per_message_attributes() {
        let options = Options { record_body_size: true, ..Options::default() };
        let message = MessageInfo { topic: "t", partition: Some(1), offset: Some(5), key: Some(b"k"), payload_len: None, timestamp_ms: Some(10) };
        let spec = span::process_span(&message, &ClientInfo::default(), &options, true, false, 20);
        let template = span::process_span(&MessageInfo { topic: "t", payload_len: Some(0), ..MessageInfo::default() }, &ClientInfo::default(), &options, true, false, 0);
        let mut out = [0f64; 6];
        let bits = delta(&spec, &mut out);
        // Every attribute is either in the template or in the delta.
        for (k, _) in &spec.attributes {
            assert!(template.attribute(k).is_some() || DELTA_KEYS.contains(k), "{k} is neither");
        }
        assert_eq!(bits & 0xff, 0b10_1111);
        assert_eq!(out[1], 5.0);
        assert_eq!(out[5], 10.0);
        assert_eq!((bits >> 16) & 0xf, 1);
    }
}


#[cfg(test)]
mod perf {
    use super::*;

    #[test]
    #[ignore]
    fn rust_side_cost() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ts = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123";
        let n = 1_000_000;
        let t = std::time::Instant::now();
        let mut total = 0usize;
        for _ in 0..n {
            let view = View { items: vec![(TRACEPARENT, Bytes::Borrowed(tp)), (TRACESTATE, Bytes::Borrowed(ts))] };
            let got = carrier::extract_parts(&view);
            if let Ok(parent) = &got.parent {
                total += compact_fast(parent, &got.tracestate, ts).len();
            }
        }
        println!("extract+compact: {:?}/op ({total})", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            total += usize::from(std::hint::black_box(TraceParent::parse(std::hint::black_box(tp))).is_ok());
        }
        println!("traceparent parse: {:?}/op", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            total += std::hint::black_box(kafka_trace::TraceState::parse(std::hint::black_box(ts))).map(|s| s.members().len()).unwrap_or(0);
        }
        println!("tracestate parse: {:?}/op", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            let view = View { items: vec![(TRACEPARENT, Bytes::Borrowed(tp))] };
            total += usize::from(std::hint::black_box(carrier::extract_parts(&view)).parent.is_ok());
        }
        println!("extract_parts tp only: {:?}/op", t.elapsed() / n);
        let t = std::time::Instant::now();
        for _ in 0..n {
            let view = View { items: vec![(TRACEPARENT, Bytes::Borrowed(tp)), (TRACESTATE, Bytes::Borrowed(ts))] };
            total += usize::from(std::hint::black_box(carrier::extract_parts(&view)).parent.is_ok());
        }
        println!("extract_parts tp+ts: {:?}/op {total}", t.elapsed() / n);
    }
}
