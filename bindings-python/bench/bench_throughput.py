"""confluent-kafka producer+consumer throughput on a real broker: no instrumentation vs the
OpenTelemetry SDK alone vs kafka-trace vs opentelemetry-instrumentation-confluent-kafka (the
peer), in one process, interleaved over several rounds (best round per mode reported).

    KAFKA_BOOTSTRAP=127.0.0.1:9092 python bench/bench_throughput.py                 # full sampling
    KT_BENCH_SAMPLING=0.01 python bench/bench_throughput.py                          # ParentBased(TraceIdRatioBased(0.01))
    python bench/bench_throughput.py --messages 50000 --rounds 5 --sample-ratio 0.01 # longer

Every mode produces N messages (poll(0) after each produce, flush at the end) and consumes them
with poll() one by one (the API both instrumentations trace per message).
- none: the plain clients.
- sdk-floor: the same two spans a traced message gets, made with the SDK directly and nothing
  else (no headers, no attributes, no metrics): a PRODUCER span started before each produce and
  ended in its delivery callback, a CONSUMER span per consumed message made current with
  attach/detach around the (empty) handler.
- kafka-trace: TracedProducer (send span per message, ended on delivery) and TracedConsumer with
  `process(msg)` around each message (its poll() also records the core's `poll` span).
- peer: instrument_producer / instrument_consumer (its poll() wrapper makes a `recv` and a
  `process` span per message).
Spans go to an SDK TracerProvider with a BatchSpanProcessor and an exporter that drops them (the
cost of recording, not of a network); metrics go to the API's default (no-op) meter provider.

Prints a table and one `BENCH_ROW {json}` line per mode (issue 12's contract): value = total
msg/s (N / (produce time + consume time), consume timed from the first message so that the
group join is not counted), cpu_us_per_msg = process CPU time (user+sys, librdkafka's threads
included) of those same two windows / N. Defaults (10,000 messages, 3 rounds, 4 modes) take
well under the 90 s budget (all four modes took 7.5 s at 1% and 28 s at full sampling, in
wall time on the shared 2-core machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import uuid
from typing import Any, Callable, Dict, List, Sequence, Tuple

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
MODES = ("none", "sdk-floor", "kafka-trace", "peer")


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
    tracer = provider.get_tracer("sdk-floor")
    if mode in ("none", "sdk-floor"):
        producer: Any = Producer(pconf)
        consumer: Any = Consumer(cconf)
    elif mode == "kafka-trace":
        producer = TracedProducer(Producer(pconf), tracing, pconf)
        consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    else:
        producer = ConfluentKafkaInstrumentor.instrument_producer(Producer(pconf), tracer_provider=provider)
        consumer = ConfluentKafkaInstrumentor.instrument_consumer(Consumer(cconf), tracer_provider=provider)

    floor = mode == "sdk-floor"
    # Each mode starts with no spans of another mode queued or waiting for the collector: the
    # provider is shared, and whichever mode ran next used to pay for exporting and collecting
    # the spans the one before it left queued (one run put ours at 0.95x the peer, the next at
    # 1.16x).
    provider.force_flush()
    gc.collect()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        span = tracer.start_span(f"send {topic}", kind=SpanKind.PRODUCER) if floor else None
        while True:
            try:
                if span is not None:
                    producer.produce(topic, payload, headers=[("app", b"1")], on_delivery=lambda err, msg, s=span: s.end())
                else:
                    producer.produce(topic, payload, headers=[("app", b"1")])
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    produce_s = time.perf_counter() - t0
    cpu_produce = time.process_time() - cpu0

    consumer.subscribe([topic])
    got = 0
    process: Callable[[Any], Any] = consumer.process if mode == "kafka-trace" else None  # type: ignore[assignment]
    t1 = None
    cpu1 = 0.0
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error() is not None:
            continue
        if t1 is None:
            # From the first message: the group join is not throughput.
            t1, cpu1 = time.perf_counter(), time.process_time()
        if process is not None:
            with process(m):
                pass
        elif floor:
            span = tracer.start_span(f"process {topic}", kind=SpanKind.CONSUMER)
            token = otel_context.attach(trace.set_span_in_context(span))
            otel_context.detach(token)
            span.end()
        got += 1
    consume_s = time.perf_counter() - (t1 or time.perf_counter())
    # The mode's own spans exported (on the processor's thread) count in its CPU time, as they
    # would in an application; the wall-clock rate is the client's.
    provider.force_flush()
    # This process, librdkafka threads and the export thread included.
    cpu_s = cpu_produce + (time.process_time() - cpu1 if t1 is not None else 0.0)
    consumer.close()
    assert got == n, f"{mode}: consumed {got} of {n}"
    return produce_s, consume_s, cpu_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--payload", type=int, default=256)
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    ap.add_argument("--sample-ratio", type=float, default=None,
                    help="ParentBased(TraceIdRatioBased(r)); 1.0 records every span (default: $KT_BENCH_SAMPLING or 1.0)")
    args = ap.parse_args()
    ratio = args.sample_ratio if args.sample_ratio is not None else float(os.environ.get("KT_BENCH_SAMPLING", "1.0"))
    args.sample_ratio = ratio
    sampler = ALWAYS_ON if ratio >= 1 else ParentBased(TraceIdRatioBased(ratio))
    exporter = DropExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536, max_export_batch_size=4096))
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    payload = os.urandom(args.payload)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown or "none" not in modes:
        ap.error(f"--modes: {','.join(sorted(unknown)) or 'none is required (the baseline)'}")
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
    sampling = "full" if ratio >= 1 else f"{ratio * 100:g}%"
    for m in modes:
        row = {"group": "python-confluent",
               "row": f"confluent-kafka produce+consume, {n} msgs x {args.payload} B, poll() per message",
               "mode": m, "sampling": sampling, "value": round(best_total[m], 1), "unit": "msg/s",
               "cpu_us_per_msg": round(best_cpu[m], 2)}
        print("BENCH_ROW " + json.dumps(row))
    provider.shutdown()


if __name__ == "__main__":
    main()
