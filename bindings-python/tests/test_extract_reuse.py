"""Extract reuses objects no one can reach any more (an evicted cached span with one reference and
no weak one, an evicted SpanContext no one holds): every result must still be exactly what the
SDK's W3C propagator returns, and objects someone holds must never change."""

from __future__ import annotations

import gc
import weakref

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import kafka_trace
from kafka_trace import _native

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
STATES = [b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123", b"rojo=1", b"", b"congo=2,rojo=1"]


def _headers(trace_id: int, span_id: int, flags: int = 1, state: bytes = STATES[0]):
    headers = [("traceparent", b"00-%032x-%016x-%02x" % (trace_id, span_id, flags))]
    if state:
        headers.append(("tracestate", state))
    return headers


def _sdk(headers):
    carrier = {name: value.decode() for name, value in headers}
    return trace.get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()


def _ours(headers):
    return trace.get_current_span(kafka_trace.extract(headers)).get_span_context()


def _assert_same(ours, sdk):
    assert type(ours) is type(sdk)
    assert ours == sdk
    for field in ("trace_id", "span_id", "is_remote", "trace_flags", "is_valid"):
        assert getattr(ours, field) == getattr(sdk, field), field
        assert type(getattr(ours, field)) is type(getattr(sdk, field)), field
    assert list(ours.trace_state.items()) == list(sdk.trace_state.items())
    assert ours.trace_state.to_header() == sdk.trace_state.to_header()
    assert ours.is_remote is True


def test_fast_paths_active():
    assert _native._extract_fast_paths() == (True, True)


def test_every_extract_equals_the_sdk_while_objects_are_reused():
    # Many more contexts than the cache keeps: evicted spans and span contexts are refilled.
    for i in range(200):
        trace_id = TRACE if i % 3 else TRACE + i
        headers = _headers(trace_id, i + 1, flags=i % 2, state=STATES[i % len(STATES)])
        _assert_same(_ours(headers), _sdk(headers))


def test_a_held_context_keeps_its_span_and_values():
    held = kafka_trace.extract(_headers(TRACE, 7))
    span = trace.get_current_span(held)
    for i in range(50):
        kafka_trace.extract(_headers(TRACE, 1000 + i))
    assert trace.get_current_span(held) is span
    _assert_same(span.get_span_context(), _sdk(_headers(TRACE, 7)))


def test_a_held_span_context_never_changes():
    held = _ours(_headers(TRACE, 8, state=STATES[1]))
    for i in range(50):
        _assert_same(_ours(_headers(TRACE + 1, 2000 + i)), _sdk(_headers(TRACE + 1, 2000 + i)))
    _assert_same(held, _sdk(_headers(TRACE, 8, state=STATES[1])))


def test_a_span_with_a_weak_reference_is_not_reused():
    span = trace.get_current_span(kafka_trace.extract(_headers(TRACE, 9)))
    ref = weakref.ref(span)
    del span
    gc.collect()
    for i in range(50):
        kafka_trace.extract(_headers(TRACE, 3000 + i))
    alive = ref()
    # Freed when evicted, or still what it was: never another context.
    assert alive is None or alive.get_span_context().span_id == 9


def test_a_reused_span_object_answers_with_its_new_context():
    spans = [trace.get_current_span(kafka_trace.extract(_headers(TRACE, 4000 + i))) for i in range(3)]
    ids = [s.get_span_context().span_id for s in spans]
    assert ids == [4000, 4001, 4002]
    del spans
    seen = {}
    for i in range(40):
        span = trace.get_current_span(kafka_trace.extract(_headers(TRACE, 5000 + i)))
        assert span.get_span_context().span_id == 5000 + i
        assert span.get_span_context().trace_id == TRACE
        seen[id(span)] = True
        del span
    assert seen


def test_another_tracestate_after_a_repeated_one_gets_its_own_state():
    for i in range(5):
        first = _ours(_headers(TRACE, 6000 + i, state=STATES[0]))
    other = _ours(_headers(TRACE, 6100, state=STATES[3]))
    assert other.trace_state is not first.trace_state
    assert list(other.trace_state.items()) == [("congo", "2"), ("rojo", "1")]
    assert list(first.trace_state.items()) == [("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE"), ("vendor3", "abc123")]


def test_another_trace_id_gets_its_own_int():
    a = _ours(_headers(TRACE, 1))
    b = _ours(_headers(TRACE, 2))
    c = _ours(_headers(TRACE + 1, 3))
    assert a.trace_id is b.trace_id  # the same trace shares its int
    assert c.trace_id == TRACE + 1 and a.trace_id == TRACE
    assert c.trace_id is not a.trace_id


def test_trace_id_ints_at_the_edges_equal_the_sdk():
    for trace_id in (1, 2**32, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**127, 2**128 - 1, TRACE):
        headers = _headers(trace_id, 11)
        ours, sdk = _ours(headers), _sdk(headers)
        _assert_same(ours, sdk)
        assert ours.trace_id == trace_id
