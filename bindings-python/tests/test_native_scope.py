"""``TracedConsumer.process(msg)`` of a confluent-kafka ``Message`` is one native context manager
(issue 12 item 4): the same span, context and metrics as the Python scope, the handler's exception
re-raised unchanged and recorded, and no tracing failure ever raised into the handler."""

from __future__ import annotations

import logging
from typing import Any, List, Optional

import pytest
from confluent_kafka import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from kafka_trace import KafkaTracing, _native
from kafka_trace.confluent import TracedConsumer
from kafka_trace.tracing import ProcessScope

TP = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CONF = {"bootstrap.servers": "kafka:9092", "client.id": "c1", "group.id": "g1"}


class StubConsumer:
    def poll(self, timeout: float = 0) -> Optional[Message]:
        return None


def message(offset: int = 5, headers: Any = None) -> Message:
    return Message(topic="orders", partition=0, offset=offset, key=b"k", value=b"v",
                   headers=[("traceparent", TP)] if headers is None else headers, timestamp=(1, 1_700_000_000_000))


def consumer(otel: Any, **options: Any) -> TracedConsumer:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, **options)
    return TracedConsumer(StubConsumer(), tracing, CONF)


def test_the_native_scope_makes_the_span_current_and_ends_it(otel: Any) -> None:
    c = consumer(otel)
    before = otel_context.get_current()
    with c.process(message()) as span:
        scope_type = type(c.process(message(6)))
        assert trace.get_current_span() is span
        inner = trace.get_current_span().get_span_context()
    assert scope_type is _native.ProcessScope
    assert otel_context.get_current() is before
    s = otel.one("process orders")
    assert s.context.span_id == inner.span_id
    assert s.parent is not None and s.parent.span_id == 0x00F067AA0BA902B7
    assert s.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert s.attributes["messaging.kafka.offset"] == 5
    assert s.status.status_code == StatusCode.UNSET
    names = set(otel.metrics())
    assert {"messaging.client.consumed.messages", "messaging.process.duration"} <= names


def test_the_handlers_exception_is_recorded_and_reraised_unchanged(otel: Any) -> None:
    c = consumer(otel)
    boom = KeyError("boom")
    with pytest.raises(KeyError) as raised:
        with c.process(message()):
            raise boom
    assert raised.value is boom
    s = otel.one("process orders")
    assert s.status.status_code == StatusCode.ERROR
    assert s.attributes["error.type"] == "KeyError"
    assert [e.name for e in s.events] == ["exception"]
    assert not trace.get_current_span().get_span_context().is_valid  # the context was restored


class BrokenTracer:
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer down")


def test_a_failing_tracer_or_hook_never_reaches_the_handler(otel: Any, caplog: Any) -> None:
    ran: List[str] = []
    c = consumer(otel)
    c._scopes = _native.ProcessScopes(BrokenTracer(), c._tracing._instruments, c._tracing,
                                      lambda m, msg: None,
                                      (otel_context.get_current, otel_context.attach, otel_context.detach))
    with caplog.at_level(logging.ERROR, logger="kafka_trace"):
        with c.process(message()) as span:
            ran.append("handler")
    assert span is None and ran == ["handler"]
    assert any("could not start a process span" in r.message for r in caplog.records)

    def hook(span: Any, msg: Any) -> None:
        raise ValueError("hook")

    c = consumer(otel, on_process=hook)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="kafka_trace"):
        with c.process(message()) as span:
            ran.append("hooked")
    assert span is not None and ran[-1] == "hooked"
    assert any("hook failed" in r.message for r in caplog.records)
    assert len(otel.named("process orders")) == 1


def test_record_look_alikes_are_read_natively_and_events_start_nothing(otel: Any) -> None:
    class Record:
        topic, partition, offset, key, value, timestamp = "orders", 1, 9, b"k", b"v", None
        headers = [("traceparent", TP)]

    c = consumer(otel)
    with c.process(Record()) as span:
        assert span is not None and trace.get_current_span() is span
    s = otel.one("process orders")
    assert s.attributes["messaging.kafka.offset"] == 9 and s.parent is not None
    err = Message(topic="orders", error=__import__("confluent_kafka").KafkaError(-191))
    with c.process(err) as nothing:
        assert nothing is None
    with c.process(None) as nothing:
        assert nothing is None
    assert len(otel.spans()) == 1


class Recorder:
    """A sampler that records what each start gave it and drops or records as told."""

    def __init__(self, record: Any = lambda i: False) -> None:
        self.seen: List[Any] = []
        self.record = record

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Any = None, trace_state: Any = None) -> Any:
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        parent = trace.get_current_span(parent_context).get_span_context()
        self.seen.append((name, kind, dict(attributes or {}), parent.trace_id, parent.span_id,
                          [(link.context.trace_id, link.context.span_id) for link in (links or ())]))
        decision = Decision.RECORD_AND_SAMPLE if self.record(len(self.seen) - 1) else Decision.DROP
        return SamplingResult(decision, attributes if decision == Decision.RECORD_AND_SAMPLE else None)

    def get_description(self) -> str:
        return "Recorder"


SITUATIONS = [  # partition, headers, timestamp: every start-cache situation, twice each
    (0, [("traceparent", TP)], (1, 1_700_000_000_000)),
    (0, [("traceparent", b"junk")], (1, 1_700_000_000_000)),
    (1, None, (0, 0)),
    (-1, [("traceparent", TP), ("baggage", b"k=v")], (2, 1_700_000_000_000)),
]


def situation_messages() -> List[Message]:
    out = []
    for i, (partition, headers, ts) in enumerate(SITUATIONS * 2):
        out.append(Message(topic="orders", partition=partition, offset=10 + i, key=b"k%d" % i, value=b"v" * i,
                           headers=headers, timestamp=ts))
    return out


def situation_records() -> List[Any]:
    """`situation_messages` as aiokafka `ConsumerRecord`s (no timestamp: None; no headers: ())."""
    from aiokafka.structs import ConsumerRecord

    out = []
    for m in situation_messages():
        ts_type, ts = m.timestamp()
        out.append(ConsumerRecord(topic=m.topic(), partition=m.partition(), offset=m.offset(),
                                  timestamp=ts if ts_type else None, timestamp_type=0, key=m.key(), value=m.value(),
                                  checksum=None, serialized_key_size=2, serialized_value_size=len(m.value() or b""),
                                  headers=tuple(m.headers() or ())))
    return out


POLL_CTX = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(0x123, 0x456, False, trace.TraceFlags(1))))


def run_consumer(record: Any, fresh_each: bool, strategy: str = "parent", ambient: bool = False,
                 fail: bool = False, records: bool = False, batch: bool = False, python_scope: bool = False) -> Any:
    """`records`: aiokafka records through `KafkaTracing.process` (one model, or a new one per
    record with `fresh_each`) instead of confluent-kafka messages through `TracedConsumer.process`;
    `batch`: each message through `KafkaTracing.process` as one of a batch received in `POLL_CTX`
    (`python_scope`: through the Python `ProcessScope` instead, a recipe per message)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sampler = Recorder(record)
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    tracing = KafkaTracing(tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader]),
                           strategy=strategy, record_body_size=True)
    c = TracedConsumer(StubConsumer(), tracing, CONF)
    outer = trace.NonRecordingSpan(trace.SpanContext(0xABC, 0xDEF, True, trace.TraceFlags(1)))
    handler_views = []
    model = tracing.model_for(CONF)
    for m in situation_records() if records else situation_messages():
        if fresh_each:
            c = TracedConsumer(StubConsumer(), tracing, CONF)
            model = tracing.model_for(CONF)
        token = otel_context.attach(trace.set_span_in_context(outer)) if ambient else None
        try:
            if batch:
                scope = ProcessScope(tracing, model, m, POLL_CTX) if python_scope else tracing.process(m, model, POLL_CTX)
            else:
                scope = tracing.process(m, model) if records else c.process(m)
            with scope:
                sc = trace.get_current_span().get_span_context()
                from opentelemetry import baggage

                handler_views.append((sc.trace_id, dict(baggage.get_all())))
                if fail:
                    raise ValueError("handler")
        except ValueError:
            pass
        finally:
            if token is not None:
                otel_context.detach(token)
    points = []
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    points.append((metric.name, sorted(p.attributes.items()), getattr(p, "count", None),
                                   getattr(p, "value", None) if metric.name.endswith("messages") else None))
    spans = [(s.name, s.kind, dict(s.attributes), s.parent.span_id if s.parent else None, s.status.status_code)
             for s in exporter.get_finished_spans()]
    return sampler.seen, sorted(points), spans, handler_views


@pytest.mark.parametrize("strategy", ["parent", "link"])
@pytest.mark.parametrize("ambient", [False, True])
@pytest.mark.parametrize("fail", [False, True])
def test_spans_started_from_the_start_cache_equal_the_recipes(strategy: str, ambient: bool, fail: bool) -> None:
    # One consumer (its second message of each situation starts from the template) against a new
    # consumer per message (every start from a recipe): the sampler sees the same starts, the
    # handler the same context, the meter the same records.
    for record in (lambda i: False, lambda i: i % 3 == 1):
        cached = run_consumer(record, fresh_each=False, strategy=strategy, ambient=ambient, fail=fail)
        fresh = run_consumer(record, fresh_each=True, strategy=strategy, ambient=ambient, fail=fail)
        # Trace ids of new roots are random; everything else must be equal.
        strip = lambda seen: [(n, k, a, t if p else None, p, links) for (n, k, a, t, p, links) in seen]  # noqa: E731
        assert strip(cached[0]) == strip(fresh[0])
        assert len(cached[0]) == len(SITUATIONS) * 2
        assert cached[1] == fresh[1] and cached[1]
        no_e2e = lambda spans: [(n, k, {a: v for a, v in at.items() if a != "kafka_trace.e2e_latency_ms"}, p, st)  # noqa: E731
                                for (n, k, at, p, st) in spans]
        assert no_e2e(cached[2]) == no_e2e(fresh[2])
        strip_ids = lambda views: [(t if t in (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xABC) else "new", b)  # noqa: E731
                                   for t, b in views]
        assert strip_ids(cached[3]) == strip_ids(fresh[3])
        # aiokafka records of the same messages (read natively, started from the templates too):
        # the same starts, spans, metric records and handler contexts.
        for fresh_each in (False, True):
            got = run_consumer(record, fresh_each=fresh_each, strategy=strategy, ambient=ambient, fail=fail,
                               records=True)
            assert strip(got[0]) == strip(cached[0])
            assert got[1] == cached[1]
            assert no_e2e(got[2]) == no_e2e(cached[2])
            assert strip_ids(got[3]) == strip_ids(cached[3])


@pytest.mark.parametrize("strategy", ["parent", "link"])
@pytest.mark.parametrize("ambient", [False, True])
@pytest.mark.parametrize("fail", [False, True])
def test_batch_spans_started_from_the_start_cache_equal_the_recipes(strategy: str, ambient: bool, fail: bool) -> None:
    # Messages of a batch (their receive call's poll span a parent or link source): one model (the
    # second message of each situation starts from the template; confluent-kafka messages and
    # aiokafka records) and a new model per message (every start from a recipe), against the
    # Python scope (MessageInfo, a recipe per message).
    for record in (lambda i: False, lambda i: i % 3 == 1):
        fresh = run_consumer(record, fresh_each=True, strategy=strategy, ambient=ambient, fail=fail, batch=True,
                             python_scope=True)
        assert len(fresh[0]) == len(SITUATIONS) * 2 and fresh[1]
        # The poll span is a source: the parent (parent strategy, no valid remote) or a link.
        assert any(p == 0x456 or (0x123, 0x456) in links for (_, _, _, _, p, links) in fresh[0])
        for records, fresh_each in ((False, False), (True, False), (False, True)):
            got = run_consumer(record, fresh_each=fresh_each, strategy=strategy, ambient=ambient, fail=fail,
                               records=records, batch=True)
            strip = lambda seen: [(n, k, a, t if p else None, p, links) for (n, k, a, t, p, links) in seen]  # noqa: E731
            assert strip(got[0]) == strip(fresh[0])
            assert got[1] == fresh[1]
            no_e2e = lambda spans: [(n, k, {a: v for a, v in at.items() if a != "kafka_trace.e2e_latency_ms"}, p, st)  # noqa: E731
                                    for (n, k, at, p, st) in spans]
            assert no_e2e(got[2]) == no_e2e(fresh[2])
            strip_ids = lambda views: [(t if t in (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xABC, 0x123) else "new", b)  # noqa: E731
                                       for t, b in views]
            assert strip_ids(got[3]) == strip_ids(fresh[3])


class ListConsumer:
    def __init__(self, messages: List[Message]) -> None:
        self.messages = list(messages)

    def poll(self, timeout: float = 0) -> Optional[Message]:
        return self.messages.pop(0) if self.messages else None


def run_polls(record: Any, fresh_each: bool) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sampler = Recorder(record)
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    tracing = KafkaTracing(tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader]))
    messages = situation_messages() + [Message(topic="billing", partition=0, offset=1, value=b"v")] * 2
    got = []
    c = TracedConsumer(ListConsumer(messages), tracing, CONF)
    for _ in range(len(messages)):
        if fresh_each:
            c = TracedConsumer(c._consumer, tracing, CONF)
        got.append(c.poll(0))
    assert got == messages and c.poll(0) is None  # every message handed on, in order, unchanged
    points = []
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    points.append((metric.name, sorted(p.attributes.items()), getattr(p, "count", None)))
    spans = [(s.name, s.kind, dict(s.attributes), s.start_time <= s.end_time) for s in exporter.get_finished_spans()]
    return [(n, k, a) for (n, k, a, *_rest) in sampler.seen], sorted(points), spans


def test_poll_spans_from_the_start_cache_equal_the_recipes() -> None:
    for record in (lambda i: False, lambda i: i % 3 == 1):
        cached = run_polls(record, fresh_each=False)
        fresh = run_polls(record, fresh_each=True)
        assert cached == fresh
        assert len(cached[0]) == len(SITUATIONS) * 2 + 2
        assert cached[1]  # the receive calls' operation duration


class RecordingProducer:
    def __init__(self, fail: Optional[BaseException] = None) -> None:
        self.calls: List[Any] = []
        self.fail = fail

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.calls.append((topic, kwargs))
        if self.fail is not None:
            raise self.fail

    def poll(self, timeout: float = 0) -> int:
        return 0


def test_native_produce_passes_every_argument_and_ends_a_failed_send(otel: Any, caplog: Any) -> None:
    from kafka_trace.confluent import TracedProducer

    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    stub = RecordingProducer()
    p = TracedProducer(stub, tracing, CONF)
    assert type(p.produce).__name__ == "Producing"
    delivered: List[Any] = []
    p.produce("orders", b"v", b"k", 3, timestamp=7, headers=[("app", b"1")], callback=lambda e, m: delivered.append(e),
              extra="kept")
    topic, kw = stub.calls[0]
    assert topic == "orders" and (kw["value"], kw["key"], kw["partition"], kw["timestamp"], kw["extra"]) == (
        b"v", b"k", 3, 7, "kept")
    assert "callback" not in kw and type(kw["on_delivery"]).__name__ == "PendingSend"
    assert [h[0] for h in kw["headers"]] == ["app", "traceparent"]
    kw["on_delivery"](None, Message(topic="orders", partition=3, offset=11, latency=0.001))
    assert delivered == [None]
    span = otel.one("send orders")
    assert span.attributes["messaging.kafka.offset"] == 11

    # The client's own exception leaves produce unchanged; the span ends failed with its class.
    boom = BufferError("queue full")
    p = TracedProducer(RecordingProducer(fail=boom), tracing, CONF)
    with pytest.raises(BufferError) as raised:
        p.produce("orders", b"v")
    assert raised.value is boom
    failed = [s for s in otel.named("send orders") if s.attributes.get("error.type") == "BufferError"]
    assert len(failed) == 1 and failed[0].status.status_code == StatusCode.ERROR

    # A tracer that fails sends the message untraced, as given, with the application's callback.
    stub = RecordingProducer()
    broken = TracedProducer(stub, tracing, CONF)
    broken.produce = _native.Producing((broken._model, BrokenTracer(), tracing._instruments, otel_context.get_current),
                                       tracing, stub.produce)
    cb = lambda e, m: None  # noqa: E731
    broken.produce("orders", b"v", on_delivery=cb)
    topic, kw = stub.calls[-1]
    assert kw == {"value": b"v", "key": None, "partition": -1, "timestamp": 0, "on_delivery": cb}


def test_native_poll_hands_back_every_message_and_records_a_failed_receive(otel: Any) -> None:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    msgs = [message(1), Message(topic="orders", error=__import__("confluent_kafka").KafkaError(-191)), message(2)]
    c = TracedConsumer(ListConsumer(msgs), tracing, CONF)
    assert type(c.poll).__name__ == "Polling"
    assert [c.poll(0), c.poll(timeout=0), c.poll(0), c.poll(0)] == msgs + [None]
    assert len(otel.named("poll orders")) == 2  # the error event and the empty poll make none

    class Failing:
        def poll(self, timeout: float = 0) -> Any:
            raise RuntimeError("closed")

    c = TracedConsumer(Failing(), tracing, CONF)
    with pytest.raises(RuntimeError, match="closed"):
        c.poll(0)
    failed = [s for s in otel.spans() if s.attributes.get("error.type") == "RuntimeError"]
    assert len(failed) == 1 and failed[0].status.status_code == StatusCode.ERROR


def test_a_dropped_send_records_the_acknowledged_partition_and_the_brokers_latency() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from kafka_trace.confluent import TracedProducer

    reader = InMemoryMetricReader()
    tracing = KafkaTracing(tracer_provider=TracerProvider(sampler=Recorder()),
                           meter_provider=MeterProvider(metric_readers=[reader]))
    stub = RecordingProducer()
    p = TracedProducer(stub, tracing, CONF)
    for partition, latency in [(3, 0.25), (3, 0.5), (4, None)]:  # the first send makes the template
        p.produce("orders", b"v")
        extra = {} if latency is None else {"latency": latency}
        stub.calls[-1][1]["on_delivery"](None, Message(topic="orders", partition=partition, offset=9, **extra))
    points = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for pt in metric.data.data_points:
                    points[(metric.name, pt.attributes.get("messaging.destination.partition.id"))] = pt
    assert points[("messaging.client.sent.messages", "3")].value == 2
    assert points[("messaging.client.sent.messages", "4")].value == 1
    duration = points[("messaging.client.operation.duration", "3")]
    assert duration.count == 2 and duration.sum == pytest.approx(0.75)
    assert points[("messaging.client.operation.duration", "4")].count == 1


def test_dropped_sends_on_many_partitions_each_record_their_own_partition() -> None:
    """More partitions than a most-recent cache would hold, written round-robin twice, plus one
    past the core's per-partition bound and the unknown partition: every acknowledged send counts
    under its own partition (the core's PartitionCache keeps 0..1024 and converts the rest)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from kafka_trace.confluent import TracedProducer

    reader = InMemoryMetricReader()
    tracing = KafkaTracing(tracer_provider=TracerProvider(sampler=Recorder()),
                           meter_provider=MeterProvider(metric_readers=[reader]))
    stub = RecordingProducer()
    p = TracedProducer(stub, tracing, CONF)
    partitions = list(range(70)) + [5000]
    for _ in range(2):
        for partition in partitions:
            p.produce("orders", b"v")
            stub.calls[-1][1]["on_delivery"](None, Message(topic="orders", partition=partition, offset=9))
    sent = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "messaging.client.sent.messages":
                    for pt in metric.data.data_points:
                        sent[pt.attributes.get("messaging.destination.partition.id")] = pt.value
    assert sent == {str(partition): 2 for partition in partitions}
