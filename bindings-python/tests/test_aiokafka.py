"""aiokafka against the real broker: send/send_and_wait, getone, getmany, async for."""

from __future__ import annotations

import time
from typing import Any, Dict, List

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from kafka_trace import KafkaTracing, extract_parts
from kafka_trace.aiokafka import TracedAIOKafkaConsumer, TracedAIOKafkaProducer

from conftest import BOOTSTRAP, Otel
from test_confluent import common, without_latency

import asyncio


def pconf(**extra: Any) -> Dict[str, Any]:
    return {"bootstrap_servers": BOOTSTRAP, "client_id": "py-aio-producer", **extra}


def cconf(group: str) -> Dict[str, Any]:
    return {
        "bootstrap_servers": BOOTSTRAP,
        "group_id": group,
        "client_id": f"{group}-client",
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }


async def test_send_getone_forward_async_for(otel: Otel, new_topic: Any) -> None:
    a, b = new_topic("kt-aio-a"), new_topic("kt-aio-b")
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    conf = pconf(linger_ms=300)
    producer = TracedAIOKafkaProducer(AIOKafkaProducer(**conf), tracing, conf)
    await producer.start()
    try:
        with otel.tracer.start_as_current_span("request") as request:
            fut = await producer.send(a, b"v1", key=b"k1", headers=[("x-app", b"1")])
            sent_at = time.time_ns()
        assert otel.named(f"send {a}") == []  # not ended by send(): waits for the ack
        metadata = await asyncio.wait_for(fut, 30)
        send_a = otel.one(f"send {a}")
        assert send_a.end_time > sent_at
        assert send_a.end_time - sent_at > 200_000_000  # linger_ms held the message back
        assert send_a.kind == SpanKind.PRODUCER
        assert send_a.parent is not None and send_a.parent.span_id == request.get_span_context().span_id
        assert dict(send_a.attributes) == {
            **common("send", "py-aio-producer"),
            "messaging.destination.name": a,
            "messaging.kafka.message.key": "k1",
            "messaging.destination.partition.id": str(metadata.partition),
            "messaging.kafka.offset": metadata.offset,
        }

        c1conf = cconf("kt-aio-g1")
        c1 = TracedAIOKafkaConsumer(AIOKafkaConsumer(a, **c1conf), tracing, c1conf)
        await c1.start()
        try:
            record = await asyncio.wait_for(c1.getone(), 30)
            with c1.process(record) as span:
                assert trace.get_current_span() is span
                await producer.send_and_wait(b, record.value, key=record.key, headers=record.headers)
        finally:
            await c1.stop()
        process_a = otel.one(f"process {a}")
        assert process_a.parent is not None and process_a.parent.span_id == send_a.context.span_id
        attrs, latency = without_latency(process_a.attributes)
        assert latency is not None and latency >= 0
        assert attrs == {
            **common("process", "kt-aio-g1-client"),
            "messaging.destination.name": a,
            "messaging.destination.partition.id": "0",
            "messaging.kafka.offset": 0,
            "messaging.kafka.message.key": "k1",
            "messaging.consumer.group.name": "kt-aio-g1",
        }
        send_b = otel.one(f"send {b}")
        assert send_b.parent is not None and send_b.parent.span_id == process_a.context.span_id
    finally:
        await producer.stop()

    c2conf = cconf("kt-aio-g2")
    c2 = TracedAIOKafkaConsumer(AIOKafkaConsumer(b, **c2conf), tracing, c2conf)
    await c2.start()
    seen: List[Any] = []
    try:
        async def loop() -> None:
            async for record in c2:
                seen.append((record, trace.get_current_span().get_span_context()))
                break

        await asyncio.wait_for(loop(), 30)
    finally:
        await c2.stop()  # ends the open `process` span of the loop body
    record, current = seen[0]
    assert [n for n, _ in record.headers] == ["x-app", "traceparent"]
    tp = extract_parts(record.headers).traceparent
    assert tp is not None and tp.span_id == f"{send_b.context.span_id:016x}"
    process_b = otel.one(f"process {b}")
    assert current == process_b.context
    assert process_b.parent is not None and process_b.parent.span_id == send_b.context.span_id
    # The receive calls (getone, async for) have poll spans of their own (roots); the rest is one trace.
    assert len({s.context.trace_id for s in otel.spans() if not s.name.startswith("poll")}) == 1


async def test_getmany_batch_and_bad_headers(otel: Otel, new_topic: Any) -> None:
    topic = new_topic("kt-aio-batch")
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    conf = pconf()
    producer = TracedAIOKafkaProducer(AIOKafkaProducer(**conf), tracing, conf)
    raw = AIOKafkaProducer(**pconf())
    await producer.start()
    await raw.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, f"v{i}".encode())
        await raw.send_and_wait(topic, b"bad", headers=[("traceparent", b"\xff\x00garbage"), ("traceparent", b"x")])
    finally:
        await producer.stop()
        await raw.stop()
    sends = {s.attributes["messaging.kafka.offset"]: s for s in otel.named(f"send {topic}")}
    assert sorted(sends) == [0, 1, 2]

    c = cconf("kt-aio-batch")
    consumer = TracedAIOKafkaConsumer(AIOKafkaConsumer(topic, **c), tracing, c)
    await consumer.start()
    handled: List[int] = []

    @consumer.handler
    async def handle(record: Any) -> None:
        handled.append(record.offset)

    try:
        deadline = time.monotonic() + 30
        while len(handled) < 4 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    await handle(record)
    finally:
        await consumer.stop()
    assert sorted(handled) == [0, 1, 2, 3]
    polls = {p.context.span_id: p for p in otel.named(f"poll {topic}")}
    assert sum(p.attributes["messaging.batch.message_count"] for p in polls.values()) == 4
    for span in otel.named(f"process {topic}"):
        offset = span.attributes["messaging.kafka.offset"]
        assert span.parent is not None
        if offset in sends:  # parent: the producer; link: the poll span
            assert span.parent.span_id == sends[offset].context.span_id
            assert [link.context.span_id in polls for link in span.links] == [True]
        else:  # bad headers: no remote parent, hangs under the poll span
            assert span.parent.span_id in polls and span.links == ()
