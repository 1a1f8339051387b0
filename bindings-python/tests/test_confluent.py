"""confluent-kafka against the real broker: produce -> consume -> forward -> consume, with exact
parent chains, attributes, delivery-time span ends, batches, bad headers and metrics."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

# Imported before kafka_trace on purpose: the wrappers take instances, so import order is moot.
from confluent_kafka import Consumer, Producer

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.trace import SpanKind, StatusCode

from kafka_trace import KafkaTracing, extract_parts
from kafka_trace.confluent import TracedConsumer, TracedProducer

from conftest import BOOTSTRAP, Otel, wait_for

HOST, PORT = BOOTSTRAP.rsplit(":", 1)


def producer_conf(**extra: Any) -> Dict[str, Any]:
    return {"bootstrap.servers": BOOTSTRAP, "client.id": "py-producer", **extra}


def consumer_conf(group: str, **extra: Any) -> Dict[str, Any]:
    return {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "client.id": f"{group}-client",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        **extra,
    }


def poll_one(consumer: Any, timeout: float = 30.0) -> Any:
    def get() -> Any:
        m = consumer.poll(0.2)
        return m if m is not None and m.error() is None else None

    return wait_for("a message", get, timeout)


def poll_n(consumer: Any, n: int, timeout: float = 60.0) -> List[Any]:
    got: List[Any] = []

    def enough() -> bool:
        for m in consumer.consume(num_messages=n - len(got), timeout=0.5):
            if m.error() is None:
                got.append(m)
        return len(got) >= n

    wait_for(f"{n} messages", enough, timeout)
    return got


def common(op: str, client: str) -> Dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.name": op,
        "messaging.operation.type": op,
        "messaging.client.id": client,
        "server.address": HOST,
        "server.port": int(PORT),
    }


def without_latency(attrs: Any) -> Tuple[Dict[str, Any], Optional[float]]:
    d = dict(attrs)
    return d, d.pop("kafka_trace.e2e_latency_ms", None)


def test_produce_consume_forward_consume(otel: Otel, new_topic: Any) -> None:
    a, b = new_topic("kt-py-a"), new_topic("kt-py-b")
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    pconf = producer_conf(**{"linger.ms": 300})
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    acks: List[Tuple[int, int, int]] = []

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None
        acks.append((time.time_ns(), msg.partition(), msg.offset()))

    with otel.tracer.start_as_current_span("request") as request:
        producer.produce(a, b"v1", key=b"k1", headers=[("x-app", b"1")], on_delivery=on_delivery)
        produced_at = time.time_ns()
    # Not ended by produce(): linger.ms holds the message back, the span waits for the ack.
    assert otel.named(f"send {a}") == []
    wait_for("delivery", lambda: producer.poll(0.1) is not None and acks)
    send_a = otel.one(f"send {a}")
    assert produced_at < send_a.end_time <= acks[0][0]
    assert send_a.end_time - produced_at > 200_000_000  # at least most of linger.ms after produce()
    assert send_a.kind == SpanKind.PRODUCER
    assert send_a.parent is not None and send_a.parent.span_id == request.get_span_context().span_id
    assert dict(send_a.attributes) == {
        **common("send", "py-producer"),
        "messaging.destination.name": a,
        "messaging.kafka.message.key": "k1",
        "messaging.destination.partition.id": "0",
        "messaging.kafka.offset": 0,
    }

    c1conf = consumer_conf("kt-py-g1")
    c1 = TracedConsumer(Consumer(c1conf), tracing, c1conf)
    c1.subscribe([a])
    msg = poll_one(c1)
    seen: Dict[str, Any] = {}
    with c1.process(msg) as span:
        seen["current"] = trace.get_current_span().get_span_context()
        producer.produce(b, msg.value(), key=msg.key(), headers=msg.headers())
        producer.flush(30)
    assert span is not None and seen["current"] == span.get_span_context()
    process_a = otel.one(f"process {a}")
    assert process_a.kind == SpanKind.CONSUMER
    assert process_a.parent is not None and process_a.parent.span_id == send_a.context.span_id
    assert process_a.parent.is_remote
    attrs, latency = without_latency(process_a.attributes)
    assert latency is not None and 0 <= latency < 120_000
    assert attrs == {
        **common("process", "kt-py-g1-client"),
        "messaging.destination.name": a,
        "messaging.destination.partition.id": "0",
        "messaging.kafka.offset": 0,
        "messaging.kafka.message.key": "k1",
        "messaging.consumer.group.name": "kt-py-g1",
    }
    send_b = otel.one(f"send {b}")
    assert send_b.parent is not None and send_b.parent.span_id == process_a.context.span_id

    c2conf = consumer_conf("kt-py-g2")
    c2 = TracedConsumer(Consumer(c2conf), tracing, c2conf)
    c2.subscribe([b])
    msg2 = poll_one(c2)
    # Forwarding replaced the trace headers in place: one traceparent, the app header kept first.
    names = [n for n, _ in msg2.headers()]
    assert names == ["x-app", "traceparent"]
    tp = extract_parts(msg2.headers()).traceparent
    assert tp is not None and tp.span_id == f"{send_b.context.span_id:016x}"

    @c2.handler
    def handle(m: Any) -> str:
        return m.value().decode()

    assert handle(msg2) == "v1"
    process_b = otel.one(f"process {b}")
    assert process_b.parent is not None and process_b.parent.span_id == send_b.context.span_id
    trace_ids = {s.context.trace_id for s in (send_a, process_a, send_b, process_b)}
    assert trace_ids == {request.get_span_context().trace_id}
    c1.close()
    c2.close()

    points = otel.metrics()
    sent = {p.attributes["messaging.destination.name"]: p.value for p in points["messaging.client.sent.messages"]}
    assert sent == {a: 1, b: 1}
    consumed = {p.attributes["messaging.destination.name"]: p.value for p in points["messaging.client.consumed.messages"]}
    assert consumed == {a: 1, b: 1}
    # send (until acknowledged) and poll (the receive calls), never the handlers.
    assert {p.attributes["messaging.operation.name"] for p in points["messaging.client.operation.duration"]} == {"send", "poll"}
    assert sum(p.count for p in points["messaging.process.duration"]) == 2
    assert sum(p.count for p in points["kafka_trace.e2e.latency"]) == 2


def test_delivery_error_ends_the_span_with_the_error(otel: Otel) -> None:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    conf = {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 500, "socket.connection.setup.timeout.ms": 1000}
    producer = TracedProducer(Producer(conf), tracing, conf)
    errors: List[str] = []
    producer.produce("nowhere", b"x", on_delivery=lambda err, msg: errors.append(err.name()))
    wait_for("delivery failure", lambda: producer.poll(0.1) is not None and errors, timeout=20)
    span = otel.one("send nowhere")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == errors[0] == "_MSG_TIMED_OUT"
    assert "messaging.kafka.offset" not in span.attributes


def test_batch_consume_spans(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    pconf = producer_conf()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    for i in range(5):
        with otel.tracer.start_as_current_span(f"req-{i}"):
            producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    sends = {s.attributes["messaging.kafka.offset"]: s for s in otel.named(f"send {topic}")}
    assert sorted(sends) == [0, 1, 2, 3, 4]

    cconf = consumer_conf("kt-py-batch")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([topic])
    got: List[Any] = []

    def batch() -> bool:
        msgs = consumer.consume(num_messages=5, timeout=0.5)
        for m in msgs:
            with consumer.process(m):
                pass
            got.append(m)
        return len(got) >= 5

    wait_for("5 messages", batch)
    consumer.close()
    polls = otel.named(f"poll {topic}")
    assert polls and all(p.kind == SpanKind.CLIENT for p in polls)
    assert sum(p.attributes["messaging.batch.message_count"] for p in polls) == 5
    by_poll = {p.context.span_id: p for p in polls}
    for span in otel.named(f"process {topic}"):
        send = sends[span.attributes["messaging.kafka.offset"]]
        assert span.parent is not None and span.parent.span_id == send.context.span_id
        assert [link.context.span_id for link in span.links] and span.links[0].context.span_id in by_poll
        assert len(span.links) == 1


def test_link_strategy_and_topic_filter(otel: Otel, new_topic: Any) -> None:
    traced, skipped = new_topic("kt-py-in"), new_topic("kt-py-skip")
    tracing = KafkaTracing(
        tracer_provider=otel.tracer_provider,
        strategy="link",
        record_message_key=False,
        exclude_topics=["kt-py-skip-*"],
    )
    pconf = producer_conf()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    producer.produce(traced, b"1", key=b"secret")
    producer.produce(skipped, b"2", key=b"secret")
    assert producer.flush(30) == 0
    send = otel.one(f"send {traced}")
    assert otel.named(f"send {skipped}") == []
    assert "messaging.kafka.message.key" not in send.attributes

    cconf = consumer_conf("kt-py-link")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([traced, skipped])
    msgs = [poll_one(consumer), poll_one(consumer)]  # single polls: no batch poll span
    consumer.close()
    assert {m.topic() for m in msgs} == {traced, skipped}
    with otel.tracer.start_as_current_span("poll-loop") as loop:
        for m in msgs:
            with consumer.process(m):
                pass
    process = otel.one(f"process {traced}")
    assert otel.named(f"process {skipped}") == []
    # link: the ambient span is the parent, the producer a link.
    assert process.parent is not None and process.parent.span_id == loop.get_span_context().span_id
    assert [link.context.span_id for link in process.links] == [send.context.span_id]


def test_malformed_headers_never_raise_into_handlers(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    raw = Producer(producer_conf())
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    bad_headers: List[Any] = [
        [("traceparent", b"garbage")],
        [("traceparent", tp), ("TRACEPARENT", tp.replace(b"b7-01", b"b8-01"))],
        [("traceparent", b"\xff\xfe\x00" * 20), ("tracestate", b"\xff=\xff")],
        [("traceparent", None), ("baggage", b"\xc3(=%zz;;,=")],
        [("\xe9traceparent", b"x"), ("tracestate", b"a=1")],
        [("traceparent", tp + b"\n")],
    ]
    for h in bad_headers:
        raw.produce(topic, b"m", headers=h)
    assert raw.flush(30) == 0
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    cconf = consumer_conf("kt-py-bad")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([topic])
    handled: List[Any] = []

    @consumer.handler
    def handle(m: Any) -> None:
        handled.append(trace.get_current_span().get_span_context())

    for _ in bad_headers:
        handle(poll_one(consumer))
    consumer.close()
    assert len(handled) == len(bad_headers)
    spans = otel.named(f"process {topic}")
    assert len(spans) == len(bad_headers)
    # Two traceparent headers (any case) are not bad on Kafka: the last one wins (the latest hop).
    dup = spans.pop(1)
    assert dup.parent is not None and dup.parent.span_id == 0x00F067AA0BA902B8
    assert dup.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert all(s.parent is None for s in spans), "bad headers must start new root traces"
    assert len({s.context.trace_id for s in spans}) == len(bad_headers) - 1


def test_handler_exception_is_recorded_and_reraised(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    pconf = producer_conf()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    token = context.attach(baggage.set_baggage("user", "alice"))
    try:
        producer.produce(topic, b"x", headers={"x-app": b"1"})
    finally:
        context.detach(token)
    producer.flush(30)
    cconf = consumer_conf("kt-py-exc")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([topic])
    msg = poll_one(consumer)
    consumer.close()
    with pytest.raises(KeyError):
        with consumer.process(msg):
            assert baggage.get_baggage("user") == "alice"
            raise KeyError("boom")
    span = otel.one(f"process {topic}")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the scope was left cleanly
    assert context.get_current() == {} or not trace.get_current_span().get_span_context().is_valid


def test_hooks_are_called_and_cannot_break_the_app(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    calls: List[str] = []

    def on_send(span: Any, t: str, value: Any) -> None:
        calls.append(f"send:{t}")
        span.set_attribute("app.flag", 1)
        raise RuntimeError("hook bug")

    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, on_send=on_send)
    pconf = producer_conf()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    producer.produce(topic, b"x")
    assert producer.flush(30) == 0
    assert calls == [f"send:{topic}"]
    assert otel.one(f"send {topic}").attributes["app.flag"] == 1
