"""The per-message caches and the native finish of issue 12 (item 4) give exactly what building
everything afresh gives: start attributes of consecutive messages (cached, patched), metric
records, and nothing but the end on a span the sampler dropped."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from opentelemetry.trace import SpanKind, Status, StatusCode

from kafka_trace import _native

KINDS = (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT)
TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def lifecycle(**client: Any) -> Any:
    return _native.Lifecycle(KINDS, record_body_size=True, client_id="c1", consumer_group="g1",
                             bootstrap_servers="kafka:9092", **client)


MESSAGES: List[Tuple[str, Optional[int], Optional[int], Any, Any, Optional[int], Any]] = [
    ("orders", 0, 5, b"k1", b"v", 1_700_000_000_000, [("traceparent", TP)]),
    ("orders", 0, 6, b"k1", b"vv", 1_700_000_000_001, [("traceparent", TP)]),
    ("orders", 1, 7, None, b"v", None, None),
    ("orders", 1, 8, "k2", None, 1_700_000_000_003, [("traceparent", TP)]),
    ("billing", None, None, b"k3", b"v", 1_700_000_000_004, []),
    ("orders", 2, 9, b"k1", b"v", 1_700_000_000_005, [("traceparent", TP)]),
]


SAMPLING = set(_native.SAMPLING_ATTRIBUTE_KEYS)


def test_process_attributes_equal_a_fresh_lifecycle_for_every_message() -> None:
    kept = lifecycle()
    seen: List[Dict[str, Any]] = []
    for topic, partition, offset, key, value, ts, headers in MESSAGES * 2:
        got = kept.process(topic, partition, offset, key, value, ts, headers, False, now_ms=1_700_000_001_000)
        fresh = lifecycle().process(topic, partition, offset, key, value, ts, headers, False, now_ms=1_700_000_001_000)
        assert list(got.attributes.items()) == list(fresh.attributes.items())
        assert list(got.recorded_attributes.items()) == list(fresh.recorded_attributes.items())
        # The start attributes are the sampling ones; the offset is recorded only.
        assert set(got.attributes) <= SAMPLING and got.attributes["messaging.destination.name"] == topic
        assert not set(got.recorded_attributes) & SAMPLING
        assert got.recorded_attributes.get("messaging.kafka.offset") == offset
        # The caller's dict is its own: changing it changes no later recipe.
        got.attributes["mutated"] = True
        seen.append(got.attributes)
    assert all(a["mutated"] is True for a in seen)
    again = kept.process(*MESSAGES[0][:6], MESSAGES[0][6], False, now_ms=1_700_000_001_000)
    assert "mutated" not in again.attributes


def test_send_and_poll_attributes_equal_a_fresh_lifecycle() -> None:
    kept = lifecycle()
    for topic, partition, _, key, value, _, _ in MESSAGES * 2:
        got = kept.send(topic, partition, key, value)
        fresh = lifecycle().send(topic, partition, key, value)
        assert list(got.attributes.items()) == list(fresh.attributes.items())
        assert list(got.recorded_attributes.items()) == list(fresh.recorded_attributes.items())
        assert set(got.attributes) <= SAMPLING and not set(got.recorded_attributes) & SAMPLING
        assert got.name == f"send {topic}"
        got.attributes.clear()
        poll = kept.poll([topic], 2)
        assert list(poll.attributes.items()) == list(lifecycle().poll([topic], 2).attributes.items())
        poll.attributes.clear()


class FakeSpan:
    def __init__(self, recording: bool) -> None:
        self.recording = recording
        self.calls: List[Tuple[str, Any]] = []

    def is_recording(self) -> bool:
        return self.recording

    def set_attributes(self, attributes: Dict[str, Any]) -> None:
        self.calls.append(("set_attributes", dict(attributes)))

    def set_status(self, status: Status) -> None:
        self.calls.append(("set_status", (status.status_code, status.description)))

    def end(self, end_time: Optional[int] = None) -> None:
        self.calls.append(("end", end_time))


def executed(recording: bool, error_type: Optional[str]) -> Tuple[List[Tuple[str, Any]], List[Tuple[int, float, Dict[str, Any]]]]:
    records: List[Tuple[int, float, Dict[str, Any]]] = []
    recorders = [lambda v, a, i=i: records.append((i, v, dict(a))) for i in range(len(_native.INSTRUMENTS))]
    instruments = _native.Instruments(recorders, Status, StatusCode.ERROR)
    recipe = lifecycle().send("orders", None, b"k", b"v")
    span = FakeSpan(recording)
    recipe.end(instruments, span, 1_000, 0.25, error_type, 3, 42, 0.125)
    return span.calls, records


def test_end_does_what_finish_says_on_a_recording_span() -> None:
    for error_type in (None, "KafkaError"):
        recipe = lifecycle().send("orders", None, b"k", b"v")
        attributes, status, end_after, metrics = recipe.finish(0.25, error_type, 3, 42, 0.125)
        calls, records = executed(True, error_type)
        expected: List[Tuple[str, Any]] = []
        # The recorded start attributes (not given at the start) come with the end ones.
        ended = {**recipe.recorded_attributes, **attributes}
        assert ended and set(recipe.recorded_attributes) == {"messaging.client.id", "messaging.kafka.message.key",
                                                             "messaging.message.body.size"}
        expected.append(("set_attributes", ended))
        if status is not None:
            expected.append(("set_status", (StatusCode.ERROR, status)))
        expected.append(("end", None if end_after is None else 1_000 + round(end_after * 1e9)))
        assert calls == expected
        assert records == [(i, v, dict(a)) for i, v, a in metrics] and records


def test_end_on_a_dropped_span_only_ends_it_and_still_records_metrics() -> None:
    recipe = lifecycle().send("orders", None, b"k", b"v")
    _, _, end_after, metrics = recipe.finish(0.25, "KafkaError", None, None, 0.125)
    calls, records = executed(False, "KafkaError")
    assert calls == [("end", 1_000 + round(end_after * 1e9))]
    assert records == [(i, v, dict(a)) for i, v, a in metrics] and records


def test_recorded_attributes_are_set_on_a_recording_span_only() -> None:
    recipe = lifecycle().process("orders", 0, 5, b"k1", b"v", 1_700_000_000_000, [("traceparent", TP)], False,
                                 now_ms=1_700_000_001_000)
    recorded = dict(recipe.recorded_attributes)
    assert recorded["messaging.kafka.offset"] == 5 and recorded["messaging.client.id"] == "c1"
    span = FakeSpan(True)
    recipe.started(span)
    assert span.calls == [("set_attributes", recorded)]
    dropped = FakeSpan(False)
    recipe.started(dropped)
    assert dropped.calls == []


class Record:
    """The fields of a confluent-kafka Message, shaped like aiokafka's ConsumerRecord (read in
    Python by MessageInfo)."""

    def __init__(self, m: Any) -> None:
        self.topic = m.topic()
        self.partition = m.partition()
        self.offset = m.offset()
        self.key = m.key()
        self.value = m.value()
        ts_type, ts = m.timestamp()
        self.timestamp = ts if ts_type else None
        self.headers = m.headers()


def test_a_confluent_message_read_natively_gives_what_its_fields_give() -> None:
    from confluent_kafka import Message
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from kafka_trace import KafkaTracing

    messages = [
        Message(topic="orders", partition=2, offset=7, key=b"k", value=b"vv", headers=[("traceparent", TP)],
                timestamp=(1, 1_700_000_000_000)),
        Message(topic="orders", partition=-1, offset=-1001, key=None, value=None, headers=None, timestamp=(0, 0)),
        Message(topic="orders", partition=0, offset=3, key="text", value=b"", headers=[("traceparent", b"junk")],
                timestamp=(2, 1_700_000_000_500)),
    ]
    for m in messages:
        got = []
        for shaped in (m, Record(m)):
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            tracing = KafkaTracing(tracer_provider=provider, client_id="c1", consumer_group="g1", record_body_size=True)
            with tracing.process(shaped) as span:
                assert span is not None
            (s,) = exporter.get_finished_spans()
            attrs = {k: v for k, v in s.attributes.items() if k != "kafka_trace.e2e_latency_ms"}
            got.append((s.name, s.kind, attrs, s.parent.span_id if s.parent else None, s.context.trace_id
                        if s.parent else None, "kafka_trace.e2e_latency_ms" in s.attributes))
        assert got[0] == got[1]
    # An error event is no message: no span.
    err = Message(topic="orders", error=__import__("confluent_kafka").KafkaError(-191))
    tracing = KafkaTracing()
    with tracing.process(err) as span:
        assert span is None


def test_extract_shares_one_tracestate_object_per_distinct_tracestate() -> None:
    from opentelemetry import trace

    from kafka_trace import extract

    def state(value: bytes) -> Any:
        ctx = extract([("traceparent", TP), ("tracestate", value)])
        return trace.get_current_span(ctx).get_span_context().trace_state

    a, b = state(b"rojo=1,congo=2"), state(b"rojo=1,congo=2")
    assert a is b and list(a.items()) == [("rojo", "1"), ("congo", "2")]
    c = state(b"rojo=1,congo=3")
    assert c is not a and list(c.items()) == [("rojo", "1"), ("congo", "3")]
    assert state(b"rojo=1") is not a and list(state(b"rojo=1").items()) == [("rojo", "1")]
    # Immutable: the API's edits give new objects, the shared one keeps its members.
    edited = a.add("vendor", "x")
    assert list(edited.items())[0] == ("vendor", "x") and list(a.items()) == [("rojo", "1"), ("congo", "2")]
    # More distinct tracestates than are kept: each still gives its own members.
    for i in range(40):
        assert list(state(b"k%d=v%d" % (i, i)).items()) == [("k%d" % i, "v%d" % i)]
    assert list(state(b"rojo=1,congo=2").items()) == [("rojo", "1"), ("congo", "2")]


def _sdk_span_context(trace_id: int, span_id: int, flags: int, members: List[Tuple[str, str]]) -> Any:
    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    return SpanContext(trace_id=trace_id, span_id=span_id, is_remote=True, trace_flags=TraceFlags(flags),
                       trace_state=TraceState(members))


def _assert_remote_span_is(ctx: Any, want: Any) -> None:
    """`ctx` holds a `NonRecordingSpan` whose `SpanContext` is the API's own `want` in every field."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext

    span = trace.get_current_span(ctx)
    assert type(span) is NonRecordingSpan
    sc = span.get_span_context()
    assert type(sc) is SpanContext and isinstance(sc, tuple) and len(sc) == 6
    assert (sc.trace_id, sc.span_id, int(sc.trace_flags), sc.is_remote, sc.is_valid) == (
        want.trace_id, want.span_id, int(want.trace_flags), True, True)
    assert type(sc.trace_id) is int and type(sc.span_id) is int and type(sc.trace_flags) is type(want.trace_flags)
    assert list(sc.trace_state.items()) == list(want.trace_state.items())
    assert sc.trace_state.to_header() == want.trace_state.to_header()
    assert sc == want and repr(sc) == repr(want) and repr(span) == repr(NonRecordingSpan(want))
    # The API's SpanContext is unhashable (its TraceState is); ours must behave the same.
    for obj in (sc, want):
        try:
            hash(obj)
        except TypeError:
            pass
        else:
            raise AssertionError("hashable SpanContext")


def test_extract_builds_the_apis_span_context_from_the_allocators() -> None:
    from opentelemetry.trace import SpanContext

    from kafka_trace import extract

    # The allocator path is what runs on this opentelemetry-api (checked against it at import).
    assert _native._extract_fast_paths() == (True, True)
    span_ids = [0x00F067AA0BA902B7 + i for i in range(12)]
    for i, span_id in enumerate(span_ids):
        trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736 + (i % 3)
        flags = (0x01, 0x00, 0x03)[i % 3]
        members = [("rojo", "%d" % i), ("congo", "t61rcWkgMzE")][: i % 3]
        tp = b"00-%032x-%016x-%02x" % (trace_id, span_id, flags)
        headers = [("traceparent", tp)] + ([("tracestate", ",".join("%s=%s" % m for m in members).encode())]
                                           if members else [])
        _assert_remote_span_is(extract(headers), _sdk_span_context(trace_id, span_id, flags, members))
    # A SpanContext built by the API from ours is equal to it.
    sc = extract([("traceparent", TP)])
    from opentelemetry import trace

    got = trace.get_current_span(sc).get_span_context()
    assert SpanContext(got.trace_id, got.span_id, True, got.trace_flags, got.trace_state) == got


def test_extract_shares_a_remote_span_only_for_the_same_ids_flags_and_tracestate() -> None:
    from opentelemetry import trace

    from kafka_trace import extract

    def span(tp: bytes, ts: Optional[bytes] = None) -> Any:
        headers = [("traceparent", tp)] + ([("tracestate", ts)] if ts is not None else [])
        return trace.get_current_span(extract(headers))

    tid, sid = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
    tp = b"00-%032x-%016x-01" % (tid, sid)
    base = span(tp, b"rojo=1,congo=2")
    assert span(tp, b"rojo=1,congo=2") is base
    # Equal after the core's reading (OWS, an empty member): the same members, the same span.
    assert span(b" " + tp + b"\t", b"rojo=1 , ,congo=2") is base
    variants = {
        "span id": (b"00-%032x-%016x-01" % (tid, sid + 1), b"rojo=1,congo=2", (tid, sid + 1, 1, [("rojo", "1"), ("congo", "2")])),
        "trace id": (b"00-%032x-%016x-01" % (tid + 1, sid), b"rojo=1,congo=2", (tid + 1, sid, 1, [("rojo", "1"), ("congo", "2")])),
        "flags": (b"00-%032x-%016x-03" % (tid, sid), b"rojo=1,congo=2", (tid, sid, 3, [("rojo", "1"), ("congo", "2")])),
        "member value": (tp, b"rojo=1,congo=3", (tid, sid, 1, [("rojo", "1"), ("congo", "3")])),
        "member order": (tp, b"congo=2,rojo=1", (tid, sid, 1, [("congo", "2"), ("rojo", "1")])),
        "fewer members": (tp, b"rojo=1", (tid, sid, 1, [("rojo", "1")])),
        "no tracestate": (tp, None, (tid, sid, 1, [])),
        "discarded tracestate": (tp, b"rojo=1,Bad=2", (tid, sid, 1, [])),
    }
    for name, (variant_tp, ts, want) in variants.items():
        got = span(variant_tp, ts)
        assert got is not base, name
        _assert_remote_span_is(trace.set_span_in_context(got), _sdk_span_context(*want))
        assert span(variant_tp, ts) is got, name
    # "no tracestate" and "discarded tracestate" read the same: one span.
    assert span(tp, None) is span(tp, b"rojo=1,Bad=2")
    # Past the spans kept (8), each context still gets its own, right span.
    for i in range(20):
        _assert_remote_span_is(
            trace.set_span_in_context(span(b"00-%032x-%016x-01" % (tid, i + 1), b"k=%d" % i)),
            _sdk_span_context(tid, i + 1, 1, [("k", "%d" % i)]))
    _assert_remote_span_is(trace.set_span_in_context(span(tp, b"rojo=1,congo=2")),
                           _sdk_span_context(tid, sid, 1, [("rojo", "1"), ("congo", "2")]))
    # Each extract is its own Context: adding to one leaves the other alone.
    a, b = extract([("traceparent", tp)]), extract([("traceparent", tp)])
    assert a is not b and a == b
    from opentelemetry import baggage

    assert baggage.get_all(baggage.set_baggage("k", "v", a)) == {"k": "v"} and baggage.get_all(b) == {}


def test_extract_matches_the_sdk_propagator_on_every_shared_vector_twice() -> None:
    """Every shared vector with a valid traceparent, extracted twice (made, then shared): the span
    context the SDK's own constructor makes from the vector's expected fields."""
    import json
    from pathlib import Path

    from opentelemetry import trace

    from kafka_trace import extract

    doc = json.loads((Path(__file__).resolve().parents[2] / "core" / "testdata" / "trace_context_vectors.json").read_text())
    checked = 0
    for case in doc["cases"]:
        want = case["expect"]["traceparent"]
        if want is None:
            continue
        headers = []
        for h in case["headers"]:
            value = h.get("value")
            headers.append((h["name"], value.encode() if isinstance(value, str)
                            else bytes.fromhex(h["value_hex"]) if isinstance(h.get("value_hex"), str) else None))
        members = [tuple(m) for m in case["expect"]["tracestate"]]
        expected = _sdk_span_context(int(want["trace_id"], 16), int(want["span_id"], 16), int(want["flags"], 16),
                                     members)
        for _ in range(2):
            ctx = extract(headers)
            if list(expected.trace_state.items()) == members:
                _assert_remote_span_is(ctx, expected)
            else:
                # The API's TraceState rejects some W3C keys (e.g. a digit after `@`): every other
                # field against the API's, the members against the vector.
                sc = trace.get_current_span(ctx).get_span_context()
                assert sc[:4] == expected[:4] and sc[5] is expected[5] is True
                assert list(sc.trace_state.items()) == members
        checked += 1
    assert checked >= 50
