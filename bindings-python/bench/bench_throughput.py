"""confluent-kafka producer+consumer throughput on a real broker: no instrumentation vs
kafka-trace vs opentelemetry-instrumentation-confluent-kafka (the peer), in one process,
interleaved over several rounds (best round per mode reported).

Every mode produces N messages (poll(0) after each produce, flush at the end) and consumes them
with poll() one by one (the API both instrumentations trace per message). kafka-trace:
TracedProducer (send span per message, ended on delivery) and TracedConsumer with `process(msg)`
around each message. Peer: instrument_producer / instrument_consumer (its poll() wrapper makes a
`recv` and a `process` span per message). Spans go to an SDK TracerProvider with a
BatchSpanProcessor and an exporter that drops them (the cost of recording, not of a network).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from typing import Any, Callable, Dict, List, Sequence, Tuple

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


class DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def new_topic(admin: AdminClient) -> str:
    name = f"kt-bench-{uuid.uuid4().hex[:8]}"
    for f in admin.create_topics([NewTopic(name, 1, 1)]).values():
        f.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(name, timeout=5).topics.get(name)
        if md and md.error is None and all(p.leader >= 0 for p in md.partitions.values()):
            return name
        time.sleep(0.05)
    raise RuntimeError("topic not ready")


def run_mode(mode: str, n: int, payload: bytes, provider: TracerProvider, admin: AdminClient) -> Tuple[float, float, float]:
    topic = new_topic(admin)
    pconf = {"bootstrap.servers": BOOTSTRAP, "linger.ms": 5, "client.id": "bench"}
    cconf = {"bootstrap.servers": BOOTSTRAP, "group.id": f"{topic}-g", "auto.offset.reset": "earliest",
             "enable.auto.commit": False, "client.id": "bench"}
    tracing = KafkaTracing(tracer_provider=provider)
    if mode == "none":
        producer: Any = Producer(pconf)
        consumer: Any = Consumer(cconf)
    elif mode == "kafka-trace":
        producer = TracedProducer(Producer(pconf), tracing, pconf)
        consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    else:
        producer = ConfluentKafkaInstrumentor.instrument_producer(Producer(pconf), tracer_provider=provider)
        consumer = ConfluentKafkaInstrumentor.instrument_consumer(Consumer(cconf), tracer_provider=provider)

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        while True:
            try:
                producer.produce(topic, payload, headers=[("app", b"1")])
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    produce_s = time.perf_counter() - t0

    consumer.subscribe([topic])
    got = 0
    process: Callable[[Any], Any] = consumer.process if mode == "kafka-trace" else None  # type: ignore[assignment]
    t1 = None
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error() is not None:
            continue
        if t1 is None:
            t1 = time.perf_counter()  # from the first message: group join is not throughput
        if process is not None:
            with process(m):
                pass
        got += 1
    consume_s = time.perf_counter() - (t1 or time.perf_counter())
    cpu_s = time.process_time() - cpu0  # this process, librdkafka threads included
    consumer.close()
    assert got == n, f"{mode}: consumed {got} of {n}"
    return produce_s, consume_s, cpu_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--payload", type=int, default=256)
    ap.add_argument("--sample-ratio", type=float, default=1.0, help="ParentBased(TraceIdRatioBased(r)); 1.0 records every span")
    args = ap.parse_args()
    sampler = ALWAYS_ON if args.sample_ratio >= 1 else ParentBased(TraceIdRatioBased(args.sample_ratio))
    exporter = DropExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536, max_export_batch_size=4096))
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    payload = os.urandom(args.payload)
    modes = ["none", "kafka-trace", "peer"]
    results: Dict[str, List[Tuple[float, float, float]]] = {m: [] for m in modes}
    run_mode("none", 1000, payload, provider, admin)  # warm-up
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else list(reversed(modes)):
            results[mode].append(run_mode(mode, args.messages, payload, provider, admin))
    n = args.messages
    print(f"{n} messages x {args.payload} B, {args.rounds} rounds, sample ratio {args.sample_ratio}, best round per mode")
    print(f"{'mode':12} {'produce msg/s':>14} {'consume msg/s':>14} {'total msg/s':>12} {'vs none':>8} {'CPU us/msg':>11} {'vs none':>8}")
    best_total = {m: max(n / (p + c) for p, c, _ in results[m]) for m in modes}
    best_cpu = {m: min(cpu for _, _, cpu in results[m]) / n * 1e6 for m in modes}
    for m in modes:
        p = max(n / p for p, _, _ in results[m])
        c = max(n / c for _, c, _ in results[m])
        print(
            f"{m:12} {p:14.0f} {c:14.0f} {best_total[m]:12.0f} {best_total[m] / best_total['none']:7.2f}x"
            f" {best_cpu[m]:11.1f} {best_cpu['none'] / best_cpu[m]:7.2f}x"
        )
    provider.shutdown()


if __name__ == "__main__":
    main()
