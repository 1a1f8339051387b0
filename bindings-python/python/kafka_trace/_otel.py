"""Hands the opentelemetry-api classes and context keys to the native module (once)."""

from __future__ import annotations

from opentelemetry import baggage as _baggage
from opentelemetry import context as _context
from opentelemetry import trace as _trace
from opentelemetry.context import Context, create_key
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from . import _native


def _only_key(ctx: Context) -> str:
    (key,) = ctx.keys()
    return key


# The API's keys are private; learn them through the public setters instead of naming them.
SPAN_KEY = _only_key(_trace.set_span_in_context(_trace.INVALID_SPAN, Context()))
BAGGAGE_KEY = _only_key(_baggage.set_baggage("k", "v", Context()))
RAW_BAGGAGE_KEY = create_key("kafka-trace-raw-baggage")
# The remote context a handler continues (`_native.KeptRemote`), read by inject (W3C Level 2).
KEPT_REMOTE_KEY = create_key("kafka-trace-kept-remote")

# The core's tracestate, materialized as Python strings only when read.
TraceState.register(_native.NativeTraceState)

_native._init(
    Context,
    SpanContext,
    TraceState,
    NonRecordingSpan,
    TraceFlags,
    SPAN_KEY,
    BAGGAGE_KEY,
    RAW_BAGGAGE_KEY,
    KEPT_REMOTE_KEY,
    _context.get_current,
)
