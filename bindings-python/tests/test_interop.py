"""Interop with opentelemetry-instrumentation-confluent-kafka (the existing peer), both ways, on
the real broker. The peer injects with the global W3C propagators and reads with its own getter;
we must continue its traces and it must see ours. Mixed fleets: a trace stays one trace through a
peer-instrumented forwarder (it appends a traceparent; the last one wins on Kafka) and through ours
between peers."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer
from opentelemetry import propagate
from opentelemetry.instrumentation.confluent_kafka import ConfluentKafkaInstrumentor
from opentelemetry.instrumentation.confluent_kafka.utils import _kafka_getter

from kafka_trace import KafkaTracing
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


def test_one_trace_through_a_peer_forwarder(otel: Otel, new_topic: Any) -> None:
    """Ours -> a forwarder on the peer instrumentation (it appends a traceparent) -> ours: the
    last traceparent is the latest hop, so the trace goes on from the peer's send span."""
    a, b = new_topic(), new_topic()
    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    pconf = producer_conf()
    ours = TracedProducer(Producer(pconf), tracing, pconf)
    with otel.tracer.start_as_current_span("request"):
        ours.produce(a, b"x")
    assert ours.flush(30) == 0
    our_send = otel.one(f"send {a}")

    # The peer forwarder, as its apps are written: continue the message's trace (global W3C
    # propagator, the peer's getter) and produce the record on with its headers.
    peer_in = ConfluentKafkaInstrumentor.instrument_consumer(
        Consumer(consumer_conf("kt-py-interop-3")), tracer_provider=otel.tracer_provider
    )
    peer_in.subscribe([a])
    msg = poll_one(peer_in)
    peer_out = ConfluentKafkaInstrumentor.instrument_producer(Producer(producer_conf()), tracer_provider=otel.tracer_provider)
    with otel.tracer.start_as_current_span("forward", context=propagate.extract(msg.headers(), getter=_kafka_getter)):
        peer_out.produce(b, msg.value(), headers=list(msg.headers()))
    assert peer_out.flush(30) == 0
    peer_in.close()
    forward, peer_send = otel.one("forward"), otel.one(f"{b} send")

    cconf = consumer_conf("kt-py-interop-4")
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([b])
    got = poll_one(consumer)
    consumer.close()
    with consumer.process(got):
        pass
    process = otel.one(f"process {b}")

    headers = got.headers() or []
    assert [n for n, _ in headers] == ["traceparent", "traceparent"]  # ours, then the peer's
    assert headers[0][1].decode().split("-")[2] == f"{our_send.context.span_id:016x}"
    assert headers[1][1].decode().split("-")[2] == f"{peer_send.context.span_id:016x}"
    assert forward.parent.span_id == our_send.context.span_id
    assert peer_send.parent.span_id == forward.context.span_id
    assert process.parent is not None and process.parent.span_id == peer_send.context.span_id
    assert {s.context.trace_id for s in (our_send, forward, peer_send, process)} == {our_send.context.trace_id}


def test_one_trace_through_our_forwarder_between_peers(otel: Otel, new_topic: Any) -> None:
    """A peer producer -> our forwarder (replaces the traceparent) -> a peer consumer: one trace."""
    a, b = new_topic(), new_topic()
    peer_out = ConfluentKafkaInstrumentor.instrument_producer(Producer(producer_conf()), tracer_provider=otel.tracer_provider)
    with otel.tracer.start_as_current_span("peer-request") as request:
        peer_out.produce(a, b"x")
    assert peer_out.flush(30) == 0
    peer_send = otel.one(f"{a} send")

    tracing = KafkaTracing(tracer_provider=otel.tracer_provider)
    cconf, pconf = consumer_conf("kt-py-interop-5"), producer_conf()
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    consumer.subscribe([a])
    msg = poll_one(consumer)
    consumer.close()
    with consumer.process(msg):
        producer.produce(b, msg.value(), headers=msg.headers())
    assert producer.flush(30) == 0
    our_process, our_send = otel.one(f"process {a}"), otel.one(f"send {b}")

    peer_in = ConfluentKafkaInstrumentor.instrument_consumer(
        Consumer(consumer_conf("kt-py-interop-6")), tracer_provider=otel.tracer_provider
    )
    peer_in.subscribe([b])
    got = poll_one(peer_in)
    with otel.tracer.start_as_current_span("peer-handle", context=propagate.extract(got.headers(), getter=_kafka_getter)):
        pass
    peer_in.close()  # ends the peer's process span
    peer_process, peer_handle = otel.one(f"{b} process"), otel.one("peer-handle")

    assert [n for n, _ in got.headers()] == ["traceparent"]  # replaced, not appended
    assert our_process.parent is not None and our_process.parent.span_id == peer_send.context.span_id
    assert our_send.parent.span_id == our_process.context.span_id
    assert [link.context.span_id for link in peer_process.links] == [our_send.context.span_id]
    assert peer_handle.parent.span_id == our_send.context.span_id
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in (peer_send, our_process, our_send, peer_handle)} == {trace_id}
    assert peer_process.links[0].context.trace_id == trace_id
