"""Typed use of the public API; tests/test_typing.py runs `mypy --strict` on this file."""

from __future__ import annotations

from typing import List, Optional, Tuple

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider

import kafka_trace
from kafka_trace import KafkaTraceError, KafkaTracePropagator, KafkaTracing, extract, extract_parts, inject
from kafka_trace.aiokafka import TracedAIOKafkaConsumer, TracedAIOKafkaProducer
from kafka_trace.confluent import TracedConsumer, TracedProducer


def usage() -> Tuple[Context, Optional[str], List[Tuple[str, str]]]:
    headers: List[Tuple[str, bytes]] = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    ctx: Context = extract(headers)
    inject(headers, ctx)
    parts = extract_parts(headers)
    trace_id: Optional[str] = parts.traceparent.trace_id if parts.traceparent is not None else None
    flags: int = parts.traceparent.flags if parts.traceparent else 0
    assert flags >= 0
    KafkaTracePropagator().inject(headers, ctx)
    fields: str = kafka_trace.TRACEPARENT
    assert fields
    tracing = KafkaTracing(tracer_provider=TracerProvider(), strategy="link", include_topics=["orders.*"])
    wrappers = (TracedProducer, TracedConsumer, TracedAIOKafkaConsumer, TracedAIOKafkaProducer)
    assert len(wrappers) == 4
    try:
        KafkaTracing(strategy="nope")
    except KafkaTraceError as err:
        assert isinstance(err, ValueError)
    assert tracing.model.strategy == "link"
    return ctx, trace_id, parts.tracestate
