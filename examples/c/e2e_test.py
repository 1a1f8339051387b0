#!/usr/bin/env python3
"""End-to-end test of the C examples: C producer -> real broker -> C consumer (forwards) -> broker
-> C consumer, with every span checked at an OTLP/HTTP receiver run by this script.

Usage: e2e_test.py BIN_DIR [WRAPPER ...]
  BIN_DIR holds `producer` and `consumer` (built by examples/c/Makefile); WRAPPER (e.g. valgrind
  with its options) runs in front of each example. Needs the `opentelemetry-proto` package and a
  broker at $KAFKA_BOOTSTRAP (default 127.0.0.1:9092).

Checks, for each of the 3 messages: exactly one trace of 4 spans
  send IN (c-producer, PRODUCER, root) -> process IN (c-forwarder, CONSUMER) ->
  send OUT (c-forwarder, PRODUCER) -> process OUT (c-sink, CONSUMER),
each the parent of the next, with the messaging attributes of the core's span model, the ids the
examples printed, and the messaging metrics exported.
"""
import os
import subprocess
import sys
import time
import uuid

from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from otlp_http_receiver import OtlpHttpReceiver  # noqa: E402 (the repository's scripts/)

PRODUCER, CONSUMER = trace_pb2.Span.SPAN_KIND_PRODUCER, trace_pb2.Span.SPAN_KIND_CONSUMER


def run(wrapper, argv, service, endpoint):
    env = dict(os.environ, OTEL_SERVICE_NAME=service, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    env.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    env.pop("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", None)
    proc = subprocess.run(wrapper + argv, env=env, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit(f"e2e: {' '.join(argv)} exited with {proc.returncode}")
    # the examples' own summary lines (valgrind's "possibly lost" notes are not failures)
    sys.stderr.writelines(l for l in proc.stderr.splitlines(True) if not l.startswith("=="))
    return [line.split() for line in proc.stdout.splitlines() if line.strip()]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bin_dir, wrapper = sys.argv[1], sys.argv[2:]
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    receiver = OtlpHttpReceiver()
    endpoint = receiver.endpoint

    run_id = uuid.uuid4().hex[:8]
    t_in, t_out = f"kt-c-e2e-in-{run_id}", f"kt-c-e2e-out-{run_id}"
    g1, g2 = f"kt-c-fwd-{run_id}", f"kt-c-sink-{run_id}"
    n = 3
    started = time.time()
    sent = run(wrapper, [f"{bin_dir}/producer", bootstrap, t_in, str(n)], "c-producer", endpoint)
    forwarded = run(wrapper, [f"{bin_dir}/consumer", bootstrap, g1, t_in, str(n), t_out], "c-forwarder", endpoint)
    sunk = run(wrapper, [f"{bin_dir}/consumer", bootstrap, g2, t_out, str(n)], "c-sink", endpoint)
    receiver.stop()
    spans, metric_names = receiver.spans(), receiver.metric_names()

    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    by_trace = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], []).append(s)
    printed_sends = [line for line in sent if line[0] == "send"]
    expect(len(printed_sends) == n, f"producer printed {len(printed_sends)} sends")
    common = {"messaging.system": "kafka", "server.address": host, "server.port": int(port)}
    for _, topic, key, trace_id, span_id in printed_sends:
        chain = by_trace.get(trace_id, [])
        names = sorted(s["name"] for s in chain)
        expect(names == sorted([f"send {t_in}", f"process {t_in}", f"send {t_out}", f"process {t_out}"]),
               f"trace {trace_id} ({key}): spans {names}")
        if len(chain) != 4:
            continue
        find = {s["name"]: s for s in chain}
        p, c1, s2, c2 = find[f"send {t_in}"], find[f"process {t_in}"], find[f"send {t_out}"], find[f"process {t_out}"]
        expect(p["span_id"] == span_id, f"{key}: producer printed span {span_id}, exported {p['span_id']}")
        want = [
            (p, "c-producer", PRODUCER, "", {"messaging.operation.name": "send", "messaging.operation.type": "send",
                                             "messaging.destination.name": t_in, "messaging.client.id": "c-producer"}),
            (c1, "c-forwarder", CONSUMER, p["span_id"], {"messaging.operation.name": "process", "messaging.operation.type": "process",
                                                          "messaging.destination.name": t_in, "messaging.consumer.group.name": g1,
                                                          "messaging.client.id": "c-forwarder"}),
            (s2, "c-forwarder", PRODUCER, c1["span_id"], {"messaging.operation.name": "send", "messaging.destination.name": t_out,
                                                           "messaging.client.id": "c-forwarder"}),
            (c2, "c-sink", CONSUMER, s2["span_id"], {"messaging.operation.name": "process", "messaging.destination.name": t_out,
                                                      "messaging.consumer.group.name": g2, "messaging.client.id": "c-consumer"}),
        ]
        for span, service, kind, parent, attrs in want:
            label = f"{key}: {span['name']}"
            expect(span["service"] == service, f"{label}: service {span['service']} != {service}")
            expect(span["kind"] == kind, f"{label}: kind {span['kind']} != {kind}")
            expect(span["parent"] == parent, f"{label}: parent {span['parent'] or '(root)'} != {parent or '(root)'}")
            expect(span["links"] == 0, f"{label}: {span['links']} links")
            expect(span["status"] != trace_pb2.Status.STATUS_CODE_ERROR, f"{label}: status error")
            a = span["attrs"]
            for k, v in {**common, **attrs, "messaging.kafka.message.key": key}.items():
                expect(a.get(k) == v, f"{label}: {k}={a.get(k)!r}, want {v!r}")
            expect(a.get("messaging.destination.partition.id") == "0", f"{label}: partition {a.get('messaging.destination.partition.id')!r}")
            expect(isinstance(a.get("messaging.kafka.offset"), int), f"{label}: offset {a.get('messaging.kafka.offset')!r}")
            if kind == CONSUMER:
                lat = a.get("kafka_trace.e2e_latency_ms")
                expect(isinstance(lat, float) and 0 <= lat < 600_000, f"{label}: e2e latency {lat!r}")
        # the offsets the consumers printed are the ones the send spans recorded
        fwd = [l for l in forwarded if l[0] == "process" and l[4] == trace_id]
        snk = [l for l in sunk if l[0] == "process" and l[4] == trace_id]
        expect(len(fwd) == 1 and fwd[0][5] == c1["span_id"] and int(fwd[0][3]) == p["attrs"].get("messaging.kafka.offset"),
               f"{key}: forwarder printed {fwd}")
        expect(len(snk) == 1 and snk[0][5] == c2["span_id"] and int(snk[0][3]) == s2["attrs"].get("messaging.kafka.offset"),
               f"{key}: sink printed {snk}")
    expect(len(spans) == 4 * n, f"{len(spans)} spans exported, want {4 * n}")
    for metric in ("messaging.client.sent.messages", "messaging.client.consumed.messages", "messaging.client.operation.duration",
                   "messaging.process.duration"):
        expect(metric in metric_names, f"metric {metric} not exported (got {sorted(metric_names)})")

    if problems:
        print("\n".join(problems))
        sys.exit(f"e2e: FAIL: {len(problems)} problems")
    print(f"e2e: PASS: {n} messages, {len(spans)} spans in {n} traces of 4 (producer -> forwarder -> sink), "
          f"parents, services and attributes checked ({time.time() - started:.1f} s{', ' + wrapper[0] if wrapper else ''})")


if __name__ == "__main__":
    main()
