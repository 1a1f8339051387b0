"""The per-message cost of the Python side alone, without a broker: a stand-in confluent-kafka
producer (``produce`` keeps the message, ``poll`` serves its delivery callback with a real
``confluent_kafka.Message``) and consumer (``poll`` hands those messages back, headers included).
What it measures is exactly what the instrumentation adds per message in this process, with no
network, no librdkafka threads and no broker noise, so it can run under
``valgrind --tool=callgrind`` for instruction counts that do not depend on machine load.

    python bench/bench_path.py --mode kafka-trace --messages 20000      # CPU us per message
    KT_BENCH_SAMPLING=0.01 python bench/bench_path.py --mode sdk-floor
    bash bench/callgrind_path.sh                                         # instructions per message

Modes: ``none`` (the stand-in clients alone), ``sdk-floor`` (a PRODUCER span per produce ended in
the delivery callback, a CONSUMER span per consumed message made current with attach/detach around
the handler: the OpenTelemetry SDK alone, no header work), ``kafka-trace`` (TracedProducer and
TracedConsumer with ``process(msg)`` around the handler), ``peer``
(opentelemetry-instrumentation-confluent-kafka's ``instrument_producer``/``instrument_consumer``
over the same stand-in clients, given the clients' ``config`` as its wrappers of real clients
read it: a ``send`` span per produce, a ``recv`` and a ``process`` span per polled message, the
latter current until the next poll). Spans go to an SDK ``TracerProvider`` with a
``BatchSpanProcessor`` and an exporter that drops them, as in bench_throughput.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from confluent_kafka import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

MODES = ("none", "sdk-floor", "kafka-trace", "peer")
# Not contract modes (no BENCH_ROW): sdk-floor plus the CLIENT span the core records for each
# receive call that returned messages, i.e. the SDK's own cost of the spans kafka-trace makes;
# "+attrs": those spans carrying the attributes kafka-trace's spans carry (read once from a
# kafka-trace run of this file into an in-memory exporter), each span's whole set given to
# `start_span` as one dict, the SDK's cheapest way (no headers, no metrics either).
EXTRA_MODES = ("sdk-floor+poll", "sdk-floor+attrs", "sdk-floor+poll+attrs")

# span name -> the attributes kafka-trace's span of that name carries (filled by `our_attributes`).
OUR_ATTRIBUTES: Dict[str, Dict[str, Any]] = {}


def our_attributes(topic: str = "orders") -> Dict[str, Dict[str, Any]]:
    """The attributes of the send, poll and process spans kafka-trace makes for one message of
    `run`, as exported (full sampling, in-memory exporter)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    run("kafka-trace", 1, provider, topic)
    provider.shutdown()
    return {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class StubProducer:
    """``produce`` keeps the message; ``poll``/``flush`` serve the delivery callbacks."""

    config: Optional[Dict[str, str]] = None  # read by the peer's wrapper (mode "peer")

    def __init__(self) -> None:
        self.pending: List[Any] = []
        self.sent: List[Message] = []
        self.offset = 0

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1,
                on_delivery: Optional[Callable[[Any, Any], None]] = None, timestamp: int = 0,
                headers: Any = None, **kwargs: Any) -> None:
        msg = Message(topic=topic, partition=0, offset=self.offset, key=key, value=value,
                      headers=headers, timestamp=(1, 1_700_000_000_000), latency=0.001)
        self.offset += 1
        self.sent.append(msg)
        if on_delivery is not None:
            self.pending.append((on_delivery, msg))

    def poll(self, timeout: float = 0) -> int:
        pending, self.pending = self.pending, []
        for cb, msg in pending:
            cb(None, msg)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


class StubConsumer:
    config: Optional[Dict[str, str]] = None  # read by the peer's wrapper (mode "peer")

    def __init__(self, messages: List[Message]) -> None:
        self.messages = iter(messages)

    def poll(self, timeout: float = 0) -> Optional[Message]:
        return next(self.messages, None)


def provider_for(sampling: float, export_at_shutdown: bool = False) -> TracerProvider:
    """``export_at_shutdown``: the batch processor exports only when the provider shuts down (as
    path_pieces.py's), so no timer-driven export lands at a load-dependent point of a run and
    instruction counts repeat (at full sampling those exports moved them by up to ~13k per
    message); every span of the run stays queued until then (at most 65,536)."""
    sampler = ALWAYS_ON if sampling >= 1 else ParentBased(TraceIdRatioBased(sampling))
    provider = TracerProvider(sampler=sampler)
    if export_at_shutdown:
        processor = BatchSpanProcessor(DropExporter(), max_queue_size=65536, max_export_batch_size=65536,
                                       schedule_delay_millis=3_600_000)
    else:
        processor = BatchSpanProcessor(DropExporter(), max_queue_size=65536, max_export_batch_size=4096)
    provider.add_span_processor(processor)
    return provider


def run(mode: str, n: int, provider: TracerProvider, topic: str = "orders", payload: bytes = b"x" * 256) -> float:
    """Produces and consumes ``n`` messages; returns the process CPU seconds of the loop."""
    stub = StubProducer()
    conf = {"bootstrap.servers": "127.0.0.1:9092", "client.id": "bench", "group.id": "bench-g"}
    handle: Callable[[Any], None]
    if mode == "kafka-trace":
        tracing = KafkaTracing(tracer_provider=provider)
        producer: Any = TracedProducer(stub, tracing, conf)
    elif mode == "peer":
        from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor

        stub.config = conf  # what its wrappers read bootstrap.servers from (server.address/port)
        producer = ConfluentKafkaInstrumentor.instrument_producer(stub, tracer_provider=provider)
    else:
        producer = stub
    tracer = provider.get_tracer("sdk-floor")

    cpu0 = time.process_time()
    attrs = "+attrs" in mode
    if attrs and not OUR_ATTRIBUTES:
        OUR_ATTRIBUTES.update(our_attributes(topic))
    send_attrs, poll_attrs, process_attrs = (
        (OUR_ATTRIBUTES[f"{op} {topic}"] for op in ("send", "poll", "process")) if attrs else (None, None, None))
    for _ in range(n):
        if mode.startswith("sdk-floor"):
            span = tracer.start_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=send_attrs)
            producer.produce(topic, payload, headers=[("app", b"1")], on_delivery=lambda err, msg, s=span: s.end())
        else:
            producer.produce(topic, payload, headers=[("app", b"1")])
        producer.poll(0)
    producer.flush()

    stub_consumer = StubConsumer(stub.sent)
    consumer: Any = TracedConsumer(stub_consumer, tracing, conf) if mode == "kafka-trace" else stub_consumer
    if mode == "peer":
        stub_consumer.config = conf
        consumer = ConfluentKafkaInstrumentor.instrument_consumer(stub_consumer, tracer_provider=provider)
    got = 0
    while True:
        m = consumer.poll(0.5)
        if m is None:
            break
        if mode.startswith("sdk-floor+poll"):
            tracer.start_span(f"poll {topic}", kind=SpanKind.CLIENT, attributes=poll_attrs).end()
        if mode == "kafka-trace":
            with consumer.process(m):
                pass
        elif mode.startswith("sdk-floor"):
            span = tracer.start_span(f"process {topic}", kind=SpanKind.CONSUMER, attributes=process_attrs)
            token = otel_context.attach(trace.set_span_in_context(span))
            otel_context.detach(token)
            span.end()
        got += 1
    cpu = time.process_time() - cpu0
    assert got == n, (got, n)
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=MODES + EXTRA_MODES + ("all",), default="all")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--sample-ratio", type=float, default=None,
                    help="default: $KT_BENCH_SAMPLING or 1.0 (1.0 = every span recorded)")
    ap.add_argument("--export-at-shutdown", action="store_true",
                    help="export spans only at the end (repeatable instruction counts; <= 65,536 spans)")
    args = ap.parse_args()
    sampling = args.sample_ratio if args.sample_ratio is not None else float(os.environ.get("KT_BENCH_SAMPLING", "1.0"))
    provider = provider_for(sampling, args.export_at_shutdown)
    modes = MODES if args.mode == "all" else (args.mode,)
    for mode in modes:
        run(mode, args.warmup, provider)
    best = {m: min(run(m, args.messages, provider) for _ in range(args.rounds)) for m in modes} if args.messages else {}
    provider.shutdown()
    label = "full" if sampling >= 1 else f"{sampling * 100:g}%"
    for mode, cpu in best.items():
        us = cpu / args.messages * 1e6
        print(f"{mode:12} {us:8.2f} CPU us/msg (no broker, sampling {label})", file=sys.stderr)
        if mode not in MODES:
            continue
        row = {"group": "python-confluent", "row": "per-message path without broker (stub clients)",
               "mode": mode, "sampling": label, "value": round(us * 1000, 1), "unit": "ns/op",
               "cpu_us_per_msg": round(us, 3)}
        print("BENCH_ROW " + json.dumps(row))


if __name__ == "__main__":
    main()
