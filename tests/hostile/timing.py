"""What hostile headers cost in the Python binding (a measurement, not a test; run by
tests/hostile/timing.sh): extract, inject and a whole process span (KafkaTracing.process) with a
1 MB tracestate, 10,000 headers and 1,000 traceparent copies. Median and max of 50 runs, in ms."""

import statistics
import time
from types import SimpleNamespace

from opentelemetry.sdk.trace import TracerProvider

from kafka_trace import KafkaTracing, extract, inject

TP = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
STATE = ("a=" + "x" * 255 + "," + ",".join(f"k{i}={'y' * 250}" for i in range(4000))).encode()
MB = [("traceparent", TP), ("tracestate", STATE)]
MANY = [(f"h{i}", b"v") for i in range(10_000)] + [("traceparent", TP)]
COPIES = [("traceparent", TP)] * 1000
tracing = KafkaTracing(tracer_provider=TracerProvider())
ctx = extract(MB)


def timed(name, f):
    runs = []
    for _ in range(50):
        t = time.perf_counter()
        f()
        runs.append((time.perf_counter() - t) * 1e3)
    print(f"python {name}: median {statistics.median(runs):.3f} ms, max {max(runs):.3f} ms")


def process(headers):
    rec = SimpleNamespace(topic="t", partition=0, offset=1, key=None, value=b"v", timestamp=None, headers=headers)
    with tracing.process(rec):
        pass


timed("extract, 1 MB tracestate", lambda: extract(MB))
timed("extract, 10,000 headers", lambda: extract(MANY))
timed("extract, 1,000 traceparent copies", lambda: extract(COPIES))
timed("inject into 10,000 headers", lambda: inject(list(MANY), ctx))
timed("process span, 1 MB tracestate", lambda: process(MB))
timed("process span, 10,000 headers", lambda: process(MANY))
