//! Codec glue: JavaScript header shapes in, the core's extraction and injection out. Nothing
//! here parses or formats a header itself, decides which headers to write, or where.

use kafka_trace::carrier::{self, Headers, HeadersMut, BAGGAGE, TRACEPARENT, TRACESTATE};
use kafka_trace::codec::baggage::Baggage;
use kafka_trace::interop::{self, HeaderKind};
use kafka_trace::lifecycle::{send_context, send_context_parsed, KeptRemote, SpanIdentity};
use kafka_trace::{ErrorCode, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceState, TraceStateBuf};
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::errors::{missing, negative, too_small};
use crate::js_memory::{i32s, push_values, raw_function, with_scratch, Answer, Bytes, Detach, ANSWER_BYTES};
use crate::layout::{COMPACT_FLAGS, COMPACT_SPAN_ID, COMPACT_TRACE_ID, SAME_PARENT, SAME_TRACESTATE, SCRATCH_BYTES};

/// Which of our headers `name` is: 0 none, 1 traceparent, 2 tracestate, 3 baggage (any case).
#[napi]
pub fn header_kind(name: String) -> u32 {
    HeaderKind::of(name.as_bytes()) as u32
}

/// A header list borrowed from JavaScript values, for the core's [`Headers`] trait.
pub(crate) struct View<'a> {
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

fn view_of<'a>(tp: &Unknown<'a>, ts: &Unknown<'a>) -> Result<View<'a>> {
    let mut items = Vec::with_capacity(2);
    let mut values = Vec::with_capacity(2);
    for (name, value) in [(TRACEPARENT, tp), (TRACESTATE, ts)] {
        if value.get_type()? == napi::ValueType::Undefined {
            continue;
        }
        values.clear();
        push_values(value, &mut values, 0)?;
        items.extend(values.drain(..).map(|v| (name, v)));
    }
    Ok(View { items })
}

pub(crate) fn raw_view<'a>(tp: Option<&'a [u8]>, ts: Option<&'a [u8]>) -> View<'a> {
    let mut items = Vec::with_capacity(2);
    if let Some(tp) = tp {
        items.push((TRACEPARENT, Bytes::Borrowed(tp)));
    }
    if let Some(ts) = ts {
        items.push((TRACESTATE, Bytes::Borrowed(ts)));
    }
    View { items }
}

/// Writes trace id, span id and flags as hex (the head of the compact form) into `out`.
pub(crate) fn head(out: &mut [u8], parent: &TraceParent) {
    let (t, rest) = out.split_at_mut(COMPACT_TRACE_ID);
    let (s, f) = rest.split_at_mut(COMPACT_SPAN_ID);
    t.copy_from_slice(&parent.trace_id.to_hex());
    s.copy_from_slice(&parent.span_id.to_hex());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    f[0] = HEX[usize::from(parent.flags.0 >> 4)];
    f[1] = HEX[usize::from(parent.flags.0 & 0xf)];
}

pub(crate) const HEAD: usize = COMPACT_TRACE_ID + COMPACT_SPAN_ID + COMPACT_FLAGS;

/// The compact form of a valid context (see [`crate::layout`]); `raw` is the single tracestate
/// value the caller passed, replaced by the marker when the normalized form equals it.
fn compact(parent: &TraceParent, tracestate: &std::result::Result<TraceState<'_>, ErrorCode>, raw: Option<&[u8]>) -> String {
    let mut h = [0u8; HEAD];
    head(&mut h, parent);
    let mut out = String::with_capacity(64);
    out.push_str(std::str::from_utf8(&h).unwrap_or_default());
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
    if let Some(raw) = raw.filter(|r| !r.is_empty()) {
        if out.as_bytes()[HEAD..] == *raw {
            out.truncate(HEAD);
            out.push(SAME_TRACESTATE);
        }
    }
    out
}

/// Reads the parent context from the values of the `traceparent` and `tracestate` headers of
/// one message (each `undefined` when absent; Buffer, string, array of them or null). Returns the
/// compact context, or the error code (a number) for a new root.
#[napi]
pub fn extract<'a>(traceparent: Unknown<'a>, tracestate: Unknown<'a>) -> Result<Either<String, u32>> {
    let view = view_of(&traceparent, &tracestate)?;
    let got = carrier::extract_parts(&view);
    Ok(match &got.parent {
        Ok(parent) => Either::A(compact(parent, &got.tracestate, None)),
        Err(code) => Either::B(code.code()),
    })
}

/// [`extract`] for one `traceparent` Buffer and one `tracestate` Buffer (empty when absent).
#[napi]
pub fn extract_buffers(traceparent: BufferSlice<'_>, tracestate: BufferSlice<'_>) -> Either<String, u32> {
    let tp: &[u8] = &traceparent;
    let ts: &[u8] = &tracestate;
    let view = raw_view(Some(tp), (!ts.is_empty()).then_some(ts));
    let got = carrier::extract_parts(&view);
    match &got.parent {
        Ok(parent) => Either::A(compact(parent, &got.tracestate, Some(ts))),
        Err(code) => Either::B(code.code()),
    }
}

/// The scratch memory as a Uint8Array (first call only; see [`crate::js_memory::scratch`]).
#[napi]
pub fn scratch(env: &Env) -> Result<Option<Uint8ArraySlice<'_>>> {
    crate::js_memory::scratch(env)
}

/// One `traceparent` value as a header list (no allocation, unlike [`raw_view`]).
struct OneTraceparent<'a>(&'a [u8]);

impl Headers for OneTraceparent<'_> {
    fn header_count(&self) -> usize {
        1
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        (index == 0).then_some((TRACEPARENT, Some(self.0)))
    }
}

/// The longest traceparent value [`LastParent`] remembers (a plain one is 55 bytes).
const MEMO_BYTES: usize = 64;

/// The valid parent [`extract_parent_in`] answered last and the bytes it read it from, so that the
/// next answer can be "the same as the last" or leave out a trace id equal to the last one. It only
/// ever holds a pure function of the bytes read (the core's parent of those bytes), and it changes
/// with every valid answer, as the caller's copy of the last answer does.
pub(crate) struct LastParent {
    bytes: [u8; MEMO_BYTES],
    /// How many of `bytes` the last valid parent was read from; `usize::MAX` when it was read from
    /// a longer value (then no input is "the same").
    len: usize,
    parent: Option<TraceParent>,
}

impl LastParent {
    pub(crate) const fn new() -> Self {
        LastParent { bytes: [0; MEMO_BYTES], len: usize::MAX, parent: None }
    }
}

/// The parent alone over the scratch memory, the per-message extract: the input is the
/// traceparent value's byte length (input number 0, as `layout`'s scratch numbers) then its bytes
/// from `SCRATCH_BYTES`. Answers, for a valid parent:
/// - the number [`SAME_PARENT`] when the bytes are those of the last valid answer (`last`);
/// - else the span id hex followed by one character whose code is the flags, when the trace id
///   is the last valid answer's;
/// - else the trace id and span id hex (the compact head's first 48 characters) followed by the
///   flags' character.
///
/// Otherwise (no valid parent) the number `-code`; `last` is then unchanged.
fn extract_parent_in(input: &[u8], last: &mut LastParent) -> Answer {
    let len = crate::layout::input_number(input, 0);
    if len.is_nan() || len < 0.0 || len > input.len().saturating_sub(SCRATCH_BYTES) as f64 {
        return Answer::Int(too_small());
    }
    let tp = &input[SCRATCH_BYTES..SCRATCH_BYTES + len as usize];
    if last.len == tp.len() && last.bytes[..tp.len()] == *tp {
        return Answer::Int(SAME_PARENT);
    }
    match carrier::extract_parts(&OneTraceparent(tp)).parent {
        Ok(parent) => {
            let same_trace = last.parent.is_some_and(|p| p.trace_id == parent.trace_id);
            last.parent = Some(parent);
            match last.bytes.get_mut(..tp.len()) {
                Some(slot) => {
                    slot.copy_from_slice(tp);
                    last.len = tp.len();
                }
                None => last.len = usize::MAX,
            }
            let mut out = [0u8; ANSWER_BYTES];
            head(&mut out[..HEAD], &parent);
            out[HEAD - COMPACT_FLAGS] = parent.flags.0;
            let end = HEAD - COMPACT_FLAGS + 1;
            if same_trace {
                out.copy_within(COMPACT_TRACE_ID..end, 0);
                Answer::Latin1(out, end - COMPACT_TRACE_ID)
            } else {
                Answer::Latin1(out, end)
            }
        }
        Err(code) => Answer::Int(negative(code)),
    }
}

/// The per-message extract as a function of no arguments (see [`extract_parent_in`] for its
/// scratch layout and answers, and [`crate::js_memory::raw_function`] for why it is not a
/// `#[napi]` function). Each function has its own [`LastParent`]: its caller keeps the matching
/// copy of the last answer.
#[napi]
pub fn extract_parent_call(env: &Env) -> Result<Unknown<'_>> {
    let last = std::cell::RefCell::new(LastParent::new());
    raw_function(env, "extractParent", Box::new(move || with_scratch(|input, _| extract_parent_in(input, &mut last.borrow_mut())).unwrap_or(Answer::Int(too_small()))))
}

/// The normalized tracestate of a message whose parent is valid, from its `tracestate` header
/// value(s); "" when absent or discarded.
#[napi]
pub fn tracestate_of(values: Unknown<'_>) -> Result<String> {
    let mut list = Vec::new();
    push_values(&values, &mut list, 0)?;
    let normalized = match TraceState::parse_values(list.iter().filter_map(Bytes::get)) {
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
    let lengths = i32s(&mut lengths);
    with_scratch(|input, output| {
        let mut at = 0usize;
        let mut written = 0usize;
        let count = (count as usize).min(lengths.len() / 2);
        for i in 0..count {
            let take = |len: i32, at: &mut usize| -> Option<Option<&[u8]>> {
                if len < 0 {
                    return Some(None);
                }
                let end = at.checked_add(len as usize)?;
                let bytes = input.get(*at..end)?;
                *at = end;
                Some(Some(bytes))
            };
            let (Some(tp), Some(ts)) = (take(lengths[2 * i], &mut at), take(lengths[2 * i + 1], &mut at)) else { return i as u32 };
            let view = raw_view(tp, ts);
            let got = carrier::extract_parts(&view);
            match &got.parent {
                Ok(parent) => {
                    let compact = compact(parent, &got.tracestate, ts);
                    let Some(slot) = output.get_mut(written..written + compact.len()) else { return i as u32 };
                    slot.copy_from_slice(compact.as_bytes());
                    lengths[2 * i] = written as i32;
                    written += compact.len();
                    lengths[2 * i + 1] = written as i32;
                }
                Err(code) => {
                    lengths[2 * i] = negative(*code);
                    lengths[2 * i + 1] = 0;
                }
            }
        }
        count as u32
    })
    .unwrap_or(0)
}

/// Decodes the baggage from the values of the `baggage` header(s) (Buffer, string, array of them).
/// Returns `[key, value, properties, key, value, properties, …]`, properties joined with `;`.
#[napi]
pub fn parse_baggage(values: Unknown<'_>) -> Result<Vec<String>> {
    let mut list = Vec::new();
    push_values(&values, &mut list, 0)?;
    Ok(flat_baggage(&Baggage::parse_values(list.iter().filter_map(Bytes::get))))
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

fn baggage_of(entries: &[String]) -> Baggage {
    interop::baggage_from_entries(entries.chunks_exact(3).map(|c| (c[0].as_str(), c[1].as_str(), c[2].as_str())))
}

fn parent_of(trace_id: &str, span_id: &str, flags: u32) -> Option<TraceParent> {
    let trace_id = TraceId::from_hex(trace_id.as_bytes()).filter(TraceId::is_valid)?;
    let span_id = SpanId::from_hex(span_id.as_bytes()).filter(SpanId::is_valid)?;
    // A written traceparent is always a child's: only the flags the core propagates.
    Some(TraceParent::new(trace_id, span_id, TraceFlags((flags & 0xff) as u8).propagated()))
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
// What a send writes: the core's `send_context` (Level 2: random flag and every tracestate
// member of the continued remote parent) and the core's write policy over the message's names.

/// The remote context a consumer continued, as the facade keeps it in the handler's context
/// (the span context the core extracted: its trace id, whole flags and normalized tracestate).
#[napi(object)]
pub struct KeptRemoteJs {
    pub trace_id: String,
    pub flags: u32,
    pub tracestate: String,
}

fn kept_of(kept: &Option<KeptRemoteJs>) -> Option<KeptRemote> {
    let k = kept.as_ref()?;
    Some(KeptRemote {
        trace_id: TraceId::from_hex(k.trace_id.as_bytes()).filter(TraceId::is_valid)?,
        flags: TraceFlags((k.flags & 0xff) as u8),
        tracestate: TraceStateBuf::parse(k.tracestate.as_bytes()).unwrap_or_default(),
    })
}

fn context_of(ids: &str, sampled: bool, sdk_tracestate: &str, kept: Option<&KeptRemote>, baggage: &Baggage) -> Option<TraceContext> {
    let (trace_id, span_id) = (ids.get(..COMPACT_TRACE_ID)?, ids.get(COMPACT_TRACE_ID..COMPACT_TRACE_ID + COMPACT_SPAN_ID)?);
    let span = SpanIdentity {
        trace_id: TraceId::from_hex(trace_id.as_bytes()).filter(TraceId::is_valid)?,
        span_id: SpanId::from_hex(span_id.as_bytes()).filter(SpanId::is_valid)?,
        sampled,
    };
    Some(send_context(&span, sdk_tracestate.as_bytes(), kept, baggage.clone()))
}

/// The three header values (traceparent, tracestate, baggage; "" = none) the core's
/// `send_context` gives for a span (`ids` = trace id hex + span id hex) sent from a context with
/// `baggage` (`[key, value, properties, …]`) and, when it continued a remote parent, `kept`.
/// Empty when the ids are invalid.
#[napi]
pub fn send_context_values(ids: String, sampled: bool, sdk_tracestate: String, kept: Option<KeptRemoteJs>, baggage: Vec<String>) -> Vec<String> {
    let kept = kept_of(&kept);
    match context_of(&ids, sampled, &sdk_tracestate, kept.as_ref(), &baggage_of(&baggage)) {
        Some(c) => vec![
            String::from_utf8_lossy(&c.traceparent.encode()).into_owned(),
            String::from_utf8_lossy(c.tracestate.header_value().as_bytes()).into_owned(),
            if c.baggage.is_empty() { String::new() } else { c.baggage.to_header_string() },
        ],
        None => Vec::new(),
    }
}

/// The header names of one message, with the core's write policy applied as edits.
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

/// The headers of every message of a send, in one call. Message i's span is `ids[48i..48i+48]`
/// (trace id hex + span id hex) with `sampled[i]` (1/0); they share the send's context (`kept`,
/// `baggage`, and the SDK's tracestate of their common parent). `names` holds each message's
/// existing header names, `counts[i]` of them for message i.
///
/// Returns, per message, the number of entries `n`, then `n` pairs `name, value`: a number value
/// is the index (among that message's names) of an existing value to keep as it is, a string is
/// a value the core wrote; the list is the message's whole new header list, in order. `n` is 0
/// for a message whose ids are invalid (its headers stay as they are).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn send_headers(
    ids: String,
    sampled: &[u8],
    sdk_tracestate: String,
    kept: Option<KeptRemoteJs>,
    baggage: Vec<String>,
    names: Vec<String>,
    counts: &[u32],
) -> Vec<Either<String, u32>> {
    let kept = kept_of(&kept);
    let baggage = baggage_of(&baggage);
    let ids_per = COMPACT_TRACE_ID + COMPACT_SPAN_ID;
    let mut out = Vec::with_capacity(counts.len() * 4);
    let mut names = names.into_iter();
    for (i, count) in counts.iter().enumerate() {
        let own: Vec<String> = names.by_ref().take(*count as usize).collect();
        let context = ids
            .get(ids_per * i..ids_per * (i + 1))
            .and_then(|ids| context_of(ids, sampled.get(i).is_some_and(|s| *s != 0), &sdk_tracestate, kept.as_ref(), &baggage));
        let Some(context) = context else {
            out.push(Either::B(0));
            continue;
        };
        let mut slots = Slots(own.into_iter().enumerate().map(|(i, n)| (n, Either::B(i as u32))).collect());
        carrier::inject(&context, &mut slots);
        out.push(Either::B(slots.0.len() as u32));
        for (name, value) in slots.0 {
            out.push(Either::A(name));
            out.push(value);
        }
    }
    out
}

/// [`send_headers`] over the scratch memory for messages whose header lists hold none of our
/// names, sent from a context with no baggage and no kept remote context (the instrumentation's
/// common case): no argument crosses napi and only the values the core wrote come back.
///
/// Input: `count` spans back to back (trace id hex + span id hex, 48 bytes each), then `count`
/// flag bytes (1 = sampled), then the SDK's tracestate (`ts_len` bytes). Output, per message:
/// the number of entries `n` (one byte), then `n` times: the [`HeaderKind`] of the header the core
/// appends (one byte; `| 0x80` = the value is the SDK tracestate passed in, byte for byte, and is
/// not repeated), the value's length (two bytes, little endian), the value.
///
/// Returns how many messages were written (fewer than `count` when the output region is full:
/// call again for the rest), or `-1` when the core's write policy over such a list does anything
/// but append (the caller then uses [`send_headers`]). A message with invalid ids gets `n` = 0.
#[napi]
pub fn inject_scratch(count: u32, ts_len: u32) -> i32 {
    with_scratch(|input, output| inject_into(input, output, count as usize, ts_len as usize)).unwrap_or(-1)
}

const SPAN_IDS: usize = COMPACT_TRACE_ID + COMPACT_SPAN_ID;

thread_local! {
    /// The last SDK tracestate `inject_scratch` read, and what the core read from it.
    static SDK_TRACESTATE: std::cell::RefCell<(Vec<u8>, TraceStateBuf)> = std::cell::RefCell::new((Vec::new(), TraceStateBuf::default()));
}

/// The core's reading of an SDK tracestate (`TraceStateBuf::parse(..).unwrap_or_default()`),
/// remembered for the next call with the same bytes.
fn sdk_tracestate(bytes: &[u8]) -> TraceStateBuf {
    SDK_TRACESTATE.with(|cell| {
        let mut last = cell.borrow_mut();
        if last.0 != bytes {
            last.1 = TraceStateBuf::parse(bytes).unwrap_or_default();
            last.0.clear();
            last.0.extend_from_slice(bytes);
        }
        last.1.clone()
    })
}

/// One message's header list as the write policy sees it in `inject_scratch`: one existing
/// header that is not ours; what the core appends is written straight to the output.
struct Appender<'o> {
    out: &'o mut [u8],
    at: usize,
    entries: u8,
    sdk: &'o [u8],
    /// The policy did something other than append (the caller falls back).
    other: bool,
    /// The output region is full.
    full: bool,
}

impl Headers for Appender<'_> {
    fn header_count(&self) -> usize {
        1
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        (index == 0).then_some(("", None))
    }
}

impl HeadersMut for Appender<'_> {
    fn replace_header(&mut self, _: usize, _: &str, _: &[u8]) {
        self.other = true;
    }
    fn remove_header(&mut self, _: usize) {
        self.other = true;
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        let kind = HeaderKind::of(name.as_bytes()) as u8;
        if kind == 0 || value.len() > usize::from(u16::MAX) {
            self.other = true;
            return;
        }
        let same = kind == HeaderKind::Tracestate as u8 && value == self.sdk;
        let len = if same { 0 } else { value.len() };
        let Some(slot) = self.out.get_mut(self.at..self.at + 3 + len) else {
            self.full = true;
            return;
        };
        slot[0] = if same { kind | 0x80 } else { kind };
        slot[1..3].copy_from_slice(&(len as u16).to_le_bytes());
        slot[3..].copy_from_slice(&value[..len]);
        self.at += 3 + len;
        self.entries += 1;
    }
}

/// What the core writes into a send's headers when the SDK tracestate is `sdk_tracestate`, the
/// send's context has no baggage and no kept remote context, and the message has no header of
/// ours yet: the header names it appends, in order, each with its value, except the traceparent,
/// which is `before + traceId + between + spanId + after` (`afterSampled` or `afterUnsampled`)
/// for a span whose ids are lowercase hex and valid. Made from the core's own output for two
/// probe spans and checked against a third; the facade caches it per tracestate string and
/// fills it without calling the addon per message.
#[napi(object)]
pub struct InjectPlan {
    pub names: Vec<String>,
    /// The value of each name; null = the traceparent template.
    pub values: Vec<Option<String>>,
    pub before: String,
    pub between: String,
    pub after_sampled: String,
    pub after_unsampled: String,
}

/// Header names and values, in order.
type HeaderPairs = Vec<(String, Vec<u8>)>;

/// The headers the core appends after one foreign header for `span` (None: it did anything else).
fn appended(span: &SpanIdentity, parsed: &TraceStateBuf) -> Option<HeaderPairs> {
    let mut list: Vec<(String, Option<Vec<u8>>)> = vec![(String::new(), None)];
    carrier::inject(&send_context_parsed(span, parsed.clone(), None, Baggage::default()), &mut list);
    if list.first() != Some(&(String::new(), None)) {
        return None;
    }
    list.into_iter().skip(1).map(|(name, value)| Some((name, value?))).collect()
}

/// See [`InjectPlan`]; None when the core's output does not have that shape.
#[napi]
pub fn inject_plan(sdk_tracestate: String) -> Option<InjectPlan> {
    let parsed = TraceStateBuf::parse(sdk_tracestate.as_bytes()).unwrap_or_default();
    let probe = |trace: &[u8], span: &[u8], sampled: bool| -> Option<(SpanIdentity, HeaderPairs)> {
        let identity = SpanIdentity { trace_id: TraceId::from_hex(trace)?, span_id: SpanId::from_hex(span)?, sampled };
        let headers = appended(&identity, &parsed)?;
        Some((identity, headers))
    };
    const T1: &[u8] = b"4bf92f3577b34da6a3ce929d0e0e4736";
    const S1: &[u8] = b"00f067aa0ba902b7";
    let (_, sampled) = probe(T1, S1, true)?;
    let (_, unsampled) = probe(b"0af7651916cd43dd8448eb211c80319c", b"b7ad6b7169203331", false)?;
    if sampled.len() != unsampled.len() {
        return None;
    }
    let mut plan = InjectPlan { names: Vec::new(), values: Vec::new(), before: String::new(), between: String::new(), after_sampled: String::new(), after_unsampled: String::new() };
    let mut templates = 0;
    for ((name, a), (name_b, b)) in sampled.iter().zip(&unsampled) {
        if name != name_b {
            return None;
        }
        let (a, b) = (String::from_utf8(a.clone()).ok()?, String::from_utf8(b.clone()).ok()?);
        plan.names.push(name.clone());
        if HeaderKind::of(name.as_bytes()) == HeaderKind::Traceparent {
            // before + T1 + between + S1 + after, once each.
            let t = a.find(std::str::from_utf8(T1).ok()?)?;
            let s = t + T1.len() + a[t + T1.len()..].find(std::str::from_utf8(S1).ok()?)?;
            plan.before = a[..t].to_owned();
            plan.between = a[t + T1.len()..s].to_owned();
            plan.after_sampled = a[s + S1.len()..].to_owned();
            let tail = b.strip_prefix(&plan.before)?.get(T1.len()..)?.strip_prefix(&plan.between)?.get(S1.len()..)?;
            plan.after_unsampled = tail.to_owned();
            plan.values.push(None);
            templates += 1;
        } else {
            if a != b {
                return None;
            }
            plan.values.push(Some(a));
        }
    }
    if templates != 1 {
        return None;
    }
    // A third span: the plan makes exactly what the core writes.
    let (t3, s3) = ("ffeeddccbbaa99887766554433221100", "0123456789abcdef");
    let (_, third) = probe(t3.as_bytes(), s3.as_bytes(), true)?;
    let made: HeaderPairs = plan
        .names
        .iter()
        .zip(&plan.values)
        .map(|(n, v)| (n.clone(), v.clone().unwrap_or_else(|| format!("{}{t3}{}{s3}{}", plan.before, plan.between, plan.after_sampled)).into_bytes()))
        .collect();
    (made == third).then_some(plan)
}

fn inject_into(input: &[u8], output: &mut [u8], count: usize, ts_len: usize) -> i32 {
    let flags_at = SPAN_IDS * count;
    let ts_at = flags_at + count;
    let Some(sdk) = input.get(ts_at..ts_at + ts_len) else { return -1 };
    let parsed = sdk_tracestate(sdk);
    let mut at = 0usize;
    for i in 0..count {
        let Some(count_at) = (at < output.len()).then_some(at) else { return i as i32 };
        let ids = &input[SPAN_IDS * i..SPAN_IDS * (i + 1)];
        let identity = (|| {
            Some(SpanIdentity {
                trace_id: TraceId::from_hex(&ids[..COMPACT_TRACE_ID]).filter(TraceId::is_valid)?,
                span_id: SpanId::from_hex(&ids[COMPACT_TRACE_ID..]).filter(SpanId::is_valid)?,
                sampled: input[flags_at + i] & 1 == 1,
            })
        })();
        let mut appender = Appender { out: &mut output[..], at: count_at + 1, entries: 0, sdk, other: false, full: false };
        if let Some(span) = identity {
            carrier::inject(&send_context_parsed(&span, parsed.clone(), None, Baggage::default()), &mut appender);
        }
        let (end, entries, other, full) = (appender.at, appender.entries, appender.other, appender.full);
        if other {
            return -1;
        }
        if full {
            return i as i32;
        }
        output[count_at] = entries;
        at = end;
    }
    count as i32
}

// ---------------------------------------------------------------------------------------------
// Whole header lists (`[name, value, name, value, …]`): the complete, slower API used by the
// shared header vectors.

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
        let value: Unknown<'_> = list.get(2 * i + 1)?.ok_or_else(|| missing("value"))?;
        values.clear();
        push_values(&value, &mut values, 1)?;
        out.push((name, values.first().and_then(Bytes::get).map(<[u8]>::to_vec)));
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

/// Injects a context into a complete header list `[name, value, …]` with the core's write policy
/// and returns the new list (values are Buffers, null for Kafka null values), or null when the
/// ids are invalid.
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
        out.push(env.create_string(&name)?.to_unknown().detach());
        match value {
            Some(v) => out.push(BufferSlice::copy_from(env, v)?.to_unknown().detach()),
            None => out.push(Null.into_unknown(env)?.detach()),
        }
    }
    Ok(Some(out))
}

/// The header names the core writes, in its order.
pub fn fields() -> Vec<String> {
    vec![TRACEPARENT.into(), TRACESTATE.into(), BAGGAGE.into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one message's entries from `inject_scratch`'s output: (kind, value or None for
    /// "the SDK tracestate passed in").
    fn entries(output: &[u8], at: &mut usize) -> Vec<(u8, Option<String>)> {
        let n = output[*at];
        *at += 1;
        (0..n)
            .map(|_| {
                let (kind, len) = (output[*at], usize::from(u16::from_le_bytes([output[*at + 1], output[*at + 2]])));
                *at += 3;
                let value = (kind & 0x80 == 0).then(|| String::from_utf8(output[*at..*at + len].to_vec()).unwrap());
                *at += len;
                (kind & 0x7f, value)
            })
            .collect()
    }

    /// `tp` in the scratch input layout of [`extract_parent_in`].
    fn parent_input(tp: &[u8]) -> Vec<u8> {
        let mut input = vec![0u8; 1024];
        input[..8].copy_from_slice(&(tp.len() as f64).to_le_bytes());
        input[SCRATCH_BYTES..SCRATCH_BYTES + tp.len()].copy_from_slice(tp);
        input
    }

    fn answer(a: Answer) -> std::result::Result<Vec<u8>, i32> {
        match a {
            Answer::Int(n) => Err(n),
            Answer::Latin1(bytes, len) => Ok(bytes[..len].to_vec()),
        }
    }

    #[test]
    fn extract_parent_in_answers_what_extract_parts_reads() {
        let run = |tp: &[u8]| answer(extract_parent_in(&parent_input(tp), &mut LastParent::new()));
        let mut want = b"4bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b7".to_vec();
        want.push(3);
        assert_eq!(run(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03 "), Ok(want));
        for bad in [&b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..], b"", b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"] {
            let code = carrier::extract_parts(&raw_view(Some(bad), None)).parent.expect_err("invalid");
            assert_eq!(run(bad), Err(negative(code)));
        }
        // A length past the input region, or not a length: refused, nothing read.
        let mut input = vec![0u8; 256];
        for len in [1e9, f64::NAN, -1.0] {
            input[..8].copy_from_slice(&f64::to_le_bytes(len));
            assert!(matches!(extract_parent_in(&input, &mut LastParent::new()), Answer::Int(n) if n == too_small()));
        }
    }

    /// The caller's side of [`extract_parent_in`]'s answers (as the facade's `withParent`): the
    /// last valid answer's ids and flags, completed from each short or "same" answer.
    #[derive(Default)]
    struct Caller {
        trace_id: Vec<u8>,
        span_id: Vec<u8>,
        flags: u8,
        /// How many answers of each kind: the same, the same trace, whole.
        kinds: [usize; 3],
    }

    impl Caller {
        /// (trace id, span id, flags) of `tp`, or the error code, through the remembering answers.
        fn read(&mut self, last: &mut LastParent, tp: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>, u8), u32> {
            match answer(extract_parent_in(&parent_input(tp), last)) {
                Err(SAME_PARENT) => self.kinds[0] += 1,
                Err(n) => return Err((-n) as u32),
                Ok(a) if a.len() == COMPACT_SPAN_ID + 1 => {
                    self.kinds[1] += 1;
                    self.span_id = a[..COMPACT_SPAN_ID].to_vec();
                    self.flags = a[COMPACT_SPAN_ID];
                }
                Ok(a) => {
                    assert_eq!(a.len(), COMPACT_TRACE_ID + COMPACT_SPAN_ID + 1);
                    self.kinds[2] += 1;
                    self.trace_id = a[..COMPACT_TRACE_ID].to_vec();
                    self.span_id = a[COMPACT_TRACE_ID..COMPACT_TRACE_ID + COMPACT_SPAN_ID].to_vec();
                    self.flags = a[COMPACT_TRACE_ID + COMPACT_SPAN_ID];
                }
            }
            Ok((self.trace_id.clone(), self.span_id.clone(), self.flags))
        }
    }

    #[test]
    fn remembered_answers_read_what_extract_parts_reads() {
        let a = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec();
        let a_other_span = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01".to_vec();
        let a_other_flags = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec();
        let a_ows = b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t".to_vec();
        let b = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".to_vec();
        let zero = b"00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_vec();
        let upper = b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".to_vec();
        // A later version with more fields (valid), longer than the remembered bytes hold.
        let mut long = b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b9-01-".to_vec();
        long.extend(std::iter::repeat_n(b'x', 40));
        let mut long_b = long.clone();
        long_b[3] = b'5';
        let sequence: Vec<&[u8]> = vec![
            &a, &a, &zero, &a, &a_other_span, &a, &b, &a, &a_other_flags, &a_other_flags, &upper, &a_other_flags, &a_ows, &a, &a_ows,
            &a_ows, b"", &a_ows, &long, &long, &a, &long, &long_b, &long, &b, &b, &zero, &zero, &b, &a_other_span, &a_other_span,
        ];
        let mut last = LastParent::new();
        let mut caller = Caller::default();
        for (i, tp) in sequence.iter().enumerate() {
            let core = match carrier::extract_parts(&raw_view(Some(tp), None)).parent {
                Ok(p) => Ok((p.trace_id.to_hex().to_vec(), p.span_id.to_hex().to_vec(), p.flags.0)),
                Err(code) => Err(code.code()),
            };
            assert_eq!(caller.read(&mut last, tp), core, "message {i}");
        }
        // The sequence takes every kind of answer: the same bytes, the same trace, whole.
        assert_eq!(caller.kinds, [9, 10, 7]);
    }

    #[test]
    fn inject_plan_makes_what_the_core_writes() {
        let plan = inject_plan("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".into()).expect("a plan");
        assert_eq!(plan.names, ["traceparent", "tracestate"]);
        assert_eq!(plan.values, [None, Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned())]);
        assert_eq!((plan.before.as_str(), plan.between.as_str()), ("00-", "-"));
        assert_eq!((plan.after_sampled.as_str(), plan.after_unsampled.as_str()), ("-01", "-00"));
        // The same as inject_scratch for a span: the traceparent it writes, filled from the plan.
        let mut input = b"4bf92f3577b34da6a3ce929d0e0e4736b7ad6b7169203331".to_vec();
        input.push(0);
        let mut output = vec![0u8; 256];
        assert_eq!(inject_into(&input, &mut output, 1, 0), 1);
        let mut at = 0;
        let want = format!("{}4bf92f3577b34da6a3ce929d0e0e4736{}b7ad6b7169203331{}", plan.before, plan.between, plan.after_unsampled);
        assert_eq!(entries(&output, &mut at), vec![(1, Some(want))]);
        let none = inject_plan(String::new()).expect("a plan");
        assert_eq!((none.names.as_slice(), none.values.as_slice()), (&["traceparent".to_owned()][..], &[None][..]));
        let invalid = inject_plan("not valid".into()).expect("a plan");
        assert_eq!(invalid.names, ["traceparent"], "an invalid SDK tracestate is not written");
    }

    #[test]
    fn inject_scratch_appends_what_the_core_writes() {
        let ts = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
        let mut input = Vec::new();
        input.extend_from_slice(b"4bf92f3577b34da6a3ce929d0e0e4736b7ad6b7169203331");
        input.extend_from_slice(b"00000000000000000000000000000000b7ad6b7169203331");
        input.extend_from_slice(b"4bf92f3577b34da6a3ce929d0e0e47360000000000000007");
        input.extend_from_slice(&[0, 1, 1]);
        input.extend_from_slice(ts);
        let mut output = vec![0u8; 4096];
        assert_eq!(inject_into(&input, &mut output, 3, ts.len()), 3);
        let mut at = 0;
        assert_eq!(
            entries(&output, &mut at),
            vec![(1, Some("00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00".to_owned())), (2, None)],
            "unsampled; the tracestate is the SDK's, byte for byte"
        );
        assert_eq!(entries(&output, &mut at), vec![], "an all-zero trace id: nothing written");
        assert_eq!(entries(&output, &mut at), vec![(1, Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000007-01".to_owned())), (2, None)]);
        // A tracestate the core normalizes is written as the core wrote it; an invalid one not at all.
        for (sdk, want) in [(&b"a=1 , b=2"[..], Some("a=1,b=2")), (b"not valid", None)] {
            let mut input = b"4bf92f3577b34da6a3ce929d0e0e4736b7ad6b7169203331".to_vec();
            input.push(1);
            input.extend_from_slice(sdk);
            assert_eq!(inject_into(&input, &mut output, 1, sdk.len()), 1);
            let mut at = 0;
            let got = entries(&output, &mut at);
            assert_eq!(got.iter().find(|e| e.0 == 2).map(|e| e.1.clone().unwrap_or_default()), want.map(str::to_owned));
        }
        // A full output region: fewer messages written, none cut.
        assert_eq!(inject_into(&input, &mut output[..70], 3, ts.len()), 2);
    }
}

#[cfg(test)]
mod perf {
    use super::*;
    use std::hint::black_box;
    use std::time::Instant;

    /// `cargo test --release -p kafka-trace-node --lib codec::perf -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn inject_costs() {
        let ts = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123";
        let mut input = vec![0u8; 8192];
        input[..48].copy_from_slice(b"4bf92f3577b34da6a3ce929d0e0e4736b7ad6b7169203331");
        input[48] = 1;
        input[49..49 + ts.len()].copy_from_slice(ts);
        let mut output = vec![0u8; 8192];
        let n = 200_000;
        for (name, len) in [("inject_into, no tracestate", 0), ("inject_into, 3-member tracestate", ts.len())] {
            let t = Instant::now();
            for _ in 0..n {
                black_box(inject_into(black_box(&input), &mut output, 1, len));
            }
            println!("{name:40} {:6.0} ns", t.elapsed().as_nanos() as f64 / n as f64);
        }
        let t = Instant::now();
        for _ in 0..n {
            let _ = black_box(TraceStateBuf::parse(black_box(ts)));
        }
        println!("{:40} {:6.0} ns", "TraceStateBuf::parse", t.elapsed().as_nanos() as f64 / n as f64);
    }
}
