"""Options on record-like messages (no broker needed): include filter, on_process hook, body
size, key encoding, strategy validation, and that a hook or a bad message never raises."""

from __future__ import annotations

import time
from typing import Any, List

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from kafka_trace import KafkaTraceError, KafkaTracing

from conftest import Otel

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Record:
    """Shaped like aiokafka's ConsumerRecord."""

    def __init__(self, topic: str, key: Any = b"k", value: Any = b"12345", headers: Any = (("traceparent", TP),)) -> None:
        self.topic, self.partition, self.offset = topic, 3, 42
        self.key, self.value, self.headers = key, value, headers
        self.timestamp = int(time.time() * 1000) - 1500


def test_include_filter_hook_and_body_size(otel: Otel) -> None:
    seen: List[Any] = []

    def on_process(span: Any, message: Any) -> None:
        seen.append(message.topic)
        raise ValueError("hook bug")  # logged, not raised

    tracing = KafkaTracing(
        tracer_provider=otel.tracer_provider,
        include_topics=["orders.*"],
        record_body_size=True,
        on_process=on_process,
    )
    for topic in ("orders.eu", "payments"):
        with tracing.process(Record(topic)) as span:
            assert (span is not None) == (topic == "orders.eu")
    (span,) = otel.spans()
    assert span.name == "process orders.eu" and span.kind == SpanKind.CONSUMER
    assert seen == ["orders.eu"]
    assert span.parent is not None and span.parent.span_id == 0x00F067AA0BA902B7
    assert span.attributes["messaging.message.body.size"] == 5
    assert span.attributes["messaging.destination.partition.id"] == "3"
    assert span.attributes["messaging.kafka.offset"] == 42
    assert 1000 <= span.attributes["kafka_trace.e2e_latency_ms"] < 60_000


def test_keys_tombstones_and_odd_messages(otel: Otel) -> None:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    with tracing.process(Record("t", key="text-key", value=None, headers=None)):
        pass
    with tracing.process(Record("t", key=b"\xff\x00", headers=[("traceparent", 5), None, "junk"])):
        pass
    with tracing.process(None) as nothing:
        assert nothing is None
    with tracing.process(object()):  # not a message at all: no span, no exception
        pass
    assert len(otel.spans()) == 2
    text, binary = otel.named("process t")
    assert text.attributes["messaging.kafka.message.key"] == "text-key"
    assert text.attributes["messaging.kafka.message.tombstone"] is True
    assert "messaging.kafka.message.key" not in binary.attributes
    assert text.parent is None and binary.parent is None
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_bad_strategy_is_a_value_error() -> None:
    with pytest.raises(KafkaTraceError) as err:
        KafkaTracing(strategy="sideways")
    assert isinstance(err.value, ValueError)
