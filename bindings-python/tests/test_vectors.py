"""The shared vectors (core/testdata/trace_context_vectors.json), unchanged, through the Python
API: `extract_parts` (what the core read), `extract` (the OpenTelemetry context) and `inject`
(the exact header list written for a child span, built with the OpenTelemetry API)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
from opentelemetry import baggage, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

import kafka_trace

ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("KT_VECTORS", ROOT / "core" / "testdata" / "trace_context_vectors.json"))
DOC = json.loads(VECTORS.read_text())
CASES = DOC["cases"]

Header = Tuple[str, Optional[bytes]]


def headers_from(items: List[dict]) -> List[Header]:
    out: List[Header] = []
    for h in items:
        if isinstance(h.get("value"), str):
            out.append((h["name"], h["value"].encode()))
        elif isinstance(h.get("value_hex"), str):
            out.append((h["name"], bytes.fromhex(h["value_hex"])))
        else:
            out.append((h["name"], None))
    return out


def test_the_file_is_the_shared_one() -> None:
    assert DOC["schema_version"] == 1
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict) -> None:
    headers = headers_from(case["headers"])
    expect = case["expect"]

    # 1. What the core read, through the binding's header conversion.
    got = kafka_trace.extract_parts(headers)
    if expect["traceparent"] is None:
        assert got.traceparent is None
        assert got.error == expect["error"]
    else:
        tp = got.traceparent
        assert tp is not None, got.error
        assert {
            "version": f"{tp.version:02x}",
            "trace_id": tp.trace_id,
            "span_id": tp.span_id,
            "flags": f"{tp.flags:02x}",
        } == expect["traceparent"]
        assert got.error is None
    assert [list(m) for m in got.tracestate] == expect["tracestate"]
    assert got.tracestate_error == expect.get("tracestate_error")
    assert [{"key": k, "value": v, "properties": list(p)} for k, v, p in got.baggage] == expect["baggage"]

    # 2. The OpenTelemetry context extract returns.
    ctx = kafka_trace.extract(headers)
    sc = trace.get_current_span(ctx).get_span_context()
    if expect["traceparent"] is None:
        assert not sc.is_valid
    else:
        want = expect["traceparent"]
        assert sc.is_valid and sc.is_remote
        assert sc.trace_id == int(want["trace_id"], 16)
        assert sc.span_id == int(want["span_id"], 16)
        assert int(sc.trace_flags) == int(want["flags"], 16)
        assert list(sc.trace_state.items()) == [tuple(m) for m in expect["tracestate"]]
    want_baggage = {}
    for entry in expect["baggage"]:
        want_baggage[entry["key"]] = entry["value"]
    assert dict(baggage.get_all(ctx)) == want_baggage

    # 3. Inject for a child span, with the OpenTelemetry API building the child's context.
    spec = case.get("inject")
    if spec is None:
        return
    span_id = int(spec["span_id"], 16)
    if sc.is_valid:
        state: Any = sc.trace_state
        if "tracestate_set" in spec:
            state = state.update(spec["tracestate_set"]["key"], spec["tracestate_set"]["value"])
        child = SpanContext(sc.trace_id, span_id, False, sc.trace_flags, state)
    else:
        state = TraceState()
        if "tracestate_set" in spec:
            state = state.add(spec["tracestate_set"]["key"], spec["tracestate_set"]["value"])
        child = SpanContext(int(spec["new_root_trace_id"], 16), span_id, False, TraceFlags(TraceFlags.SAMPLED), state)
    child_ctx = trace.set_span_in_context(NonRecordingSpan(child), ctx)
    written = kafka_trace.inject(list(headers), child_ctx)
    assert written == headers_from(spec["expect_headers"])


def test_every_header_shape_reads_the_same() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    shapes = [
        [("traceparent", tp.encode())],
        [("traceparent", tp)],
        (("traceparent", tp.encode()),),
        [["traceparent", tp.encode()]],
        {"traceparent": tp.encode()},
        {"traceparent": tp},
        {"traceparent": [tp.encode()]},
        [(b"traceparent", tp.encode())],
        [("traceparent", bytearray(tp.encode()))],
    ]
    for shape in shapes:
        assert kafka_trace.extract_parts(shape).traceparent is not None, shape
        sc = trace.get_current_span(kafka_trace.extract(shape)).get_span_context()
        assert sc.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736, shape
    for empty in (None, [], {}, ()):
        assert kafka_trace.extract_parts(empty).error == "missing"
        assert not trace.get_current_span(kafka_trace.extract(empty)).get_span_context().is_valid


def test_garbage_never_raises() -> None:
    garbage: List[Any] = [
        [("traceparent", 12)],
        [("traceparent",)],
        [None, 3, "x", ("a", "b", "c")],
        [(1, b"x")],
        [("traceparent", b"\xff\xfe" * 30)],
        [(b"\xff", b"\xff")],
        [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\udcff")],
        object(),
        42,
        "traceparent",
    ]
    for g in garbage:
        ctx = kafka_trace.extract(g)
        assert not trace.get_current_span(ctx).get_span_context().is_valid


def test_inject_shapes_replace_in_place() -> None:
    ctx = kafka_trace.extract([("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
    tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    lst = [("a", b"1"), ("TraceParent", b"old"), ("tracestate", b"x=1"), ("traceparent", b"older")]
    assert kafka_trace.inject(lst, ctx) is lst
    assert lst == [("a", b"1"), ("traceparent", tp)]
    d = {"TRACEPARENT": b"old", "k": b"v"}
    assert kafka_trace.inject(d, ctx) is d
    assert d == {"k": b"v", "traceparent": tp}
    assert kafka_trace.inject(None, ctx) == [("traceparent", tp)]
    assert kafka_trace.inject((("k", b"v"),), ctx) == [("k", b"v"), ("traceparent", tp)]
    # no span: unchanged
    keep = [("traceparent", b"old")]
    assert kafka_trace.inject(keep, trace.set_span_in_context(trace.INVALID_SPAN)) == [("traceparent", b"old")]


def test_propagator_fields_and_custom_getter_setter() -> None:
    from opentelemetry.propagators.textmap import DefaultGetter, DefaultSetter

    p = kafka_trace.KafkaTracePropagator()
    assert p.fields == {kafka_trace.TRACEPARENT, kafka_trace.TRACESTATE, kafka_trace.BAGGAGE}
    carrier = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "a=1"}

    class Getter(DefaultGetter):
        def get(self, c, key):  # type: ignore[override]
            v = c.get(key)
            return [v] if v is not None else None

    ctx = p.extract(carrier, getter=Getter())
    sc = trace.get_current_span(ctx).get_span_context()
    assert sc.span_id == 0x00F067AA0BA902B7 and dict(sc.trace_state) == {"a": "1"}
    out: dict = {}
    p.inject(out, ctx, setter=DefaultSetter())
    assert out == carrier
