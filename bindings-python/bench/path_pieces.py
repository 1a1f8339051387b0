"""The per-message path split into pieces, for instruction counts per piece (issue 12 item 4):
each ``--piece`` runs ``--messages`` times one step of what bench_path.py's kafka-trace mode does
per message (or the SDK's own step it is compared with), on the same stand-in clients, so that
``bash bench/callgrind_path.sh`` style differencing (``pieces_callgrind.sh``) gives instructions
per step without the rest. Not a benchmark of its own (no BENCH_ROW).

    KT_BENCH_SAMPLING=0.01 bash bindings-python/bench/pieces_callgrind.sh PYTHON 400
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_path import DropExporter, StubConsumer, StubProducer, our_attributes  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased  # noqa: E402

from kafka_trace import KafkaTracing  # noqa: E402
from kafka_trace import _native  # noqa: E402
from kafka_trace.confluent import TracedConsumer, TracedProducer  # noqa: E402

TOPIC = "orders"
PAYLOAD = b"x" * 256
CONF = {"bootstrap.servers": "127.0.0.1:9092", "client.id": "bench", "group.id": "bench-g"}


def provider_for(sampling: float) -> TracerProvider:
    """bench_path.py's provider, except that the batch processor exports only at shutdown (no
    timer-driven export at a load-dependent point of the run: counts repeat)."""
    sampler = ALWAYS_ON if sampling >= 1 else ParentBased(TraceIdRatioBased(sampling))
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536, max_export_batch_size=65536,
                                                   schedule_delay_millis=3_600_000))
    return provider


def setup(provider: Any, n: int) -> Dict[str, Any]:
    tracing = KafkaTracing(tracer_provider=provider)
    stub = StubProducer()
    producer = TracedProducer(stub, tracing, CONF)
    for _ in range(n):
        producer.produce(TOPIC, PAYLOAD, headers=[("app", b"1")])
    producer.flush()
    model = producer._model
    cmodel = tracing.model_for(CONF)
    return {"tracing": tracing, "messages": stub.sent, "model": model, "cmodel": cmodel,
            "tracer": tracing._tracer, "sdk": provider.get_tracer("sdk-floor"), "ours": our_attributes(TOPIC)}


def pieces(env: Dict[str, Any]) -> Dict[str, Callable[[int], None]]:
    tracing, model, cmodel, tracer, sdk = env["tracing"], env["model"], env["cmodel"], env["tracer"], env["sdk"]
    msgs = env["messages"]
    inst = tracing._instruments

    def stub_produce(n: int) -> None:
        p = StubProducer()
        for _ in range(n):
            p.produce(TOPIC, PAYLOAD, headers=[("app", b"1")])
            p.poll(0)

    def ours_produce(n: int) -> None:
        p = TracedProducer(StubProducer(), tracing, CONF)
        for _ in range(n):
            p.produce(TOPIC, PAYLOAD, headers=[("app", b"1")])
            p.poll(0)

    def sdk_send_span(n: int) -> None:
        for _ in range(n):
            sdk.start_span("send orders", kind=SpanKind.PRODUCER).end()

    # "+attrs": the SDK's span carrying exactly the attributes ours exports, in one dict at start
    # (bench_path.py's sdk-floor+poll+attrs, step by step).
    def sdk_send_span_attrs(n: int) -> None:
        attrs = env["ours"]["send orders"]
        for _ in range(n):
            sdk.start_span("send orders", kind=SpanKind.PRODUCER, attributes=attrs).end()

    def recipe_send(n: int) -> None:
        for _ in range(n):
            model.send(TOPIC, None, None, PAYLOAD)

    def recipe_send_start_end(n: int) -> None:
        ctx = otel_context.get_current()
        for _ in range(n):
            r = model.send(TOPIC, None, None, PAYLOAD)
            s = r.start(tracer, ctx, None)
            r.end_started(inst, s, None, 0, 1, 0.001)

    def inject(n: int) -> None:
        ctx = otel_context.get_current()
        s = sdk.start_span("send orders", kind=SpanKind.PRODUCER)
        for _ in range(n):
            _native.inject_send([("app", b"1")], ctx, s)

    def stub_poll(n: int) -> None:
        c = StubConsumer(msgs[:n])
        for _ in range(n):
            c.poll(0)

    def ours_poll(n: int) -> None:
        c = TracedConsumer(StubConsumer(msgs[:n]), tracing, CONF)
        for _ in range(n):
            c.poll(0)

    def sdk_poll_span(n: int) -> None:
        for _ in range(n):
            sdk.start_span("poll orders", kind=SpanKind.CLIENT).end()

    def sdk_poll_span_attrs(n: int) -> None:
        attrs = env["ours"]["poll orders"]
        for _ in range(n):
            sdk.start_span("poll orders", kind=SpanKind.CLIENT, attributes=attrs).end()

    def ours_process(n: int) -> None:
        c = TracedConsumer(StubConsumer([]), tracing, CONF)
        for m in msgs[:n]:
            with c.process(m):
                pass

    def sdk_process_span(n: int) -> None:
        for _ in range(n):
            span = sdk.start_span("process orders", kind=SpanKind.CONSUMER)
            token = otel_context.attach(trace.set_span_in_context(span))
            otel_context.detach(token)
            span.end()

    def sdk_process_span_attrs(n: int) -> None:
        attrs = env["ours"]["process orders"]
        for _ in range(n):
            span = sdk.start_span("process orders", kind=SpanKind.CONSUMER, attributes=attrs)
            token = otel_context.attach(trace.set_span_in_context(span))
            otel_context.detach(token)
            span.end()

    def recipe_process(n: int) -> None:
        for m in msgs[:n]:
            ts = m.timestamp()
            cmodel.process(m.topic(), m.partition(), m.offset(), m.key(), m.value(), ts[1], m.headers(), False)

    return {k: v for k, v in locals().items() if callable(v) and not k.startswith("_")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--piece", required=True)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--pool", type=int, default=1500, help="messages made at set-up (>= messages + 200)")
    args = ap.parse_args()
    provider = provider_for(float(os.environ.get("KT_BENCH_SAMPLING", "1.0")))
    # The same set-up whatever --messages is (it cancels out in the differencing).
    env = setup(provider, args.pool)
    table = pieces(env)
    if args.piece == "list":
        print(" ".join(table))
        return
    table[args.piece](200)  # warm-up: caches, first-call paths
    env["messages"][:] = env["messages"][200:]
    table[args.piece](args.messages)
    provider.shutdown()


if __name__ == "__main__":
    main()
