"""``TracedConsumer.process(msg)`` of a confluent-kafka ``Message`` is one native context manager
(issue 12 item 4): the same span, context and metrics as the Python scope, the handler's exception
re-raised unchanged and recorded, and no tracing failure ever raised into the handler."""

from __future__ import annotations

import logging
from typing import Any, List, Optional

import pytest
from confluent_kafka import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from kafka_trace import KafkaTracing, _native
from kafka_trace.confluent import TracedConsumer

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CONF = {"bootstrap.servers": "kafka:9092", "client.id": "c1", "group.id": "g1"}


class StubConsumer:
    def poll(self, timeout: float = 0) -> Optional[Message]:
        return None


def message(offset: int = 5, headers: Any = None) -> Message:
    return Message(topic="orders", partition=0, offset=offset, key=b"k", value=b"v",
                   headers=[("traceparent", TP)] if headers is None else headers, timestamp=(1, 1_700_000_000_000))


def consumer(otel: Any, **options: Any) -> TracedConsumer:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **options)
    return TracedConsumer(StubConsumer(), tracing, CONF)


def test_the_native_scope_makes_the_span_current_and_ends_it(otel: Any) -> None:
    c = consumer(otel)
    before = otel_context.get_current()
    with c.process(message()) as span:
        scope_type = type(c.process(message(6)))
        assert trace.get_current_span() is span
        inner = trace.get_current_span().get_span_context()
    assert scope_type is _native.ProcessScope
    assert otel_context.get_current() is before
    s = otel.one("process orders")
    assert s.context.span_id == inner.span_id
    assert s.parent is not None and s.parent.span_id == 0x00F067AA0BA902B7
    assert s.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert s.attributes["messaging.kafka.offset"] == 5
    assert s.status.status_code == StatusCode.UNSET
    names = set(otel.metrics())
    assert {"messaging.client.consumed.messages", "messaging.process.duration"} <= names


def test_the_handlers_exception_is_recorded_and_reraised_unchanged(otel: Any) -> None:
    c = consumer(otel)
    boom = KeyError("boom")
    with pytest.raises(KeyError) as raised:
        with c.process(message()):
            raise boom
    assert raised.value is boom
    s = otel.one("process orders")
    assert s.status.status_code == StatusCode.ERROR
    assert s.attributes["error.type"] == "KeyError"
    assert [e.name for e in s.events] == ["exception"]
    assert not trace.get_current_span().get_span_context().is_valid  # the context was restored


class BrokenTracer:
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer down")


def test_a_failing_tracer_or_hook_never_reaches_the_handler(otel: Any, caplog: Any) -> None:
    ran: List[str] = []
    c = consumer(otel)
    c._scopes = _native.ProcessScopes(BrokenTracer(), c._tracing._instruments, None,
                                      lambda m, msg: None,
                                      (otel_context.get_current, otel_context.attach, otel_context.detach))
    with caplog.at_level(logging.ERROR, logger="kafka_trace"):
        with c.process(message()) as span:
            ran.append("handler")
    assert span is None and ran == ["handler"]
    assert any("could not start a process span" in r.message for r in caplog.records)

    def hook(span: Any, msg: Any) -> None:
        raise ValueError("hook")

    c = consumer(otel, on_process=hook)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="kafka_trace"):
        with c.process(message()) as span:
            ran.append("hooked")
    assert span is not None and ran[-1] == "hooked"
    assert any("hook failed" in r.message for r in caplog.records)
    assert len(otel.named("process orders")) == 1


def test_other_records_and_events_take_the_python_scope(otel: Any) -> None:
    class Record:
        topic, partition, offset, key, value, timestamp = "orders", 1, 9, b"k", b"v", None
        headers = [("traceparent", TP)]

    c = consumer(otel)
    with c.process(Record()) as span:
        assert span is not None and trace.get_current_span() is span
    s = otel.one("process orders")
    assert s.attributes["messaging.kafka.offset"] == 9 and s.parent is not None
    err = Message(topic="orders", error=__import__("confluent_kafka").KafkaError(-191))
    with c.process(err) as nothing:
        assert nothing is None
    with c.process(None) as nothing:
        assert nothing is None
    assert len(otel.spans()) == 1
