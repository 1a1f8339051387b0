"""The shared span-model vectors (core/testdata/span_model_vectors.json, schema in
SPAN_MODEL_VECTORS.md), every case unchanged through the package's public tracing API:
``KafkaTracing`` (options and client as given), ``start_send``/``PendingSend``, ``process`` on a
record-shaped message (with a ``poll-source`` span as ``poll_context`` for batch_process) and
``receive``/``PollScope``; in-memory span exporter and metric reader, ``ParentBased(ALWAYS_ON)``
wrapped in a sampler that records the attribute keys each span started with
(``expect.span.sampler_keys``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from opentelemetry import baggage, context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode

from kafka_trace import KafkaTracing, extract_parts

# KT_SPAN_MODEL_VECTORS: another copy of the file (e.g. a tampered one, to see the runner fail).
VECTORS = Path(os.environ.get("KT_SPAN_MODEL_VECTORS") or Path(__file__).resolve().parents[2] / "core" / "testdata" / "span_model_vectors.json")
DATA = json.loads(VECTORS.read_text())
CASES = DATA["cases"]
RUNNER_SPANS = {"ambient", "poll-source"}
KINDS = {"producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER, "client": SpanKind.CLIENT}


def test_the_file_is_the_schema_this_runner_knows() -> None:
    assert DATA["schema_version"] == 1
    assert len(CASES) >= 60
    assert len({c["name"] for c in CASES}) == len(CASES)


class Record:
    """Shaped like aiokafka's ConsumerRecord."""

    def __init__(self, m: Dict[str, Any]) -> None:
        self.topic = m["topic"]
        self.partition = m.get("partition")
        self.offset = m.get("offset")
        self.key = key_of(m)
        self.value = value_of(m)
        self.timestamp = m.get("timestamp_ms")
        self.headers = headers_of(m.get("headers", []))


def key_of(m: Dict[str, Any]) -> Optional[bytes]:
    if "key" in m:
        return m["key"].encode()
    if "key_hex" in m:
        return bytes.fromhex(m["key_hex"])
    return None


def value_of(m: Dict[str, Any]) -> Optional[bytes]:
    n = m.get("value_len")
    return None if n is None else b"v" * n


def header_value(h: Dict[str, Any]) -> Optional[bytes]:
    if "value_hex" in h:
        return bytes.fromhex(h["value_hex"])
    return None if h["value"] is None else h["value"].encode()


def headers_of(hs: List[Dict[str, Any]]) -> List[Tuple[str, Optional[bytes]]]:
    return [(h["name"], header_value(h)) for h in hs]


TYPES = {"string": "str", "int": "int", "bool": "bool", "double": "float"}


def typed(v: Dict[str, Any]) -> Tuple[str, Any]:
    ((t, value),) = v.items()
    return TYPES[t], value


def attrs_expected(d: Dict[str, Any]) -> Dict[str, Tuple[str, Any]]:
    """Typed: an int attribute must be a Python int (not a bool, not a float)."""
    return {k: typed(v) for k, v in d.items()}


def attrs_actual(d: Any) -> Dict[str, Tuple[str, Any]]:
    return {k: (type(v).__name__, v) for k, v in dict(d or {}).items()}


class KeysSampler(Sampler):
    """``ParentBased(ALWAYS_ON)``, recording the attribute keys (in order) each span name was
    started with: what a user's sampler sees."""

    def __init__(self) -> None:
        self.inner = ParentBased(ALWAYS_ON)
        self.keys: Dict[str, List[List[str]]] = {}

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        self.keys.setdefault(name, []).append(list(attributes or {}))
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "KeysSampler"


class Run:
    """One case's SDK, runner spans and outputs."""

    def __init__(self, case: Dict[str, Any]) -> None:
        self.case = case
        self.exporter = InMemorySpanExporter()
        self.sampler = KeysSampler()
        self.tracer_provider = TracerProvider(sampler=self.sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("runner")
        self.tracing = KafkaTracing(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **case["options"],
            **case["client"],
        )
        self.ambient_span: Any = None
        self.poll_span: Any = None
        self.sender: Any = None  # the span that wrote headers_out
        self.headers_out: Any = None
        self.handler_baggage: Optional[List[List[str]]] = None
        self.handler_ran = False

    def ambient_context(self) -> Context:
        amb = self.case["ambient"]
        ctx = Context()
        if amb.get("span"):
            self.ambient_span = self.tracer.start_span("ambient", context=Context())
            ctx = trace.set_span_in_context(self.ambient_span, ctx)
        for k, v in amb.get("baggage", []):
            ctx = baggage.set_baggage(k, v, ctx)
        return ctx

    def run(self) -> None:
        op = self.case["operation"]
        token = context.attach(self.ambient_context())
        try:
            getattr(self, op)()
        finally:
            context.detach(token)
            for s in (self.ambient_span, self.poll_span):
                if s is not None:
                    s.end()

    def send(self) -> None:
        m, result = self.case["message"], self.case["result"]
        headers = headers_of(m.get("headers", []))
        pending, out = self.tracing.start_send(
            self.tracing.model, m["topic"], m.get("partition"), key_of(m), value_of(m), headers
        )
        self.headers_out = out
        if pending is None:
            return
        self.sender = pending.span
        if result["kind"] == "acked":
            pending.delivered(result["partition"], result["offset"])
        else:
            assert result["kind"] == "send_failed"
            pending.failed(result["error_type"])

    def _handle(self, record: Record) -> None:
        self.handler_ran = True
        self.handler_baggage = sorted([k, v] for k, v in baggage.get_all().items())
        fwd = self.case.get("forward")
        if fwd is not None:
            pending, out = self.tracing.start_send(
                self.tracing.model, fwd["topic"], None, record.key, record.value, record.headers
            )
            assert pending is not None, "forward topics are traced"
            self.sender = pending.span  # never finished: its span and metrics stay out
            self.headers_out = out
        result = self.case["result"]
        if result["kind"] == "raised":
            raise type(result["error_type"], (Exception,), {})("handler failed")
        assert result["kind"] == "returned"

    def _consume(self, poll_context: Optional[Context]) -> None:
        record = Record(self.case["message"])
        self._handle_in(self.tracing.process(record, None, poll_context), record)

    def _handle_in(self, scope: Any, record: Record) -> None:
        """Runs the handler in ``scope``; its exception, if the case raises one, left the block."""
        raised = None
        try:
            with scope:
                self._handle(record)
        except Exception as exc:
            raised = exc
        assert self.handler_ran
        if self.case["result"]["kind"] == "raised":
            assert raised is not None and type(raised).__qualname__ == self.case["result"]["error_type"]
        else:
            assert raised is None, raised

    def process(self) -> None:
        self._consume(None)

    def batch_process(self) -> None:
        self.poll_span = self.tracer.start_span("poll-source", context=Context())
        self._consume(trace.set_span_in_context(self.poll_span, Context()))

    def poll(self) -> None:
        p, result = self.case["poll"], self.case["result"]
        scope = self.tracing.receive()
        if result["kind"] == "received":
            scope.received(p["topics"], p["message_count"])
        else:
            assert result["kind"] == "poll_failed"
            scope.failed(result["error_type"], p["topics"])

    # --- outputs ------------------------------------------------------------------------------
    def operation_spans(self) -> List[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name not in RUNNER_SPANS]

    def metric_points(self) -> List[Tuple[str, str, Dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        points = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = "counter" if isinstance(metric.data, Sum) else "histogram"
                    assert isinstance(metric.data, (Sum, Histogram))
                    for p in metric.data.data_points:
                        n = p.value if kind == "counter" else p.count
                        points.append((metric.name, kind, attrs_actual(p.attributes), n))
        return points


def remote_ids(case: Dict[str, Any]) -> Optional[Tuple[int, int]]:
    tp = extract_parts(headers_of(case["message"]["headers"])).traceparent
    return (int(tp.trace_id, 16), int(tp.span_id, 16)) if tp is not None else None


def source_ids(run: Run, name: str) -> Tuple[int, int]:
    if name == "remote":
        ids = remote_ids(run.case)
        assert ids is not None, "a remote source needs a valid traceparent"
        return ids
    span = {"ambient": run.ambient_span, "poll": run.poll_span}[name]
    assert span is not None, f"no {name} span in this case"
    sc = span.get_span_context()
    return sc.trace_id, sc.span_id


def check_span(run: Run, span: ReadableSpan, exp: Dict[str, Any]) -> None:
    assert span.name == exp["name"]
    assert span.kind == KINDS[exp["kind"]]
    assert attrs_actual(span.attributes) == attrs_expected(exp["attributes"])
    # The sampler saw the sampling attributes only, in the core's order (the span's name is
    # started once per case: forwarded sends go to another topic).
    assert run.sampler.keys[span.name] == [exp["sampler_keys"]]
    status = exp["status"]
    if status["code"] == "unset":
        assert span.status.status_code == StatusCode.UNSET
    else:
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == status["description"]
    parent = exp["parent"]
    if parent == "none":
        assert span.parent is None
        others = set()
        if "message" in run.case and remote_ids(run.case):
            others.add(remote_ids(run.case)[0])  # type: ignore[index]
        for s in (run.ambient_span, run.poll_span):
            if s is not None:
                others.add(s.get_span_context().trace_id)
        assert span.context.trace_id not in others
    else:
        trace_id, span_id = source_ids(run, parent)
        assert span.parent is not None and span.parent.span_id == span_id
        assert span.context.trace_id == trace_id
        assert span.parent.is_remote == (parent == "remote")
    links = [(link.context.trace_id, link.context.span_id) for link in span.links]
    assert links == [source_ids(run, name) for name in exp["links"]]


def check_headers(run: Run, expected: List[Dict[str, Any]], exported: bool) -> None:
    out = run.headers_out
    assert isinstance(out, list)
    assert [name for name, _ in out] == [h["name"] for h in expected]
    sender = run.sender.get_span_context() if run.sender is not None else None
    input_span_ids = set()
    if "message" in run.case:
        for name, value in headers_of(run.case["message"]["headers"]):
            if name.lower() == "traceparent" and value:
                parts = value.decode("latin-1").strip().split("-")
                if len(parts) >= 3:
                    input_span_ids.add(parts[2])
    for (name, value), h in zip(out, expected):
        want = header_value(h)
        if name.lower() == "traceparent" and want is not None and b"{" in want:
            assert sender is not None
            span_hex, trace_hex = f"{sender.span_id:016x}", f"{sender.trace_id:032x}"
            pattern = re.escape(want.decode()).replace(r"\{span\}", "(?P<span>[0-9a-f]{16})").replace(r"\{trace\}", "(?P<trace>[0-9a-f]{32})")
            m = re.fullmatch(pattern, value.decode())
            assert m is not None, (value, want)
            if "span" in m.groupdict():
                got = m.group("span")
                assert got == span_hex and got != "0" * 16 and got not in input_span_ids
            if "trace" in m.groupdict():
                assert m.group("trace") == trace_hex
        elif name.lower() == "baggage" and want is not None:
            assert set(value.decode().split(",")) == set(want.decode().split(","))
        else:
            assert value == want, (name, value, want)


def check_run(run: Run, dropped: bool = False) -> None:
    """The case's expectations on what ``run`` recorded; ``dropped``: the sampler dropped every
    span, so only what a dropped span still gives is checked (the keys the sampler saw, the
    handler's baggage, every metric record)."""
    case = run.case
    exp = case["expect"]
    spans = run.operation_spans()
    if not exp["traced"]:
        assert spans == []
        assert run.metric_points() == []
    if exp["span"] is None or dropped:
        assert spans == [], [s.name for s in spans]
    else:
        assert len(spans) == 1, [s.name for s in spans]
        check_span(run, spans[0], exp["span"])
    if dropped and exp["span"] is not None:
        assert run.sampler.keys[exp["span"]["name"]] == [exp["span"]["sampler_keys"]]
    if case["operation"] in ("process", "batch_process"):
        assert run.handler_baggage == exp["handler_baggage"]
    want = sorted(
        (m["name"], m["kind"], sorted(attrs_expected(m["attributes"]).items()), m["count"]) for m in exp["metrics"]
    )
    got = sorted((n, k, sorted(a.items()), c) for n, k, a, c in run.metric_points())
    assert got == want
    if "headers_out" in exp and not dropped:
        check_headers(run, exp["headers_out"], exp["span"] is not None)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_span_model_vector(case: Dict[str, Any]) -> None:
    run = Run(case)
    try:
        run.run()
        check_run(run)
    finally:
        run.tracer_provider.shutdown()
        run.meter_provider.shutdown()


class StubConsumer:
    pass


class CachedRun(Run):
    """A ``process`` case through ``TracedConsumer.process`` of a confluent-kafka ``Message``
    (the native scope), or a ``send`` case, its span started from the start cache's template of
    its situation (a first message of the same situation made it); ``dropped``: a sampler that
    drops every span, so the span ends through the template's kept finish instead of a recipe."""

    def send(self) -> None:
        # The template: a first send of the topic and partition, through a tracing of its own.
        m = self.case["message"]
        warm = KafkaTracing(**self.case["options"], **self.case["client"])
        pending, _ = warm.start_send(self.tracing.model, m["topic"], m.get("partition"), key_of(m), value_of(m),
                                     headers_of(m.get("headers", [])))
        if pending is not None:
            pending.delivered(0, 0)
        super().send()

    def __init__(self, case: Dict[str, Any], dropped: bool) -> None:
        super().__init__(case)
        if dropped:
            self.sampler.inner = ALWAYS_OFF

    def _consume(self, poll_context: Optional[Context]) -> None:
        from confluent_kafka import Message

        from kafka_trace.confluent import TracedConsumer

        assert poll_context is None
        m = self.case["message"]
        record = Record(m)
        ts = m.get("timestamp_ms")
        msg = Message(topic=m["topic"], partition=-1 if record.partition is None else record.partition,
                      offset=-1001 if record.offset is None else record.offset, key=record.key,
                      value=record.value, headers=record.headers, timestamp=(0, 0) if ts is None else (1, ts))
        # The template: a first message of the situation, through a tracing of its own.
        warm = TracedConsumer(StubConsumer(), KafkaTracing(**self.case["options"], **self.case["client"]))
        with warm.process(msg):
            pass
        consumer = TracedConsumer(StubConsumer(), self.tracing)
        consumer._model = warm._model  # the same options and client: the warmed start cache
        scope = consumer.process(msg)
        assert type(scope).__name__ == "ProcessScope"  # the native one
        self._handle_in(scope, record)


CACHED_CASES = [c for c in CASES if c["operation"] in ("process", "send")]


@pytest.mark.parametrize("dropped", [False, True], ids=["recorded", "dropped"])
@pytest.mark.parametrize("case", CACHED_CASES, ids=[c["name"] for c in CACHED_CASES])
def test_span_model_vector_from_the_start_cache(case: Dict[str, Any], dropped: bool) -> None:
    run = CachedRun(case, dropped)
    try:
        run.run()
        check_run(run, dropped)
    finally:
        run.tracer_provider.shutdown()
        run.meter_provider.shutdown()
