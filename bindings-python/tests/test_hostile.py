"""Hostile header shapes (hypothesis): lists of tuples or lists, dicts, non-bytes values (str, int,
None, floats, nested lists and dicts), names that are bytes, ints or None, tuples of the wrong
arity, 10,000 headers, a 1 MB tracestate. ``extract``/``inject``, the process scope and the traced
producer never raise, run the handler exactly once with its own result or exception, end every
span they start, restore the caller's context and keep every header that is not ours. No timing
assertions: the figures are measured by scripts/hostile_timing.py and recorded in RELIABILITY.md."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, List

from hypothesis import HealthCheck, given, settings, strategies as st
from opentelemetry import context as otel_context, trace
from opentelemetry.context import Context

from kafka_trace import KafkaTracing, extract, inject
from kafka_trace.confluent import TracedProducer

from conftest import Otel

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
RUNS = int(os.environ.get("KT_PROPERTY_RUNS", "300"))
SETTINGS = settings(max_examples=RUNS, deadline=None, suppress_health_check=list(HealthCheck))

OURS = ("traceparent", "tracestate", "baggage")
names = st.one_of(
    st.sampled_from(["traceparent", "TraceParent", "TRACEPARENT", "tracestate", "TraceState", "baggage", "x", "key", ""]),
    st.text(max_size=12),
)
hostile_names = st.one_of(names, names.map(lambda s: s.encode("utf-8", "surrogatepass")), st.integers(), st.none())
text_values = st.one_of(
    st.sampled_from([TP, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", "ff-zz", "rojo=1,congo=2", "k=v;p", "", " "]),
    st.text(max_size=60),
)
scalars = st.one_of(
    text_values,
    text_values.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=16).map(bytearray),
    st.binary(max_size=16).map(memoryview),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
entries = st.one_of(
    st.tuples(hostile_names, values),
    st.lists(st.one_of(hostile_names, values), max_size=3),  # wrong arity, lists instead of tuples
    st.tuples(hostile_names, values).map(list),
    values,
)
header_shapes = st.one_of(
    st.lists(entries, max_size=10),
    st.lists(entries, max_size=6).map(tuple),
    st.dictionaries(st.one_of(names, st.integers()), values, max_size=8),
    values,
    st.just([("traceparent", TP.encode())] * 1000),
)


@SETTINGS
@given(header_shapes)
def test_extract_never_raises(headers: Any) -> None:
    ctx = extract(headers)
    assert isinstance(ctx, Context)
    sc = trace.get_current_span(ctx).get_span_context()
    assert sc.is_valid or sc == trace.INVALID_SPAN_CONTEXT


@SETTINGS
@given(st.lists(st.tuples(names.filter(lambda n: n.lower() not in OURS), values), max_size=8), st.booleans())
def test_a_valid_traceparent_among_hostile_neighbours_is_read_exactly(others: List[Any], as_bytes: bool) -> None:
    headers = others + [("traceparent", TP.encode() if as_bytes else TP)]
    sc = trace.get_current_span(extract(headers)).get_span_context()
    assert (format(sc.trace_id, "032x"), format(sc.span_id, "016x")) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert sc.is_remote


@SETTINGS
@given(st.lists(st.tuples(names, st.one_of(st.binary(max_size=40), st.none(), text_values)), max_size=10))
def test_inject_writes_one_traceparent_and_keeps_the_rest(headers: List[Any]) -> None:
    otel = Otel()
    span = otel.tracer.start_span("parent")
    sc = span.get_span_context()
    before = list(headers)
    out = inject(list(headers), trace.set_span_in_context(span))
    tps = [v for n, v in out if isinstance(n, str) and n.lower() == "traceparent"]
    assert len(tps) == 1
    tp = tps[0].decode() if isinstance(tps[0], (bytes, bytearray)) else tps[0]
    assert tp == f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags) & 0x03:02x}"
    assert [h for h in out if h[0].lower() not in OURS] == [h for h in before if h[0].lower() not in OURS]
    span.end()


class Boom(Exception):
    pass


record_fields = st.fixed_dictionaries(
    {
        "topic": st.sampled_from(["hostile-a", "hostile-b"]),
        "partition": st.one_of(st.integers(-2, 3), st.none(), st.text(max_size=2)),
        "offset": st.one_of(st.integers(-2, 2**62), st.none(), st.floats()),
        "key": st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8), st.integers()),
        "value": st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8), st.integers()),
        "timestamp": st.one_of(st.integers(-1, 2**41), st.none(), st.text(max_size=3)),
        "headers": header_shapes,
    }
)


@SETTINGS
@given(record_fields, st.booleans())
def test_process_runs_the_handler_once_in_its_span_and_ends_it(fields: Any, fail: bool) -> None:
    otel = Otel()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    record = SimpleNamespace(**fields)  # an aiokafka ConsumerRecord look-alike
    outer = otel_context.get_current()
    calls = 0
    seen = None
    raised = None
    try:
        with tracing.process(record) as span:
            calls += 1
            seen = trace.get_current_span().get_span_context()
            if fail:
                raise Boom()
    except Boom as exc:
        raised = exc
    assert calls == 1
    assert (raised is not None) == fail, "the handler's exception, re-raised unchanged, and nothing else"
    assert otel_context.get_current() == outer, "no handler context leaks out"
    spans = otel.named(f"process {fields['topic']}")
    if span is not None:
        assert len(spans) == 1 and spans[0].end_time is not None
        assert spans[0].context.span_id == seen.span_id, "the handler ran in its process span"
    else:
        # No span only for a record no client gives: a partition, offset or timestamp that is not
        # an int, a key or value that is neither bytes nor str.
        assert spans == []
        odd = [k for k in ("partition", "offset", "timestamp") if fields[k] is not None and type(fields[k]) is not int]
        odd += [k for k in ("key", "value") if fields[k] is not None and not isinstance(fields[k], (bytes, str))]
        assert odd, f"a well-typed record got no process span: {fields}"


class FakeProducer:
    def __init__(self) -> None:
        self.calls: List[Any] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.calls.append((topic, kwargs))


@SETTINGS
@given(st.one_of(st.lists(st.tuples(names, st.one_of(st.binary(max_size=30), st.none(), text_values)), max_size=8), st.dictionaries(names, st.one_of(st.binary(max_size=30), text_values), max_size=6), st.none()))
def test_traced_produce_sends_once_with_one_traceparent(headers: Any) -> None:
    otel = Otel()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    fake = FakeProducer()
    producer = TracedProducer(fake, tracing)
    snapshot = None if headers is None else (dict(headers) if isinstance(headers, dict) else list(headers))
    producer.produce("hostile-a", b"v", headers=headers)
    assert len(fake.calls) == 1
    sent = fake.calls[0][1]["headers"]
    pairs = list(sent.items()) if isinstance(sent, dict) else list(sent)
    assert len([n for n, _ in pairs if n.lower() == "traceparent"]) == 1
    assert headers == snapshot, "the caller's headers object is not modified"
    others = [(n, v) for n, v in pairs if n.lower() not in OURS]
    expected = [] if headers is None else [(n, v) for n, v in (headers.items() if isinstance(headers, dict) else headers) if n.lower() not in OURS]
    assert others == expected


def test_10000_headers_and_a_1mb_tracestate() -> None:
    otel = Otel()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    state = "a=" + "x" * 255 + "," + ",".join(f"k{i}={'y' * 250}" for i in range(4000))
    assert len(state) >= 1_000_000
    many = [(f"h{i}", b"v") for i in range(10_000)] + [("traceparent", TP.encode()), ("tracestate", state.encode())]
    for headers in (many, [("traceparent", TP.encode()), ("tracestate", state.encode())]):
        record = SimpleNamespace(topic="hostile-a", partition=0, offset=1, key=None, value=b"v", timestamp=None, headers=headers)
        with tracing.process(record):
            sc = trace.get_current_span().get_span_context()
        parent = otel.spans()[-1].parent
        assert parent is not None and format(parent.span_id, "016x") == "b7ad6b7169203331"
        assert format(sc.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
