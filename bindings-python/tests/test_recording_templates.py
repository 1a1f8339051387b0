"""Recording spans started from their situation's template (issue 12 item 4, fifth round): the
first message of a situation takes the core's whole recipe and makes the template, every later
one starts from the template and takes only its own recorded attributes from the core. Both must
export the same span and metric records; a span that user code (a hook, the handler) ended before
its end gets nothing set afterwards, as a recipe's end never set anything on an ended span."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from confluent_kafka import Message
from opentelemetry import trace

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CONF = {"bootstrap.servers": "kafka:9092", "client.id": "c1", "group.id": "g1"}


class KeepingProducer:
    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.calls.append((topic, kwargs))

    def poll(self, timeout: float = 0) -> int:
        return 0


class ListConsumer:
    def __init__(self, messages: List[Message]) -> None:
        self.messages = list(messages)

    def poll(self, timeout: float = 0) -> Optional[Message]:
        return self.messages.pop(0) if self.messages else None


def consumed(offset: int, key: Optional[bytes]) -> Message:
    return Message(topic="orders", partition=1, offset=offset, key=key, value=b"vv" if offset % 2 else None,
                   headers=[("traceparent", TP)], timestamp=(1, 1_700_000_000_000))


def without_times(attributes: Any) -> Dict[str, Any]:
    """The span's attributes, the end-to-end latency (a clock reading) only checked for its type."""
    out = dict(attributes)
    latency = out.pop("kafka_trace.e2e_latency_ms", None)
    assert latency is None or isinstance(latency, float)
    return out


def test_template_started_recording_spans_equal_the_recipe_started_first_one(otel: Any) -> None:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    stub = KeepingProducer()
    p = TracedProducer(stub, tracing, CONF)
    keys = [b"k-1", None, b"\xff", b"k-4"]  # a text key, none, a binary one (never recorded)
    for i, key in enumerate(keys):
        p.produce("orders", b"v" if i % 2 else None, key, headers=[("app", b"1")])
        stub.calls[-1][1]["on_delivery"](None, Message(topic="orders", partition=2, offset=40 + i, latency=0.002))
    sends = otel.named("send orders")
    assert len(sends) == 4
    first = dict(sends[0].attributes)
    assert first["messaging.kafka.message.key"] == "k-1" and first["messaging.kafka.offset"] == 40
    for i, span in enumerate(sends[1:], start=1):
        expected = {k: v for k, v in first.items() if k not in ("messaging.kafka.message.key", "messaging.kafka.offset",
                                                                   "messaging.kafka.message.tombstone")}
        if keys[i] == b"k-4":
            expected["messaging.kafka.message.key"] = "k-4"
        if i % 2 == 0:
            expected["messaging.kafka.message.tombstone"] = True
        expected["messaging.kafka.offset"] = 40 + i
        assert dict(span.attributes) == expected, i
        # the broker's latency ends the span, from its start
        assert span.end_time - span.start_time == 2_000_000

    c = TracedConsumer(ListConsumer([consumed(o, k) for o, k in zip(range(7, 11), keys)]), tracing, CONF)
    for _ in keys:
        m = c.poll(0)
        with c.process(m):
            pass
    processes = otel.named("process orders")
    polls = otel.named("poll orders")
    assert len(processes) == 4 and len(polls) == 4
    assert all(dict(s.attributes) == dict(polls[0].attributes) for s in polls)
    base = without_times(processes[0].attributes)
    assert base["messaging.kafka.offset"] == 7 and base["messaging.kafka.message.key"] == "k-1"
    for i, span in enumerate(processes[1:], start=1):
        got = without_times(span.attributes)
        assert got["messaging.kafka.offset"] == 7 + i
        assert got.get("messaging.kafka.message.key") == ("k-4" if i == 3 else None)
        assert got.get("messaging.kafka.message.tombstone") == (True if (7 + i) % 2 == 0 else None)
        common = {k: v for k, v in base.items() if k not in ("messaging.kafka.offset", "messaging.kafka.message.key",
                                                             "messaging.kafka.message.tombstone")}
        assert {k: got[k] for k in common} == common, i
        assert span.parent is not None and span.parent.span_id == 0x00F067AA0BA902B7
    counts = {name: sum(p.value for p in points if hasattr(p, "value")) for name, points in otel.metrics().items()}
    assert counts["messaging.client.sent.messages"] == 4
    assert counts["messaging.client.consumed.messages"] == 4


def test_a_span_ended_by_user_code_gets_nothing_set_afterwards(otel: Any, caplog: Any) -> None:
    def end_some(span: Any, topic: str, value: Any) -> None:
        if value == b"end-me":
            span.end()

    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, on_send=end_some)
    c = TracedConsumer(ListConsumer([]), tracing, CONF)
    stub = KeepingProducer()
    p = TracedProducer(stub, tracing, CONF)
    with caplog.at_level(logging.WARNING):
        for offset in (1, 2, 3):  # the first makes the template; the others start from it
            with c.process(consumed(offset, b"k")):
                if offset == 3:
                    trace.get_current_span().end()  # the handler ends its own span
        for value in (b"a", b"b", b"end-me"):
            p.produce("orders", value)
            stub.calls[-1][1]["on_delivery"](None, Message(topic="orders", partition=0, offset=5))
    assert not [r for r in caplog.records if "Setting attribute on ended span" in r.getMessage()]
    ended_early = [s for s in otel.named("process orders") if s.attributes.get("messaging.kafka.offset") is None]
    assert len(ended_early) == 1  # started with the sampling attributes only; nothing was set after
    sends = otel.named("send orders")
    assert [s.attributes.get("messaging.kafka.offset") for s in sends] == [5, 5, None]
