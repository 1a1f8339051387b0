"""Extract/inject: kafka-trace vs opentelemetry-sdk's TraceContextTextMapPropagator, side by side
in one process, on the same confluent-kafka header list (traceparent + 3-member tracestate).

The SDK propagator reads and writes the list through the getter/setter of
opentelemetry-instrumentation-confluent-kafka (what a Python Kafka user has today). Both sides
return/consume a full OpenTelemetry Context. Time is process CPU time (robust to other load on
the machine), best of interleaved repeats, per call.

Prints a table and one `BENCH_ROW {json}` line per measured row and side (issue 12's contract:
group python-codec, mode peer = opentelemetry-sdk's propagator, kafka-trace = ours, ns/op)."""

from __future__ import annotations

import argparse
import itertools
import json
import time
import timeit

from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import kafka_trace

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TS = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123"
HEADERS = [("traceparent", TP), ("tracestate", TS)]
# What a consumer sees: every message carries its producer's own send span id. Both sides cycle
# through the same 4,096 header lists, so neither can answer from the previous call's result.
FRESH = [[("traceparent", TP[:36] + b"%016x" % (i + 1) + TP[52:]), ("tracestate", TS)] for i in range(4096)]


class ListGetter(Getter):
    """The getter an SDK user needs for confluent-kafka's list of (str, bytes) headers."""

    def get(self, carrier, key):
        values = [v.decode() for k, v in carrier if k.lower() == key and v is not None]
        return values or None

    def keys(self, carrier):
        return [k for k, _ in carrier]


class ListSetter(Setter):
    """Replace-in-place setter for a list of (str, bytes) headers."""

    def set(self, carrier, key, value):
        carrier[:] = [(k, v) for k, v in carrier if k.lower() != key]
        carrier.append((key, value.encode()))


def best(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)) / number


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    from opentelemetry.instrumentation.confluent_kafka.utils import _kafka_getter, _kafka_setter

    sdk, getter, setter = TraceContextTextMapPropagator(), _kafka_getter, _kafka_setter
    ours = kafka_trace.KafkaTracePropagator()
    ctx = sdk.extract(HEADERS, getter=getter)
    assert kafka_trace.inject([], ctx) == [("traceparent", TP), ("tracestate", TS)]
    sdk_out: list = []
    sdk.inject(sdk_out, context=ctx, setter=setter)
    assert sdk_out == [("traceparent", TP), ("tracestate", TS)], sdk_out

    sdk_fresh, ours_fresh = itertools.cycle(FRESH).__next__, itertools.cycle(FRESH).__next__
    cases = {
        "extract": (lambda: sdk.extract(HEADERS, getter=getter), lambda: kafka_trace.extract(HEADERS)),
        "extract, a new message (span id) per op,": (lambda: sdk.extract(sdk_fresh(), getter=getter),
                                                     lambda: kafka_trace.extract(ours_fresh())),
        "extract (propagator API)": (lambda: sdk.extract(HEADERS, getter=getter), lambda: ours.extract(HEADERS)),
        "inject": (lambda: sdk.inject([], context=ctx, setter=setter), lambda: kafka_trace.inject([], ctx)),
        "inject (propagator API)": (lambda: sdk.inject([], context=ctx, setter=setter), lambda: ours.inject([], ctx)),
    }
    print(f"{'operation':42} {'sdk us':>8} {'kafka-trace us':>15} {'speed-up':>9}")
    rows = []
    for name, (theirs, mine) in cases.items():
        # Interleave the two so machine load affects both alike; keep the best of each.
        t_sdk, t_ours = [], []
        for _ in range(args.repeat):
            t_sdk.append(best(theirs, args.number // 4, 1))
            t_ours.append(best(mine, args.number // 4, 1))
        a, b = min(t_sdk), min(t_ours)
        print(f"{name:42} {a * 1e6:8.2f} {b * 1e6:15.2f} {a / b:8.1f}x")
        rows.append((name, a, b))
    for name, a, b in rows:
        what = f"{name} confluent-kafka headers (traceparent + 3-member tracestate)"
        for mode, t in (("peer", a), ("kafka-trace", b)):
            row = {"group": "python-codec", "row": what, "mode": mode, "sampling": "full",
                   "value": round(t * 1e9, 1), "unit": "ns/op", "cpu_us_per_msg": None}
            print("BENCH_ROW " + json.dumps(row))


if __name__ == "__main__":
    main()
