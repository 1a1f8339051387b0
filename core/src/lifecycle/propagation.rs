//! What a send writes, beyond what the language's SDK keeps.
//!
//! SDK spans lose two things of a remote parent that W3C Trace Context Level 2 asks to keep:
//! the random trace-id flag (`0x02`; the SDKs compute flags from the sampling decision alone) and
//! tracestate members their own grammar refuses (a 256-character key, `tenant@system` with a long
//! tenant). The handler's context keeps the [`KeptRemote`] the core accepted, and the send
//! composes its headers from the SDK span and that.

use crate::carrier::TraceContext;
use crate::codec::baggage::Baggage;
use crate::codec::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};
use crate::codec::tracestate::TraceStateBuf;

const SAMPLED: u8 = 0x01;
const RANDOM: u8 = 0x02;

/// The remote context a consumer continued, as the core read it.
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
    pub fn of(context: &TraceContext) -> Self {
        Self {
            trace_id: context.traceparent.trace_id,
            flags: context.traceparent.flags,
            tracestate: context.tracestate.clone(),
        }
    }
}

/// The SDK span a send injects.
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
pub fn send_context(
    span: &SpanIdentity,
    sdk_tracestate: &[u8],
    kept: Option<&KeptRemote>,
    baggage: Baggage,
) -> TraceContext {
    let same_trace = kept.filter(|k| k.trace_id == span.trace_id);
    let mut flags = if span.sampled { SAMPLED } else { 0 };
    if let Some(k) = same_trace {
        flags |= k.flags.0 & RANDOM;
    }
    let sdk = TraceStateBuf::parse(sdk_tracestate).unwrap_or_default();
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
