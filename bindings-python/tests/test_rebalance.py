"""Consumer-side faults on the real broker: a consumer-group rebalance in the middle of traced
batches (confluent-kafka). Consumer A handles a 4-partition topic in ``consume`` batches, each
message inside ``with consumer.process(m)``, slowly; consumer B joins (A's partitions move under
it), handles 20 messages and then dies in the middle of a batch (its handler raises; it stops
polling without committing or closing, so the group expels it after max.poll.interval.ms) and A
handles B's uncommitted messages again. Checked: every message handled, every handler run inside
its own ended process span whose parent is that message's own send span, no span left open,
exactly one span per handler run, and no context current between messages or after a batch."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

from confluent_kafka import Consumer, Producer
from opentelemetry import context as otel_context, trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

from conftest import BOOTSTRAP, wait_for

MESSAGES = 200


class OpenSpans(SpanProcessor):
    """Knows which spans were started and not ended yet."""

    def __init__(self) -> None:
        self.open: Dict[int, str] = {}
        self.lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self.lock:
            self.open[span.context.span_id] = span.name

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.open.pop(span.context.span_id, None)


class Killed(Exception):
    pass


def test_rebalance_mid_batch_keeps_every_parent_and_ends_every_span(new_topic: Any) -> None:
    topic = new_topic("kt-py-rebalance", partitions=4)
    group = f"g-{topic}"
    exporter = InMemorySpanExporter()
    tracker = OpenSpans()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.add_span_processor(tracker)
    tracer = provider.get_tracer("rebalance")
    tracing = KafkaTracing(tracer_provider=provider)

    pconf = {"bootstrap.servers": BOOTSTRAP, "client.id": "rebalance-producer", "linger.ms": 5}
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    for i in range(MESSAGES):
        with tracer.start_as_current_span(f"root-{i}"):
            producer.produce(topic, str(i).encode(), key=f"m{i}".encode(), partition=i % 4)
    assert producer.flush(30) == 0

    seen: List[Dict[str, Any]] = []
    leaks: List[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    zombies: List[Any] = []  # a killed consumer is neither closed nor collected

    def run(name: str, delay: float, die_after: Optional[int]) -> threading.Thread:
        conf = {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": group,
            "client.id": f"rebalance-{name}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "max.poll.interval.ms": 7000,
            "heartbeat.interval.ms": 500,
            "partition.assignment.strategy": "range",
        }

        def loop() -> None:
            consumer = TracedConsumer(Consumer(conf), tracing, conf)
            consumer.subscribe([topic])
            handled = 0
            while not stop.is_set():
                batch = [m for m in consumer.consume(num_messages=25, timeout=0.2) if m.error() is None]
                if not batch:
                    continue
                try:
                    for m in batch:
                        if trace.get_current_span().get_span_context().is_valid:
                            leaks.append(f"{name}: a span is current before {m.key()!r}")
                        with consumer.process(m):
                            sc = trace.get_current_span().get_span_context()
                            with lock:
                                seen.append({"key": m.key().decode(), "consumer": name, "trace_id": sc.trace_id, "span_id": sc.span_id})
                            handled += 1
                            if handled == die_after:
                                raise Killed()
                            time.sleep(delay)
                except Killed:
                    zombies.append(consumer)  # no commit, no close, no leave-group
                    return
                if trace.get_current_span().get_span_context().is_valid:
                    leaks.append(f"{name}: a span is current after a batch")
                try:
                    consumer.commit(asynchronous=False)
                except Exception:  # partitions revoked meanwhile: their messages come again
                    pass
            consumer.close()

        t = threading.Thread(target=loop, name=f"consumer-{name}", daemon=True)
        t.start()
        return t

    outer = otel_context.get_current()
    a = run("A", 0.04, None)
    wait_for("A to handle 20 messages", lambda: len(seen) >= 20, 60)
    b = run("B", 0.005, 20)
    wait_for("B to handle 20 messages and die", lambda: not b.is_alive(), 90)
    wait_for("every message handled", lambda: len({s["key"] for s in seen}) == MESSAGES, 120)
    stop.set()
    a.join(30)
    assert not a.is_alive()
    assert otel_context.get_current() == outer

    spans = exporter.get_finished_spans()
    sends = {s.attributes["messaging.kafka.message.key"]: s.context for s in spans if s.name == f"send {topic}"}
    assert len(sends) == MESSAGES
    process = {s.context.span_id: s for s in spans if s.name == f"process {topic}"}
    assert [n for n in tracker.open.values() if n == f"process {topic}"] == [], "no process span left open"
    assert sum(1 for s in seen if s["consumer"] == "B") == 20
    assert len(process) == len(seen), "exactly one ended process span per handler run"
    for s in seen:
        span = process.get(s["span_id"])
        assert span is not None, f"{s}: not handled inside an ended process span"
        assert span.attributes["messaging.kafka.message.key"] == s["key"], f"{s['key']}: the current span is its own"
        assert s["trace_id"] == sends[s["key"]].trace_id, f"{s['key']} ({s['consumer']}): the producer's trace"
        assert span.parent is not None and span.parent.span_id == sends[s["key"]].span_id, f"{s['key']} ({s['consumer']}): its own send span is the parent"
    assert leaks == []
    twice = sum(1 for k in {s["key"] for s in seen} if sum(1 for x in seen if x["key"] == k) > 1)
    print(f"rebalance: {MESSAGES} messages, {len(seen)} handler runs (B 20), {twice} handled twice")
