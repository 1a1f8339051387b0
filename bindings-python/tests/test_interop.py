"""Interop with opentelemetry-instrumentation-confluent-kafka (the existing peer), both ways, on
the real broker. The peer injects with the global W3C propagators and reads with its own getter;
we must continue its traces and it must see ours."""

from __future__ import annotations

from typing import Any, List

from confluent_kafka import Consumer, Producer
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor

from kafka_trace import KafkaTracing, extract_parts
from kafka_trace.confluent import TracedConsumer, TracedProducer

from conftest import Otel, wait_for
from test_confluent import consumer_conf, poll_one, producer_conf


def test_peer_producer_to_our_consumer(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    peer = ConfluentKafkaInstrumentor.instrument_producer(Producer(producer_conf()), tracer_provider=otel.tracer_provider)
    with otel.tracer.start_as_current_span("peer-request"):
        peer.produce(topic, b"x")
    assert peer.flush(30) == 0
    peer_send = otel.one(f"{topic} send")

    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    cconf = consumer_conf("kt-py-interop-1")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([topic])
    msg = poll_one(consumer)
    consumer.close()
    with consumer.process(msg):
        pass
    ours = otel.one(f"process {topic}")
    assert ours.parent is not None and ours.parent.span_id == peer_send.context.span_id
    assert ours.context.trace_id == peer_send.context.trace_id


def test_our_producer_to_peer_consumer(otel: Otel, new_topic: Any) -> None:
    topic = new_topic()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    pconf = producer_conf()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    producer.produce(topic, b"x")
    assert producer.flush(30) == 0
    our_send = otel.one(f"send {topic}")

    peer = ConfluentKafkaInstrumentor.instrument_consumer(
        Consumer(consumer_conf("kt-py-interop-2")), tracer_provider=otel.tracer_provider
    )
    peer.subscribe([topic])
    wait_for("a message", lambda: peer.poll(0.2))
    peer.close()  # ends the peer's process span
    peer_process = otel.one(f"{topic} process")
    linked = [(link.context.trace_id, link.context.span_id) for link in peer_process.links]
    assert linked == [(our_send.context.trace_id, our_send.context.span_id)]


def test_forwarding_replaces_where_the_peer_appends(otel: Otel, new_topic: Any) -> None:
    a, b, c = new_topic(), new_topic(), new_topic()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    pconf = producer_conf()
    ours = TracedProducer(Producer(pconf), tracing, pconf)
    ours.produce(a, b"x")
    assert ours.flush(30) == 0
    raw = Consumer(consumer_conf("kt-py-interop-3"))
    raw.subscribe([a])
    msg = poll_one(raw)
    raw.close()
    peer = ConfluentKafkaInstrumentor.instrument_producer(Producer(producer_conf()), tracer_provider=otel.tracer_provider)
    peer.produce(b, b"x", headers=list(msg.headers()))
    ours.produce(c, b"x", headers=list(msg.headers()))
    assert peer.flush(30) == 0 and ours.flush(30) == 0

    def names(topic: str, group: str) -> List[str]:
        consumer = Consumer(consumer_conf(group))
        consumer.subscribe([topic])
        m = poll_one(consumer)
        consumer.close()
        headers = m.headers() or []
        # The peer appended its own traceparent: the last one (the latest hop, as Java's
        # lastHeader reads it) is the parent, not a new root.
        values = [v.decode() for n, v in headers if n == "traceparent"]
        parent = extract_parts(headers).traceparent
        assert parent is not None and values[-1] == f"00-{parent.trace_id}-{parent.span_id}-{values[-1][-2:]}"
        return [n for n, _ in headers]

    assert names(b, "kt-py-interop-4") == ["traceparent", "traceparent"]
    assert names(c, "kt-py-interop-5") == ["traceparent"]
