//! Kafka headers as a trace-context carrier.
//!
//! Kafka headers are an ordered list of `(name, bytes)` pairs where names may repeat and values
//! may be null. The policy, shared by every language:
//! - **read**: names match in any ASCII case; when several `traceparent` headers are present the
//!   **last** one wins, and so does the last `tracestate` header: record headers are ordered and
//!   the last writer is the latest hop (the Java instrumentation reads them with `lastHeader`,
//!   and the Python peer appends on forward, so a mixed fleet depends on it); `baggage` values are
//!   joined in order. A text map over HTTP keeps W3C's rule instead ([`DuplicatePolicy::NewRoot`]).
//! - **write**: the first header of each of our names is rewritten in place with the lowercase
//!   name, later copies are removed, missing ones are appended (`traceparent`, `tracestate`,
//!   `baggage`); nothing to write removes the header, so a forwarded or retried message never
//!   carries two contexts or a stale tracestate.
//!
//! # Examples
//!
//! A forwarder continues the trace it read and writes its own span as the parent, replacing the
//! old header in place (whatever its case) and keeping every other header:
//!
//! ```
//! use kafka_trace::carrier::{extract, inject};
//! use kafka_trace::SpanId;
//!
//! let mut headers: Vec<(String, Vec<u8>)> = vec![
//!     ("TraceParent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
//!     ("tenant".into(), b"acme".to_vec()),
//!     ("tracestate".into(), b"rojo=1".to_vec()),
//! ];
//! let received = extract(&headers).unwrap();
//! assert_eq!(received.tracestate.as_str(), "rojo=1");
//!
//! inject(&received.child(SpanId([0x11; 8])), &mut headers);
//! assert_eq!(headers[0], ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01".to_vec()));
//! assert_eq!(headers[1], ("tenant".into(), b"acme".to_vec()));
//! assert_eq!(headers[2], ("tracestate".into(), b"rojo=1".to_vec()));
//! assert_eq!(headers.len(), 3);
//! ```

use crate::codec::baggage::Baggage;
use crate::codec::trim_ows;
use crate::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use crate::codec::tracestate::{TraceState, TraceStateBuf, MAX_HEADER_LEN};
use crate::ErrorCode;

/// Header name of the parent span (the names are the ones [`inject`] writes; see the module
/// example).
pub const TRACEPARENT: &str = "traceparent";
/// Header name of the vendor state.
pub const TRACESTATE: &str = "tracestate";
/// Header name of the W3C baggage.
pub const BAGGAGE: &str = "baggage";

/// Read access to an ordered header list.
///
/// Implemented for `Vec<(String, Vec<u8>)>`, `Vec<(String, Option<Vec<u8>>)>` and (with the
/// `rdkafka` feature) rdkafka's `BorrowedHeaders` and `OwnedHeaders`.
///
/// # Examples
///
/// Reading from a header type of your own:
///
/// ```
/// use kafka_trace::carrier::{extract, Headers};
///
/// struct Fixed<'a>(&'a [(&'a str, &'a [u8])]);
///
/// impl Headers for Fixed<'_> {
///     fn header_count(&self) -> usize {
///         self.0.len()
///     }
///     fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
///         self.0.get(index).map(|(name, value)| (*name, Some(*value)))
///     }
/// }
///
/// let headers = Fixed(&[("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]);
/// let context = extract(&headers).unwrap();
/// assert_eq!(context.traceparent.span_id.to_string(), "00f067aa0ba902b7");
/// ```
pub trait Headers {
    /// Number of headers.
    fn header_count(&self) -> usize;
    /// The header at `index`: its name and its value (`None` for a Kafka null value).
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)>;
}

/// Write access to an ordered header list.
///
/// # Examples
///
/// A header type of your own; [`inject`] calls only these three methods:
///
/// ```
/// use kafka_trace::carrier::{extract, inject, Headers, HeadersMut};
/// use kafka_trace::SpanId;
///
/// #[derive(Default)]
/// struct List(Vec<(String, Vec<u8>)>);
///
/// impl Headers for List {
///     fn header_count(&self) -> usize {
///         self.0.len()
///     }
///     fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
///         self.0.get(index).map(|(n, v)| (n.as_str(), Some(v.as_slice())))
///     }
/// }
///
/// impl HeadersMut for List {
///     fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
///         self.0[index] = (name.to_owned(), value.to_vec());
///     }
///     fn remove_header(&mut self, index: usize) {
///         self.0.remove(index);
///     }
///     fn append_header(&mut self, name: &str, value: &[u8]) {
///         self.0.push((name.to_owned(), value.to_vec()));
///     }
/// }
///
/// let received = vec![("traceparent".to_string(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
/// let context = extract(&received).unwrap().child(SpanId([0x22; 8]));
/// let mut out = List(vec![("traceparent".into(), b"stale".to_vec()), ("TRACEPARENT".into(), b"stale".to_vec())]);
/// inject(&context, &mut out);
/// assert_eq!(out.0, [("traceparent".to_string(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-2222222222222222-01".to_vec())]);
/// ```
pub trait HeadersMut: Headers {
    /// Replaces the header at `index` (name and value) without moving it.
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]);
    /// Removes the header at `index`; later headers move down by one.
    fn remove_header(&mut self, index: usize);
    /// Appends a header at the end.
    fn append_header(&mut self, name: &str, value: &[u8]);
}

/// Everything read from a message's headers. Borrows the tracestate from the headers, so reading
/// a message with `traceparent` and `tracestate` allocates nothing.
///
/// # Examples
///
/// ```
/// use kafka_trace::{extract_parts, ErrorCode};
///
/// let headers: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_vec()),
///     ("baggage".into(), b"user=alice".to_vec()),
/// ];
/// let parts = extract_parts(&headers);
/// assert_eq!(parts.parent, Err(ErrorCode::TraceparentZeroTraceId));
/// assert_eq!(parts.baggage.get("user"), Some("alice")); // kept for the new root
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted<'a> {
    /// The parent, or why the consumer must start a new root trace.
    pub parent: Result<TraceParent, ErrorCode>,
    /// The vendor state; empty when absent or when the parent is invalid, an error when discarded.
    pub tracestate: Result<TraceState<'a>, ErrorCode>,
    /// The baggage, independent of the trace context (kept for a new root as well).
    pub baggage: Baggage,
}

impl Extracted<'_> {
    /// No parent, no state, no baggage: what [`read_into`] fills.
    #[inline(always)]
    fn empty() -> Self {
        Extracted { parent: Err(ErrorCode::Missing), tracestate: Ok(TraceState::default()), baggage: Baggage::default() }
    }

    /// The owned context to continue, or `None` to start a new root.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::extract_parts;
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![
    ///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
    ///     ("tracestate".into(), b"rojo=1,  congo=2".to_vec()),
    /// ];
    /// let context = extract_parts(&headers).into_context().unwrap();
    /// assert_eq!(context.tracestate.as_str(), "rojo=1,congo=2");
    /// assert_eq!(extract_parts(&Vec::<(String, Vec<u8>)>::new()).into_context(), None);
    /// ```
    #[inline]
    pub fn into_context(mut self) -> Option<TraceContext> {
        self.take_context()
    }

    /// [`into_context`](Self::into_context) through a reference: the result is read where it
    /// is, never moved.
    #[inline]
    fn take_context(&mut self) -> Option<TraceContext> {
        let traceparent = *self.parent.as_ref().ok()?;
        let tracestate = match &self.tracestate {
            Ok(state) => TraceStateBuf::from_state(state),
            Err(_) => TraceStateBuf::default(),
        };
        Some(TraceContext { traceparent, tracestate, baggage: core::mem::take(&mut self.baggage) })
    }
}

/// A complete, owned trace context: what a consumer continues and a producer injects.
///
/// # Examples
///
/// ```
/// use kafka_trace::{inject, Baggage, SpanId, TraceContext, TraceFlags, TraceId};
///
/// let mut context = TraceContext::new_root(TraceId([0xab; 16]), SpanId([0xcd; 8]), TraceFlags::SAMPLED, Baggage::parse(b"k=v"));
/// context.tracestate.set("rojo", "1").unwrap();
/// let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
/// inject(&context, &mut headers);
/// let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
/// assert_eq!(names, ["traceparent", "tracestate", "baggage"]);
/// assert_eq!(headers[1].1, b"rojo=1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// Trace id, span id and flags.
    pub traceparent: TraceParent,
    /// Vendor state, normalized.
    pub tracestate: TraceStateBuf,
    /// W3C baggage.
    pub baggage: Baggage,
}

impl TraceContext {
    /// A new root context with no vendor state.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{Baggage, SpanId, TraceContext, TraceFlags, TraceId};
    ///
    /// let root = TraceContext::new_root(TraceId([1; 16]), SpanId([2; 8]), TraceFlags(0x03), Baggage::default());
    /// assert_eq!(root.traceparent.to_string(), "00-01010101010101010101010101010101-0202020202020202-03");
    /// assert!(root.tracestate.is_empty());
    /// ```
    pub fn new_root(trace_id: TraceId, span_id: SpanId, flags: TraceFlags, baggage: Baggage) -> Self {
        Self { traceparent: TraceParent::new(trace_id, span_id, flags), tracestate: TraceStateBuf::default(), baggage }
    }

    /// The same trace, state and baggage with `span_id` as the parent of whatever reads it next.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{extract, SpanId};
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![
    ///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
    ///     ("baggage".into(), b"user=alice".to_vec()),
    /// ];
    /// let child = extract(&headers).unwrap().child(SpanId([0x33; 8]));
    /// assert_eq!(child.traceparent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-3333333333333333-01");
    /// assert_eq!(child.baggage.get("user"), Some("alice"));
    /// ```
    pub fn child(&self, span_id: SpanId) -> Self {
        Self { traceparent: self.traceparent.with_span_id(span_id), ..self.clone() }
    }
}

/// What repeated `traceparent`/`tracestate` fields mean.
///
/// # Examples
///
/// ```
/// use kafka_trace::carrier::{extract_parts_with, DuplicatePolicy};
/// use kafka_trace::ErrorCode;
///
/// let headers: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01".to_vec()),
/// ];
/// let kafka = extract_parts_with(&headers, DuplicatePolicy::LastWins).parent.unwrap();
/// assert_eq!(kafka.span_id.to_string(), "1111111111111111");
/// let http = extract_parts_with(&headers, DuplicatePolicy::NewRoot).parent;
/// assert_eq!(http, Err(ErrorCode::TraceparentDuplicate));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum DuplicatePolicy {
    /// Kafka record headers: the last `traceparent` and the last `tracestate` header win.
    #[default]
    LastWins,
    /// W3C Trace Context over HTTP: differing `traceparent` fields start a new root (identical
    /// copies count once) and every `tracestate` field is joined in order.
    NewRoot,
}

/// Reads the trace context of a message (Kafka policy: the last header wins). See the module docs.
///
/// # Examples
///
/// ```
/// use kafka_trace::{extract_parts, ErrorCode};
///
/// let headers: Vec<(String, Option<Vec<u8>>)> = vec![
///     ("traceparent".into(), Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())),
///     ("tracestate".into(), Some(b"bad key=1".to_vec())),
///     ("tracestate".into(), Some(b"rojo=1".to_vec())), // the last one wins
/// ];
/// let parts = extract_parts(&headers);
/// assert_eq!(parts.tracestate.unwrap().get("rojo"), Some("1"));
///
/// let empty: Vec<(String, Option<Vec<u8>>)> = vec![("traceparent".into(), None)];
/// assert_eq!(extract_parts(&empty).parent, Err(ErrorCode::TraceparentLength));
/// ```
pub fn extract_parts<H: Headers + ?Sized>(headers: &H) -> Extracted<'_> {
    extract_parts_with(headers, DuplicatePolicy::LastWins)
}

/// Reads the trace context under `policy`.
///
/// # Examples
///
/// ```
/// use kafka_trace::carrier::{extract_parts_with, DuplicatePolicy};
///
/// // Over HTTP every tracestate field is part of one list.
/// let fields: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
///     ("tracestate".into(), b"rojo=1".to_vec()),
///     ("tracestate".into(), b"congo=2".to_vec()),
/// ];
/// let joined = extract_parts_with(&fields, DuplicatePolicy::NewRoot).tracestate.unwrap();
/// assert_eq!(joined.members().len(), 2);
/// let last = extract_parts_with(&fields, DuplicatePolicy::LastWins).tracestate.unwrap();
/// assert_eq!(last.get("rojo"), None);
/// assert_eq!(last.get("congo"), Some("2"));
/// ```
#[inline(always)]
pub fn extract_parts_with<H: Headers + ?Sized>(headers: &H, policy: DuplicatePolicy) -> Extracted<'_> {
    let mut out = Extracted::empty();
    read_into(headers, policy, &mut out);
    out
}

/// [`extract_parts_with`] into an empty result the caller holds, filled in place (the compiler
/// does not reliably build a returned value in the caller's slot).
#[inline(always)]
fn read_into<'a, H: Headers + ?Sized>(headers: &'a H, policy: DuplicatePolicy, out: &mut Extracted<'a>) {
    let mut traceparent: Option<&[u8]> = None;
    let mut last_tracestate: Option<Option<&[u8]>> = None;
    let mut duplicate = false;
    let mut has_baggage = false;
    for (name, value) in iter(headers) {
        match classify(name) {
            Name::Traceparent => {
                // `TraceParent::parse` trims the value itself; only comparing copies needs it here.
                let value = value.unwrap_or_default();
                match (traceparent, policy) {
                    (Some(first), DuplicatePolicy::NewRoot) => duplicate |= trim_ows(first) != trim_ows(value),
                    _ => traceparent = Some(value),
                }
            }
            Name::Tracestate => last_tracestate = Some(value),
            Name::Baggage => has_baggage = true,
            Name::Other => {}
        }
    }
    out.parent = match traceparent {
        None => Err(ErrorCode::Missing),
        Some(_) if duplicate => Err(ErrorCode::TraceparentDuplicate),
        Some(value) => TraceParent::parse(value),
    };
    if let (true, Some(last), Ok(state)) = (out.parent.is_ok(), last_tracestate, &mut out.tracestate) {
        let filled = match policy {
            DuplicatePolicy::LastWins => state.extend_values(last),
            DuplicatePolicy::NewRoot => state.extend_values(values_named(headers, Name::Tracestate)),
        };
        if let Err(e) = filled {
            out.tracestate = Err(e);
        }
    }
    if has_baggage {
        out.baggage = Baggage::parse_values(values_named(headers, Name::Baggage));
    }
}

/// Which of our headers a name is (any ASCII case).
#[derive(Copy, Clone, PartialEq, Eq)]
enum Name {
    Traceparent,
    Tracestate,
    Baggage,
    Other,
}

/// Classifies a header name by its length, then one case-folded word comparison: no
/// allocation, and a foreign name usually costs one length check.
#[inline(always)]
fn classify(name: &str) -> Name {
    let b = name.as_bytes();
    match b.len() {
        11 if fold8(b, 0) == word8(b"traceparent", 0) && fold8(b, 3) == word8(b"traceparent", 3) => Name::Traceparent,
        10 if fold8(b, 0) == word8(b"tracestate", 0) && fold8(b, 2) == word8(b"tracestate", 2) => Name::Tracestate,
        7 if fold4(b, 0) == word4(b"baggage", 0) && fold4(b, 3) == word4(b"baggage", 3) => Name::Baggage,
        _ => Name::Other,
    }
}

// Setting bit 5 of every byte maps an ASCII letter to lowercase; a byte that is not a letter
// never folds onto a lowercase letter, and our names are letters only.
#[inline(always)]
fn fold8(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes) | 0x2020_2020_2020_2020
}

#[inline(always)]
fn fold4(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes) | 0x2020_2020
}

/// `len` bytes of `lower` from `at` as a little-endian word.
const fn word(lower: &[u8], at: usize, len: usize) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < len {
        w |= (lower[at + i] as u64) << (8 * i);
        i += 1;
    }
    w
}

const fn word8(lower: &[u8], at: usize) -> u64 {
    word(lower, at, 8)
}

const fn word4(lower: &[u8], at: usize) -> u32 {
    word(lower, at, 4) as u32
}

/// The context to continue, or `None` to start a new root. Use [`extract_parts`] to also keep
/// the baggage and the reason when the parent is missing or invalid.
///
/// # Examples
///
/// ```
/// use kafka_trace::extract;
///
/// let headers: Vec<(String, Vec<u8>)> = vec![("TRACEPARENT".into(), b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ".to_vec())];
/// let context = extract(&headers).unwrap();
/// assert_eq!(context.traceparent.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(extract(&vec![("traceparent".to_string(), b"garbage".to_vec())]).is_none());
/// ```
#[inline]
pub fn extract<H: Headers + ?Sized>(headers: &H) -> Option<TraceContext> {
    let mut parts = Extracted::empty();
    read_into(headers, DuplicatePolicy::LastWins, &mut parts);
    parts.take_context()
}

/// Writes `context` into the headers, replacing any trace context already there.
///
/// # Examples
///
/// ```
/// use kafka_trace::{extract, inject, SpanId};
///
/// let received: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
/// let context = extract(&received).unwrap().child(SpanId([0x44; 8]));
/// // A retried message: the stale tracestate and baggage go, the key header stays.
/// let mut headers: Vec<(String, Vec<u8>)> = vec![
///     ("tracestate".into(), b"old=1".to_vec()),
///     ("key".into(), b"k".to_vec()),
///     ("baggage".into(), b"old=1".to_vec()),
/// ];
/// inject(&context, &mut headers);
/// assert_eq!(
///     headers,
///     [("key".to_string(), b"k".to_vec()), ("traceparent".to_string(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-4444444444444444-01".to_vec())]
/// );
/// ```
pub fn inject<H: HeadersMut + ?Sized>(context: &TraceContext, headers: &mut H) {
    with_header_values(context, |traceparent, tracestate, baggage| inject_values(headers, traceparent, tracestate, baggage));
}

/// Calls `f` with what [`inject`] writes: the traceparent, the tracestate value (truncated to
/// 512 bytes; empty: none) and the baggage value (empty: none).
fn with_header_values<R>(context: &TraceContext, f: impl FnOnce(&TraceParent, &[u8], &[u8]) -> R) -> R {
    let baggage = if context.baggage.is_empty() { Vec::new() } else { context.baggage.to_header_string().into_bytes() };
    // The stored tracestate is normalized; when it fits it is written as it is, with no copy.
    let tracestate = context.tracestate.as_str().as_bytes();
    if tracestate.len() <= MAX_HEADER_LEN {
        f(&context.traceparent, tracestate, &baggage)
    } else {
        f(&context.traceparent, context.tracestate.header_value().as_bytes(), &baggage)
    }
}

/// Writes pre-encoded values (empty `tracestate` or `baggage` removes that header). This is the
/// allocation-free path for callers that keep their own encoded state.
///
/// # Examples
///
/// ```
/// use kafka_trace::carrier::inject_values;
/// use kafka_trace::TraceParent;
///
/// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// let mut headers: Vec<(String, Vec<u8>)> = vec![("Baggage".into(), b"stale=1".to_vec())];
/// inject_values(&mut headers, &parent, b"rojo=1", b"k=v");
/// assert_eq!(
///     headers,
///     [
///         ("baggage".to_string(), b"k=v".to_vec()),
///         ("traceparent".to_string(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
///         ("tracestate".to_string(), b"rojo=1".to_vec()),
///     ]
/// );
/// ```
pub fn inject_values<H: HeadersMut + ?Sized>(headers: &mut H, traceparent: &TraceParent, tracestate: &[u8], baggage: &[u8]) {
    let traceparent = traceparent.encode();
    // What each of our names gets: its value, or `None` to remove every copy.
    let values = [Some(&traceparent[..]), (!tracestate.is_empty()).then_some(tracestate), (!baggage.is_empty()).then_some(baggage)];
    let mut written = [false; 3];
    // One pass: the first header of each of our names is rewritten in place, later copies go.
    let mut i = 0;
    while i < headers.header_count() {
        let slot = match headers.header(i).map(|(n, _)| classify(n)) {
            Some(Name::Traceparent) => 0,
            Some(Name::Tracestate) => 1,
            Some(Name::Baggage) => 2,
            _ => {
                i += 1;
                continue;
            }
        };
        match values[slot] {
            Some(v) if !written[slot] => {
                headers.replace_header(i, NAMES[slot], v);
                written[slot] = true;
                i += 1;
            }
            _ => headers.remove_header(i),
        }
    }
    // Missing ones are appended in this order: traceparent, tracestate, baggage.
    for slot in 0..3 {
        if let (false, Some(v)) = (written[slot], values[slot]) {
            headers.append_header(NAMES[slot], v);
        }
    }
}

const NAMES: [&str; 3] = [TRACEPARENT, TRACESTATE, BAGGAGE];

fn iter<H: Headers + ?Sized>(headers: &H) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
    (0..headers.header_count()).filter_map(move |i| headers.header(i))
}

fn values_named<H: Headers + ?Sized>(headers: &H, name: Name) -> impl Iterator<Item = &[u8]> {
    iter(headers).filter(move |(n, _)| classify(n) == name).filter_map(|(_, v)| v)
}

impl Headers for Vec<(String, Vec<u8>)> {
    fn header_count(&self) -> usize {
        self.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.get(index).map(|(n, v)| (n.as_str(), Some(v.as_slice())))
    }
}

impl HeadersMut for Vec<(String, Vec<u8>)> {
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
        if let Some(slot) = self.get_mut(index) {
            reuse_write(&mut slot.0, name);
            slot.1.clear();
            slot.1.extend_from_slice(value);
        }
    }
    fn remove_header(&mut self, index: usize) {
        if index < self.len() {
            self.remove(index);
        }
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        self.push((name.to_owned(), value.to_vec()));
    }
}

/// Headers whose values may be null, as Kafka allows.
impl Headers for Vec<(String, Option<Vec<u8>>)> {
    fn header_count(&self) -> usize {
        self.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.get(index).map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

impl HeadersMut for Vec<(String, Option<Vec<u8>>)> {
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
        if let Some(slot) = self.get_mut(index) {
            reuse_write(&mut slot.0, name);
            let buf = slot.1.get_or_insert_with(Vec::new);
            buf.clear();
            buf.extend_from_slice(value);
        }
    }
    fn remove_header(&mut self, index: usize) {
        if index < self.len() {
            self.remove(index);
        }
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        self.push((name.to_owned(), Some(value.to_vec())));
    }
}

/// Overwrites a string keeping its allocation (a forwarded message rewrites the same names).
fn reuse_write(slot: &mut String, value: &str) {
    if slot != value {
        slot.clear();
        slot.push_str(value);
    }
}

#[cfg(feature = "rdkafka")]
pub(crate) use rdkafka_headers::new_owned_headers;

#[cfg(feature = "rdkafka")]
mod rdkafka_headers {
    use rdkafka::message::{BorrowedHeaders, Header, Headers as _, OwnedHeaders};

    use super::{with_header_values, Headers, HeadersMut, TraceContext, BAGGAGE, TRACEPARENT, TRACESTATE};

    /// The headers [`inject`](super::inject) writes into an empty list, built in one go (a
    /// record without headers of its own; appending to `OwnedHeaders` one by one would need a
    /// throwaway librdkafka list per header).
    pub(crate) fn new_owned_headers(context: &TraceContext) -> OwnedHeaders {
        with_header_values(context, |traceparent, tracestate, baggage| {
            let encoded = traceparent.encode();
            let mut headers = OwnedHeaders::new_with_capacity(3).insert(Header { key: TRACEPARENT, value: Some(&encoded[..]) });
            if !tracestate.is_empty() {
                headers = headers.insert(Header { key: TRACESTATE, value: Some(tracestate) });
            }
            if !baggage.is_empty() {
                headers = headers.insert(Header { key: BAGGAGE, value: Some(baggage) });
            }
            headers
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::{Baggage, SpanId, TraceFlags, TraceId};

        fn list(headers: &OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
            (0..headers.header_count())
                .filter_map(|i| headers.header(i))
                .map(|(n, v)| (n.to_owned(), v.map(<[u8]>::to_vec)))
                .collect()
        }

        #[test]
        fn new_owned_headers_writes_what_inject_writes_into_an_empty_list() {
            let mut context = TraceContext::new_root(TraceId([0xab; 16]), SpanId([0xcd; 8]), TraceFlags(0x03), Baggage::default());
            let mut cases = vec![context.clone()];
            context.tracestate.set("rojo", "1").unwrap();
            cases.push(context.clone());
            context.baggage = Baggage::parse(b"user=alice");
            cases.push(context.clone());
            context.tracestate = crate::TraceStateBuf::parse(format!("a={},b={},c={}", "x".repeat(250), "y".repeat(250), "z".repeat(100)).as_bytes()).unwrap();
            assert!(context.tracestate.as_str().len() > 512); // inject truncates it
            cases.push(context);
            for context in cases {
                let mut injected = OwnedHeaders::new();
                super::super::inject(&context, &mut injected);
                let built = new_owned_headers(&context);
                assert_eq!(list(&built), list(&injected), "{context:?}");
                assert!(list(&built).len() >= 1);
            }
        }
    }

    impl Headers for BorrowedHeaders {
        fn header_count(&self) -> usize {
            self.count()
        }
        fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
            self.try_get(index).map(|h| (h.key, h.value))
        }
    }

    impl Headers for OwnedHeaders {
        fn header_count(&self) -> usize {
            self.count()
        }
        fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
            self.try_get(index).map(|h| (h.key, h.value))
        }
    }

    /// librdkafka only appends, so edits rebuild the list; a message has a handful of headers.
    fn rebuild(headers: &OwnedHeaders, edit: impl Fn(usize) -> Option<(String, Option<Vec<u8>>)>) -> OwnedHeaders {
        let mut out = OwnedHeaders::new_with_capacity(headers.count() + 1);
        for i in 0..headers.count() {
            if let Some((key, value)) = edit(i) {
                out = out.insert(Header { key: &key, value: value.as_deref() });
            }
        }
        out
    }

    fn copy(headers: &OwnedHeaders, i: usize) -> Option<(String, Option<Vec<u8>>)> {
        headers.try_get(i).map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
    }

    impl HeadersMut for OwnedHeaders {
        fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
            let next = rebuild(self, |i| if i == index { Some((name.to_owned(), Some(value.to_vec()))) } else { copy(self, i) });
            *self = next;
        }
        fn remove_header(&mut self, index: usize) {
            let next = rebuild(self, |i| if i == index { None } else { copy(self, i) });
            *self = next;
        }
        fn append_header(&mut self, name: &str, value: &[u8]) {
            let current = std::mem::replace(self, OwnedHeaders::new());
            *self = current.insert(Header { key: name, value: Some(value) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect()
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_last_header_wins_on_kafka_and_conflicts_start_a_new_root_over_http() {
        let other = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01";
        let h = headers(&[("traceparent", TP), ("tracestate", "a=1"), ("TraceParent", other), ("tracestate", "b=2")]);
        let kafka = extract_parts(&h);
        assert_eq!(kafka.parent.map(|p| p.encode().to_vec()), Ok(other.as_bytes().to_vec()));
        assert_eq!(kafka.tracestate.unwrap().members().iter().map(|m| (m.key, m.value)).collect::<Vec<_>>(), vec![("b", "2")]);
        let http = extract_parts_with(&h, DuplicatePolicy::NewRoot);
        assert_eq!(http.parent, Err(ErrorCode::TraceparentDuplicate));
        let same = headers(&[("traceparent", TP), ("TRACEPARENT", &format!(" {TP}\t")), ("tracestate", "a=1"), ("tracestate", "b=2")]);
        let http = extract_parts_with(&same, DuplicatePolicy::NewRoot);
        assert!(http.parent.is_ok());
        assert_eq!(http.tracestate.unwrap().members().len(), 2);
    }

    #[test]
    fn inject_replaces_in_place_and_drops_copies() {
        let mut h = headers(&[("a", "1"), ("TraceParent", "x"), ("tracestate", "old=1"), ("traceparent", "y"), ("b", "2")]);
        let ctx = extract(&headers(&[("traceparent", TP)])).unwrap();
        inject(&ctx.child(SpanId([1; 8])), &mut h);
        let names: Vec<_> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "traceparent", "b"]);
        assert_eq!(h[1].1, b"00-4bf92f3577b34da6a3ce929d0e0e4736-0101010101010101-01");
    }

    #[test]
    fn names_match_in_any_case_and_nothing_else() {
        for name in ["traceparent", "TRACEPARENT", "TraceParent", "tRACEPARENt"] {
            assert!(classify(name) == Name::Traceparent, "{name}");
        }
        for name in ["tracestate", "TRACESTATE", "TraceState"] {
            assert!(classify(name) == Name::Tracestate, "{name}");
        }
        for name in ["baggage", "BAGGAGE", "Baggage"] {
            assert!(classify(name) == Name::Baggage, "{name}");
        }
        // Bytes that differ from a letter only in bit 5, or are not letters at all.
        let near = ["traceparenT\u{0}", "traceparen\u{14}", "tr@ceparent", "traceparen", "traceparents", "tracestat\u{5}",
            "b@ggage", "baggag\u{5}", "bagga\u{7}e", "tracest", "", "trace-state", "t\u{12}acestate"];
        for name in near {
            assert!(classify(name) == Name::Other, "{name:?}");
        }
        // Against the plain definition for every single-byte change of each name.
        for (name, want) in [("traceparent", Name::Traceparent), ("tracestate", Name::Tracestate), ("baggage", Name::Baggage)] {
            for at in 0..name.len() {
                for b in 0..=127u8 {
                    let mut bytes = name.as_bytes().to_vec();
                    bytes[at] = b;
                    let s = String::from_utf8(bytes).unwrap();
                    let expected = if s.eq_ignore_ascii_case(name) { want } else { Name::Other };
                    assert!(classify(&s) == expected, "{s:?}");
                }
            }
        }
    }
}
