"""Zero-code tracing: KafkaTraceInstrumentor in-process, and `opentelemetry-instrument python app.py`
in a subprocess against the real broker, reading the spans back from the console exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import aiokafka
import aiokafka.producer
import confluent_kafka
import pytest

from kafka_trace import KafkaTracing, extract_parts
from kafka_trace.confluent import TracedProducer
from kafka_trace.instrumentation import AIOKafkaTraceInstrumentor, ConfluentKafkaTraceInstrumentor, KafkaTraceInstrumentor

from conftest import BOOTSTRAP, Otel
from test_confluent import consumer_conf, poll_one, producer_conf

APPS = Path(__file__).resolve().parent / "apps"
ORIGINALS = (confluent_kafka.Producer, confluent_kafka.Consumer, aiokafka.AIOKafkaProducer, aiokafka.AIOKafkaConsumer)


@pytest.fixture
def instrumented(otel: Otel) -> Iterator[KafkaTraceInstrumentor]:
    inst = KafkaTraceInstrumentor()
    inst.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    yield inst
    if inst.is_instrumented_by_opentelemetry:
        inst.uninstrument()
    assert (confluent_kafka.Producer, confluent_kafka.Consumer, aiokafka.AIOKafkaProducer,
            aiokafka.AIOKafkaConsumer) == ORIGINALS


def test_instrument_replaces_and_uninstrument_restores(instrumented: KafkaTraceInstrumentor) -> None:
    for module, name, original in [
        (confluent_kafka, "Producer", ORIGINALS[0]), (confluent_kafka, "Consumer", ORIGINALS[1]),
        (aiokafka, "AIOKafkaProducer", ORIGINALS[2]), (aiokafka.producer, "AIOKafkaProducer", ORIGINALS[2]),
        (aiokafka, "AIOKafkaConsumer", ORIGINALS[3]),
    ]:
        patched = getattr(module, name)
        assert patched is not original and issubclass(patched, original), (module, name)
        assert patched.__module__ == "kafka_trace.instrumentation"
    assert isinstance(confluent_kafka.Producer(producer_conf()), ORIGINALS[0])
    # The per-library instrumentors find the libraries taken and change nothing.
    ConfluentKafkaTraceInstrumentor().instrument()
    assert confluent_kafka.Producer.__module__ == "kafka_trace.instrumentation"
    ConfluentKafkaTraceInstrumentor().uninstrument()
    assert confluent_kafka.Producer.__module__ == "kafka_trace.instrumentation"
    instrumented.uninstrument()
    assert (confluent_kafka.Producer, confluent_kafka.Consumer, aiokafka.AIOKafkaProducer,
            aiokafka.AIOKafkaConsumer) == ORIGINALS
    assert aiokafka.producer.AIOKafkaProducer is ORIGINALS[2]


def test_auto_confluent_chain_and_explicit_wrapper_once(instrumented: Any, otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    pconf = producer_conf()
    producer = confluent_kafka.Producer(pconf)
    with otel.tracer.start_as_current_span("request") as request:
        producer.produce(topic, b"auto")
    explicit = TracedProducer(confluent_kafka.Producer(pconf), KafkaTracing(tracer_provider=otel.tracer_provider), pconf)
    explicit.produce(topic, b"explicit")
    assert producer.flush(30) == 0 and explicit.flush(30) == 0
    sends = otel.named(f"send {topic}")
    assert len(sends) == 2
    auto_send = next(s for s in sends if s.parent is not None)
    assert auto_send.parent.span_id == request.get_span_context().span_id

    consumer = confluent_kafka.Consumer(consumer_conf("kt-py-auto-1"))
    consumer.subscribe([topic])
    seen: Dict[bytes, Any] = {}
    while len(seen) < 2:
        msg = poll_one(consumer)
        # The process span is current after poll() returned; process(msg) reuses it.
        with consumer.process(msg) as span:
            assert span is not None
            with otel.tracer.start_as_current_span("handle") as handle:
                pass
        seen[msg.value()] = (msg.headers(), span, handle)
    consumer.close()
    processes = otel.named(f"process {topic}")
    assert len(processes) == 2  # ended by the next poll and by close(), once each
    for value, (headers, span, handle) in seen.items():
        assert [n for n, _ in headers] == ["traceparent"]  # one header, even through the explicit wrapper
        parent = extract_parts(headers).traceparent
        send = next(s for s in sends if f"{s.context.span_id:016x}" == parent.span_id)
        process = next(p for p in processes if p.context.span_id == span.get_span_context().span_id)
        assert process.parent.span_id == send.context.span_id
        assert process.context.trace_id == send.context.trace_id
        assert handle.parent.span_id == process.context.span_id


async def test_auto_aiokafka_chain(instrumented: Any, otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        with otel.tracer.start_as_current_span("request"):
            await producer.send_and_wait(topic, b"v")  # aiokafka's send_and_wait -> our send: once
    finally:
        await producer.stop()
    send = otel.one(f"send {topic}")
    consumer = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id="kt-py-auto-2",
                                         auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        record = await consumer.getone()  # awaited in this task: its process span is current here
        with otel.tracer.start_as_current_span("handle") as handle:
            pass
    finally:
        await consumer.stop()
    process = otel.one(f"process {topic}")
    assert [n for n, _ in record.headers] == ["traceparent"]
    assert process.parent.span_id == send.context.span_id
    assert handle.parent.span_id == process.context.span_id


def _spans(stdout: str) -> List[Dict[str, Any]]:
    """The console exporter's JSON objects, one per finished span."""
    decoder = json.JSONDecoder()
    spans, i = [], 0
    while True:
        start = stdout.find("{", i)
        if start < 0:
            return spans
        obj, i = decoder.raw_decode(stdout, start)
        spans.append(obj)


def _run_app(app: str, topic: str, tmp_path: Path, **env: str) -> Any:
    result = tmp_path / "result.json"
    environ = {
        **os.environ,
        "KT_TOPIC": topic,
        "KT_RESULT": str(result),
        "KAFKA_BOOTSTRAP": BOOTSTRAP,
        "OTEL_SERVICE_NAME": "zero-code-app",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        # The peer instrumentation is installed here too (interop tests): one per library.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "confluent_kafka,aiokafka",
        **env,
    }
    bindir = Path(sys.executable).parent
    r = subprocess.run([str(bindir / "opentelemetry-instrument"), sys.executable, str(APPS / app)],
                       env=environ, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(result.read_text()), _spans(r.stdout), r.stderr


def _hex(v: Any) -> str:
    return v[2:] if isinstance(v, str) and v.startswith("0x") else v


def _chain(spans: List[Dict[str, Any]], topic: str, value: str) -> None:
    by_name: Dict[str, List[Dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    (request,) = by_name["request"]
    (handle,) = by_name[f"handle {value}"]
    sends = {s["context"]["span_id"]: s for s in by_name[f"send {topic}"]}
    processes = {s["context"]["span_id"]: s for s in by_name[f"process {topic}"]}
    process = processes[handle["parent_id"]]
    send = sends[process["parent_id"]]
    assert send["parent_id"] == request["context"]["span_id"]
    assert request["parent_id"] is None
    assert (send["kind"], process["kind"]) == ("SpanKind.PRODUCER", "SpanKind.CONSUMER")
    trace_ids = {s["context"]["trace_id"] for s in (request, send, process, handle)}
    assert len(trace_ids) == 1, trace_ids


def test_opentelemetry_instrument_confluent(new_topic: Any, tmp_path: Path) -> None:
    topic = new_topic()
    result, spans, stderr = _run_app("zero_code_confluent.py", topic, tmp_path)
    assert result["producer_class"] == "kafka_trace.instrumentation.Producer", result
    # One traceparent per message, also through the explicit TracedProducer over a traced Producer.
    assert result["headers"] == {"auto": ["traceparent"], "explicit": ["traceparent"]}, result
    names = sorted(s["name"] for s in spans if not s["name"].startswith("poll"))
    assert names == sorted(["request", f"send {topic}", f"send {topic}", f"process {topic}", f"process {topic}",
                            "handle auto", "handle explicit"]), names
    assert any(s["name"].startswith("poll") for s in spans)
    _chain(spans, topic, "auto")
    # The explicit wrapper's message: a root send, its process the child, the handler inside.
    (handle,) = [s for s in spans if s["name"] == "handle explicit"]
    process = next(s for s in spans if s["context"]["span_id"] == handle["parent_id"])
    send = next(s for s in spans if s["context"]["span_id"] == process["parent_id"])
    assert send["name"] == f"send {topic}" and send["parent_id"] is None
    assert "kafka_trace" not in stderr, stderr  # no warning, no traceback


def test_opentelemetry_instrument_aiokafka(new_topic: Any, tmp_path: Path) -> None:
    topic = new_topic()
    result, spans, stderr = _run_app("zero_code_aiokafka.py", topic, tmp_path)
    assert result["producer_class"] == "kafka_trace.instrumentation.AIOKafkaProducer", result
    assert result["headers"] == {"auto": ["traceparent"]}, result
    names = sorted(s["name"] for s in spans if not s["name"].startswith("poll"))
    assert names == sorted(["request", f"send {topic}", f"process {topic}", "handle auto"]), names
    _chain(spans, topic, "auto")


def test_peer_enabled_too_is_reported(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("import confluent_kafka\n")
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none"}
    env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
    bindir = Path(sys.executable).parent
    r = subprocess.run([str(bindir / "opentelemetry-instrument"), sys.executable, str(app)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=confluent_kafka (the peer)" in r.stderr, r.stderr
