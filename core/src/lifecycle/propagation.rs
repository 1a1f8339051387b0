//! What a send writes, beyond what the language's SDK keeps.
//!
//! SDK spans lose two things of a remote parent that W3C Trace Context Level 2 asks to keep:
//! the random trace-id flag (`0x02`; the SDKs compute flags from the sampling decision alone) and
//! tracestate members their own grammar refuses (a 256-character key, `tenant@system` with a long
//! tenant). The handler's context keeps the [`KeptRemote`] the core accepted, and the send
//! composes its headers from the SDK span and that.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::lifecycle::{send_context, KeptRemote, SpanIdentity};
//! use kafka_trace::{extract, Baggage, SpanId};
//!
//! // The remote parent: random flag set, a tracestate member an SDK may refuse.
//! let long_key = format!("{}@sys", "t".repeat(200));
//! let headers: Vec<(String, Vec<u8>)> = vec![
//!     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec()),
//!     ("tracestate".into(), format!("{long_key}=1").into_bytes()),
//! ];
//! let kept = KeptRemote::of(&extract(&headers).unwrap());
//!
//! // The SDK's send span in the same trace kept neither.
//! let span = SpanIdentity { trace_id: kept.trace_id, span_id: SpanId([0x66; 8]), sampled: true };
//! let context = send_context(&span, b"", Some(&kept), Baggage::default());
//! assert_eq!(context.traceparent.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-6666666666666666-03");
//! assert_eq!(context.tracestate.as_str(), format!("{long_key}=1"));
//! ```

use crate::carrier::TraceContext;
use crate::codec::baggage::Baggage;
use crate::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use crate::codec::tracestate::TraceStateBuf;

const SAMPLED: u8 = 0x01;
const RANDOM: u8 = 0x02;

/// The remote context a consumer continued, as the core read it.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::KeptRemote;
/// use kafka_trace::{extract, TraceFlags};
///
/// let headers: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02".to_vec()),
///     ("tracestate".into(), b"rojo=1".to_vec()),
/// ];
/// let kept = KeptRemote::of(&extract(&headers).unwrap());
/// assert_eq!(kept.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!((kept.flags, kept.tracestate.as_str()), (TraceFlags::RANDOM, "rojo=1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptRemote {
    /// Its trace.
    pub trace_id: TraceId,
    /// Its flags, whole.
    pub flags: TraceFlags,
    /// Its tracestate, normalized by the core.
    pub tracestate: TraceStateBuf,
}

impl KeptRemote {
    /// From the context extracted from a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::KeptRemote;
    /// use kafka_trace::{extract, TraceFlags};
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-81".to_vec())];
    /// let kept = KeptRemote::of(&extract(&headers).unwrap());
    /// assert_eq!(kept.flags, TraceFlags(0x81)); // all 8 bits, as received
    /// assert!(kept.tracestate.is_empty());
    /// ```
    pub fn of(context: &TraceContext) -> Self {
        Self::with_state(&context.traceparent, context.tracestate.clone())
    }

    /// [`of`](Self::of) a context of `traceparent` and `tracestate`, taking the tracestate
    /// without a copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::KeptRemote;
    /// use kafka_trace::{extract, TraceStateBuf};
    ///
    /// let headers: Vec<(String, Vec<u8>)> = vec![
    ///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".to_vec()),
    ///     ("tracestate".into(), b"rojo=1".to_vec()),
    /// ];
    /// let context = extract(&headers).unwrap();
    /// let kept = KeptRemote::with_state(&context.traceparent, TraceStateBuf::parse(b"rojo=1").unwrap());
    /// assert_eq!(kept, KeptRemote::of(&context));
    /// ```
    pub fn with_state(traceparent: &TraceParent, tracestate: TraceStateBuf) -> Self {
        Self { trace_id: traceparent.trace_id, flags: traceparent.flags, tracestate }
    }
}

/// The SDK span a send injects.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{send_context, SpanIdentity};
/// use kafka_trace::{Baggage, SpanId, TraceId};
///
/// let span = SpanIdentity { trace_id: TraceId([0xab; 16]), span_id: SpanId([0xcd; 8]), sampled: false };
/// let context = send_context(&span, b"", None, Baggage::default());
/// assert_eq!(context.traceparent.to_string(), "00-abababababababababababababababab-cdcdcdcdcdcdcdcd-00");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SpanIdentity {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// The SDK's sampled decision.
    pub sampled: bool,
}

/// The context a send writes into its message: the SDK span's ids and sampled flag; the random
/// flag and the tracestate of the remote parent when the span continues that trace (members the
/// SDK set or changed go first, as on any tracestate update); the baggage of the send's context.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{send_context, KeptRemote, SpanIdentity};
/// use kafka_trace::{Baggage, SpanId, TraceFlags, TraceId, TraceStateBuf};
///
/// let kept = KeptRemote { trace_id: TraceId([1; 16]), flags: TraceFlags(0x03), tracestate: TraceStateBuf::parse(b"rojo=1,congo=2").unwrap() };
/// let span = SpanIdentity { trace_id: TraceId([1; 16]), span_id: SpanId([2; 8]), sampled: true };
/// // The SDK changed congo: its member goes first, the remote's other members stay.
/// let context = send_context(&span, b"congo=9", Some(&kept), Baggage::parse(b"k=v"));
/// assert_eq!(context.tracestate.as_str(), "congo=9,rojo=1");
/// assert_eq!(context.traceparent.flags, TraceFlags(0x03));
/// assert_eq!(context.baggage.get("k"), Some("v"));
///
/// // A span in another trace (a new root) takes nothing from the kept remote.
/// let root = SpanIdentity { trace_id: TraceId([9; 16]), ..span };
/// let context = send_context(&root, b"", Some(&kept), Baggage::default());
/// assert_eq!((context.traceparent.flags, context.tracestate.as_str()), (TraceFlags(0x01), ""));
/// ```
pub fn send_context(
    span: &SpanIdentity,
    sdk_tracestate: &[u8],
    kept: Option<&KeptRemote>,
    baggage: Baggage,
) -> TraceContext {
    // The SDK's state is usually empty: no parse and no copy for nothing.
    let sdk = if sdk_tracestate.is_empty() { TraceStateBuf::default() } else { TraceStateBuf::parse(sdk_tracestate).unwrap_or_default() };
    send_context_parsed(span, sdk, kept, baggage)
}

/// [`send_context`] with the SDK's tracestate already read (`TraceStateBuf::parse(..)
/// .unwrap_or_default()`): a binding that sends many spans with one SDK tracestate reads it once.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{send_context, send_context_parsed, SpanIdentity};
/// use kafka_trace::{Baggage, SpanId, TraceId, TraceStateBuf};
///
/// let span = SpanIdentity { trace_id: TraceId([1; 16]), span_id: SpanId([2; 8]), sampled: true };
/// let sdk = TraceStateBuf::parse(b"rojo=1").unwrap_or_default();
/// assert_eq!(send_context_parsed(&span, sdk, None, Baggage::default()), send_context(&span, b"rojo=1", None, Baggage::default()));
/// ```
pub fn send_context_parsed(
    span: &SpanIdentity,
    sdk: TraceStateBuf,
    kept: Option<&KeptRemote>,
    baggage: Baggage,
) -> TraceContext {
    let same_trace = kept.filter(|k| k.trace_id == span.trace_id);
    let mut flags = if span.sampled { SAMPLED } else { 0 };
    if let Some(k) = same_trace {
        flags |= k.flags.0 & RANDOM;
    }
    let tracestate = match same_trace {
        None => sdk,
        Some(k) => {
            let mut merged = k.tracestate.clone();
            let sdk_view = sdk.view();
            // `set` moves a key first: walk backwards so the SDK's own order is kept at the front.
            for member in sdk_view.members().iter().rev() {
                if merged.view().get(member.key) != Some(member.value) {
                    let _ = merged.set(member.key, member.value);
                }
            }
            merged
        }
    };
    TraceContext {
        traceparent: TraceParent::new(span.trace_id, span.span_id, TraceFlags(flags)),
        tracestate,
        baggage,
    }
}
