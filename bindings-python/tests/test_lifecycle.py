"""The divergences of issue 10, for Python: bounded metric attributes (1,000 messages over 3
partitions on the real broker), the handler's context, poll = the receive call, the send span's
end from librdkafka's latency, W3C Level 2 through a handler's send, unsampled parents, and one
spelling of every option."""

from __future__ import annotations

import inspect
import time
import warnings
from typing import Any, Dict, List, Set, Tuple

import pytest
from confluent_kafka import Consumer, Producer
from opentelemetry import baggage, context, trace

from kafka_trace import KafkaTracing, _native, extract_parts
from kafka_trace._otel import KEPT_REMOTE_KEY
from kafka_trace.confluent import TracedConsumer, TracedProducer

from conftest import BOOTSTRAP, Otel, wait_for

HOST, PORT = BOOTSTRAP.rsplit(":", 1)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
LONG_KEY = "a" + "b" * 255  # valid under Level 2, refused by stricter SDK grammars


def consumer_conf(group: str) -> Dict[str, Any]:
    return {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": group,
        "client.id": f"{group}-client",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }


def first_message(consumer: Any, timeout: float = 30.0) -> Any:
    def get() -> Any:
        m = consumer.poll(0.2)
        return m if m is not None and m.error() is None else None

    return wait_for("a message", get, timeout)


def attribute_sets(points: List[Any]) -> Set[frozenset]:
    return {frozenset(p.attributes.items()) for p in points}


# --- metric cardinality on the broker ------------------------------------------------------------


def test_1000_messages_over_3_partitions_give_a_handful_of_series(otel: Otel, new_topic: Any) -> None:
    topic = new_topic("kt-py-card", partitions=3)
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    pconf = {"bootstrap.servers": BOOTSTRAP, "client.id": "card-producer", "linger.ms": 5}
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    for i in range(1000):
        producer.produce(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=i % 3)
        if i % 100 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    group = "kt-py-card"
    consumer = TracedConsumer(Consumer(consumer_conf(group)), tracing, consumer_conf(group))
    consumer.subscribe([topic])
    processed = 0

    def drain() -> bool:
        nonlocal processed
        for m in consumer.consume(num_messages=500, timeout=0.5):
            if m.error() is None:
                with consumer.process(m):
                    processed += 1
        return processed >= 1000

    wait_for("1000 messages", drain, timeout=120)
    consumer.close()
    assert processed == 1000

    points = otel.metrics()
    allowed = set(_native.METRIC_ATTRIBUTE_KEYS)
    for name, ps in points.items():
        for p in ps:
            assert set(p.attributes) <= allowed, (name, dict(p.attributes))

    server = {"server.address": HOST, "server.port": int(PORT)}
    base = {"messaging.system": "kafka", "messaging.destination.name": topic, **server}
    send = {**base, "messaging.operation.name": "send", "messaging.operation.type": "send"}
    process = {**base, "messaging.operation.name": "process", "messaging.operation.type": "process",
               "messaging.consumer.group.name": group}
    poll = {**base, "messaging.operation.name": "poll", "messaging.operation.type": "receive",
            "messaging.consumer.group.name": group}
    per_partition = lambda attrs: {frozenset({**attrs, "messaging.destination.partition.id": str(p)}.items()) for p in range(3)}  # noqa: E731
    # A receive may return messages of several partitions: the poll series has no partition.
    assert attribute_sets(points["messaging.client.operation.duration"]) == per_partition(send) | {frozenset(poll.items())}
    assert attribute_sets(points["messaging.client.sent.messages"]) == per_partition(send)
    assert attribute_sets(points["messaging.client.consumed.messages"]) == per_partition(process)
    assert attribute_sets(points["messaging.process.duration"]) == per_partition(process)
    assert attribute_sets(points["kafka_trace.e2e.latency"]) == per_partition(process)
    assert sum(p.value for p in points["messaging.client.sent.messages"]) == 1000
    assert sum(p.value for p in points["messaging.client.consumed.messages"]) == 1000
    assert sum(p.count for p in points["messaging.process.duration"]) == 1000
    # The spans keep what the metrics must not: every offset.
    offsets = {(s.attributes["messaging.destination.partition.id"], s.attributes["messaging.kafka.offset"])
               for s in otel.named(f"send {topic}")}
    assert len(offsets) == 1000


# --- handler context -------------------------------------------------------------------------------

APP_KEY = context.create_key("kafka-trace-test-app-value")


class Record:
    """Shaped like aiokafka's ConsumerRecord."""

    def __init__(self, headers: Any) -> None:
        self.topic, self.partition, self.offset = "orders", 1, 7
        self.key, self.value, self.timestamp, self.headers = b"k", b"v", None, headers


@pytest.mark.parametrize("remote", [True, False], ids=["remote-parent", "no-remote-parent"])
@pytest.mark.parametrize("ambient_span", [True, False], ids=["ambient-span", "no-ambient-span"])
def test_handler_context_keeps_ambient_and_message_baggage(otel: Otel, remote: bool, ambient_span: bool) -> None:
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    headers: List[Tuple[str, bytes]] = [("baggage", b"tenant=from-message,user=alice")]
    if remote:
        headers.insert(0, ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-03".encode()))
    ctx = context.set_value(APP_KEY, "app-value")
    ctx = baggage.set_baggage("tenant", "from-caller", ctx)
    ctx = baggage.set_baggage("region", "eu", ctx)
    outer = otel.tracer.start_span("outer", context=ctx) if ambient_span else None
    if outer is not None:
        ctx = trace.set_span_in_context(outer, ctx)
    token = context.attach(ctx)
    try:
        with tracing.process(Record(headers)) as span:
            assert span is not None
            assert trace.get_current_span() is span
            assert context.get_value(APP_KEY) == "app-value"  # the ambient context is kept
            # the message's baggage merged over the caller's, the message's value winning
            assert dict(baggage.get_all()) == {"tenant": "from-message", "user": "alice", "region": "eu"}
            kept = context.get_value(KEPT_REMOTE_KEY)
            if remote:
                assert isinstance(kept, _native.KeptRemote)
                assert (kept.trace_id, kept.flags) == (TRACE, 0x03)
            else:
                assert kept is None
        assert context.get_current() is ctx  # the scope restored the caller's context
    finally:
        context.detach(token)
        if outer is not None:
            outer.end()
    (process,) = otel.named("process orders")
    if remote:
        assert process.parent is not None and process.parent.span_id == 0x00F067AA0BA902B7
    elif ambient_span:
        assert outer is not None and process.parent is not None
        assert process.parent.span_id == outer.get_span_context().span_id
    else:
        assert process.parent is None


# --- poll = the receive call; send end from librdkafka's latency -------------------------------------


def test_poll_span_is_the_receive_call_only(otel: Otel, new_topic: Any) -> None:
    topic = new_topic("kt-py-poll")
    raw = Producer({"bootstrap.servers": BOOTSTRAP})
    for i in range(3):
        raw.produce(topic, f"m{i}".encode())
    assert raw.flush(30) == 0
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    conf = consumer_conf("kt-py-poll")
    consumer = TracedConsumer(Consumer(conf), tracing, conf)
    consumer.subscribe([topic])
    handled = 0

    def batch() -> bool:
        nonlocal handled
        for m in consumer.consume(num_messages=3, timeout=0.5):
            with consumer.process(m):
                time.sleep(0.05)  # a slow handler: it must not count as receive time
                handled += 1
        return handled >= 3

    wait_for("3 messages", batch)
    consumer.close()
    polls = otel.named(f"poll {topic}")
    processes = otel.named(f"process {topic}")
    assert len(processes) == 3 and polls
    by_id = {p.context.span_id: p for p in polls}
    for span in processes:
        # No traceparent in the messages: the batch's poll span is the parent, no links.
        assert len(span.links) == 0
        assert span.parent is not None and span.parent.span_id in by_id
        poll = by_id[span.parent.span_id]
        assert poll.end_time <= span.start_time  # the poll span ended before its handler ran
    # messaging.client.operation.duration for poll: one measurement per traced receive call
    points = otel.metrics()["messaging.client.operation.duration"]
    assert sum(p.count for p in points if p.attributes["messaging.operation.name"] == "poll") == len(polls)
    assert "messaging.client.operation.duration" not in {
        n for n, ps in otel.metrics().items() for p in ps if p.attributes.get("messaging.operation.name") == "process"
    }


def late_served_send(otel: Otel, new_topic: Any, delay: float) -> Tuple[Any, int, int, float]:
    """One send whose delivery report is served only `delay` s after produce() (poll called
    late on purpose); returns (span, produced_ns, served_ns, Message.latency())."""
    topic = new_topic("kt-py-lat")
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    conf = {"bootstrap.servers": BOOTSTRAP, "linger.ms": 0}
    producer = TracedProducer(Producer(conf), tracing, conf)
    producer.produce(topic, b"warm-up")
    assert producer.flush(30) == 0  # connection and metadata ready
    reports: List[Tuple[int, float]] = []
    producer.produce(topic, b"x", on_delivery=lambda err, msg: reports.append((time.time_ns(), msg.latency())))
    produced = time.time_ns()
    if delay:
        time.sleep(delay)  # deliberate: the delivery report waits for the next poll()
    wait_for("delivery report", lambda: producer.poll(0.1) is not None and reports)
    served_ns, latency = reports[0]
    assert served_ns - produced >= delay * 1e9
    span = otel.named(f"send {topic}")[-1]
    return span, produced, served_ns, latency


@pytest.mark.parametrize("delay", [0.0, 0.5], ids=["served-at-once", "served-0.5s-late"])
def test_send_span_ends_at_start_plus_the_reported_latency(otel: Otel, new_topic: Any, delay: float) -> None:
    span, _, served_ns, latency = late_served_send(otel, new_topic, delay)
    assert latency is not None and latency > 0
    # The core's SpanEnd::AfterStart(latency): start + Message.latency(), not "now". The float
    # seconds become whole nanoseconds in the core (Duration::try_from_secs_f64), so the end is
    # within the rounding of that one conversion, under 1 ns.
    assert abs((span.end_time - span.start_time) - latency * 1e9) < 1.0
    assert span.end_time <= served_ns


@pytest.mark.xfail(strict=True, reason=(
    "confluent-kafka's Message.latency() is librdkafka's rd_kafka_message_latency(): "
    "rd_clock() - enqueue time, computed when the delivery report is served (Message created in "
    "poll()), so a report served 0.5 s late reports ~0.5 s; the client exposes no ack time"))
def test_send_span_duration_excludes_a_late_served_delivery_report(otel: Otel, new_topic: Any) -> None:
    span, _, _, latency = late_served_send(otel, new_topic, 0.5)
    assert latency < 0.4
    assert span.end_time - span.start_time < 400_000_000


# --- W3C Level 2 and sampling through a handler's send, on the broker -----------------------------------


def forward_once(otel: Otel, new_topic: Any, headers: List[Tuple[str, bytes]]) -> Tuple[Any, Any]:
    """Produces a message with `headers` (raw), consumes it through the wrappers, forwards it from
    the handler and returns (the forwarded message's parts, the forward's send span context)."""
    a, b = new_topic("kt-py-l2a"), new_topic("kt-py-l2b")
    raw = Producer({"bootstrap.servers": BOOTSTRAP})
    raw.produce(a, b"payload", headers=headers)
    assert raw.flush(30) == 0
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    pconf = {"bootstrap.servers": BOOTSTRAP}
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    c1 = TracedConsumer(Consumer(consumer_conf("kt-py-l2-1")), tracing, consumer_conf("kt-py-l2-1"))
    c1.subscribe([a])
    msg = first_message(c1)
    sent: Dict[str, Any] = {}
    tracing._on_send = lambda span, topic, value: sent.setdefault("span", span.get_span_context())
    with c1.process(msg):
        producer.produce(b, msg.value(), headers=msg.headers())
    assert producer.flush(30) == 0
    c1.close()
    c2 = Consumer(consumer_conf("kt-py-l2-2"))
    c2.subscribe([b])
    forwarded = first_message(c2)
    c2.close()
    return forwarded.headers(), sent["span"]


def test_level2_a_send_in_a_handler_keeps_random_flag_and_every_tracestate_member(otel: Otel, new_topic: Any) -> None:
    tracestate = f"{LONG_KEY}=1,tenant@system=2,rojo=00f067aa0ba902b7"
    headers, sc = forward_once(otel, new_topic, [
        ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-03".encode()),
        ("tracestate", tracestate.encode()),
    ])
    parts = extract_parts(headers)
    assert parts.traceparent is not None
    assert (parts.traceparent.trace_id, parts.traceparent.span_id, parts.traceparent.flags) == (
        TRACE, f"{sc.span_id:016x}", 0x03)
    assert parts.tracestate == [(LONG_KEY, "1"), ("tenant@system", "2"), ("rojo", "00f067aa0ba902b7")]
    (process,) = [s for s in otel.spans() if s.name.startswith("process ")]
    assert process.parent is not None and process.parent.span_id == 0x00F067AA0BA902B7


def test_unsampled_remote_parent_records_no_process_span_and_forwards_00(otel: Otel, new_topic: Any) -> None:
    headers, sc = forward_once(otel, new_topic, [("traceparent", f"00-{TRACE}-00f067aa0ba902b7-00".encode())])
    assert [s for s in otel.spans() if s.name.startswith(("process ", "send "))] == []
    tp = extract_parts(headers).traceparent
    assert tp is not None
    assert (tp.trace_id, tp.flags) == (TRACE, 0x00)
    assert tp.span_id == f"{sc.span_id:016x}" and tp.span_id != "00f067aa0ba902b7"


# --- option names -------------------------------------------------------------------------------------


def test_every_option_of_the_core_is_a_keyword_of_kafka_tracing() -> None:
    params = inspect.signature(KafkaTracing).parameters
    assert set(_native.OPTION_NAMES) <= set(params)
    assert {"client_id", "consumer_group", "bootstrap_servers"} <= set(_native.OPTION_NAMES)


def test_client_options_and_deprecated_spellings() -> None:
    tracing = KafkaTracing(client_id="svc", consumer_group="billing", bootstrap_servers="PLAINTEXT://b1:9093,b2:9092")
    assert tracing.model.client == ("svc", "billing", "b1", 9093)
    # The options win over a wrapped client's configuration.
    assert tracing.model_for({"group.id": "other", "client.id": "x"}).client == ("svc", "billing", "b1", 9093)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = KafkaTracing(group_id="legacy", brokers="b3:9094")
    assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
    assert "consumer_group" in str(caught[0].message) and "bootstrap_servers" in str(caught[1].message)
    assert old.model.client == (None, "legacy", "b3", 9094)
    with pytest.raises(TypeError):
        KafkaTracing(groupId="camel")  # not a Python spelling
