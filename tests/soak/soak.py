"""The Python soak of scripts/soak.sh: MESSAGES traced messages produce -> consume -> forward ->
consume through kafka_trace.confluent, spans exported over OTLP/HTTP (the OTEL_* environment;
the soak's receiver is alternately up and down). Prints one JSON line: messages lost and
duplicated at the last consumer, spans ended/exported/failed, resident memory after warm-up
(a tenth of the messages) and at the end.

    python soak.py MESSAGES BOOTSTRAP IN_TOPIC OUT_TOPIC
"""

from __future__ import annotations

import json
import sys
import threading
import time

from confluent_kafka import Consumer, Producer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Counted(OTLPSpanExporter):
    """The OTLP exporter, counting what it exported and what failed."""

    exported = 0
    failed = 0

    def export(self, spans):  # type: ignore[override]
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            Counted.exported += len(spans)
        else:
            Counted.failed += len(spans)
        return result


class Ended(SpanProcessor):
    count = 0

    def on_end(self, span) -> None:  # type: ignore[override]
        Ended.count += 1


def main() -> None:
    n = int(sys.argv[1])
    bootstrap, in_topic, out_topic = sys.argv[2], sys.argv[3], sys.argv[4]
    started = time.monotonic()
    provider = TracerProvider(resource=Resource.create({"service.name": "soak-python"}))
    provider.add_span_processor(Ended())
    # A short export timeout: a receiver that is down costs a failed batch, not a stall.
    provider.add_span_processor(BatchSpanProcessor(Counted(timeout=2), max_queue_size=2048, schedule_delay_millis=500))
    tracing = KafkaTracing(tracer_provider=provider)
    pconf = {"bootstrap.servers": bootstrap, "client.id": "soak-python", "linger.ms": 5, "enable.idempotence": True}
    producer = TracedProducer(Producer(pconf), tracing, pconf)

    seen = bytearray(n)
    counts = {"unique": 0, "dups": 0, "rss_warm": 0}
    done = threading.Event()

    def consumer(group: str, topic: str) -> TracedConsumer:
        conf = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": group, "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100}
        c = TracedConsumer(Consumer(conf), tracing, conf)
        c.subscribe([topic])
        return c

    def produce(topic: str, value: bytes) -> None:
        while True:
            try:
                producer.produce(topic, value)
                return
            except BufferError:  # the local queue is full: serve deliveries, then retry
                producer.poll(0.01)

    def forward() -> None:
        c = consumer(f"{in_topic}-forwarder", in_topic)
        while not done.is_set():
            for m in c.consume(num_messages=500, timeout=0.1):
                if m.error() is None:
                    with c.process(m):
                        produce(out_topic, m.value())
            producer.poll(0)
        c.close()

    def sink() -> None:
        c = consumer(f"{out_topic}-sink", out_topic)
        warm = max(n // 10, 1)
        while not done.is_set():
            for m in c.consume(num_messages=500, timeout=0.1):
                if m.error() is not None:
                    continue
                with c.process(m):
                    i = int(m.value())
                    if seen[i]:
                        counts["dups"] += 1
                    else:
                        seen[i] = 1
                        counts["unique"] += 1
                        if counts["unique"] == warm:
                            counts["rss_warm"] = rss_kb()
        c.close()

    threads = [threading.Thread(target=forward), threading.Thread(target=sink)]
    for t in threads:
        t.start()
    for i in range(n):
        produce(in_topic, str(i).encode())
        if i % 1000 == 0:
            producer.poll(0)
    last, at = -1, time.monotonic()
    while counts["unique"] < n:
        if counts["unique"] != last:
            last, at = counts["unique"], time.monotonic()
        elif time.monotonic() - at > 120:
            break
        time.sleep(0.05)
        producer.poll(0)
    time.sleep(2)  # late duplicates
    done.set()
    for t in threads:
        t.join()
    producer.flush(30)
    rss_end = rss_kb()
    provider.shutdown()
    print(json.dumps({
        "binding": "python", "messages": n, "received": counts["unique"], "lost": n - counts["unique"],
        "duplicated": counts["dups"], "spans_ended": Ended.count, "spans_exported": Counted.exported,
        "spans_export_failed": Counted.failed, "spans_dropped": Ended.count - Counted.exported - Counted.failed,
        "rss_warm_kb": counts["rss_warm"], "rss_end_kb": rss_end, "seconds": round(time.monotonic() - started, 1),
    }))


if __name__ == "__main__":
    main()
