"""10,000 messages through traced producer and consumer while the OTLP endpoint is a closed
port: every message arrives exactly once and in order; tracing never blocks the application."""

from __future__ import annotations

import socket
import time
from typing import Any, List

from confluent_kafka import Consumer, Producer
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer

from conftest import wait_for
from test_confluent import consumer_conf, producer_conf

N = 10_000


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_ten_thousand_messages_with_a_dead_collector(new_topic: Any) -> None:
    topic = new_topic()
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{closed_port()}/v1/traces", timeout=1)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2048, schedule_delay_millis=100))
    tracing = KafkaTracing(tracer_provider=provider)

    pconf = producer_conf(**{"linger.ms": 5})
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    delivered: List[int] = []
    failed: List[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        (failed.append(err) if err is not None else delivered.append(msg.offset()))

    started = time.monotonic()
    for i in range(N):
        while True:
            try:
                producer.produce(topic, str(i).encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert failed == [] and sorted(delivered) == list(range(N))

    cconf = consumer_conf("kt-py-noloss", **{"fetch.max.bytes": 1 << 20})
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([topic])
    values: List[int] = []

    def all_in() -> bool:
        for m in consumer.consume(num_messages=500, timeout=0.5):
            if m.error() is None:
                with consumer.process(m):
                    values.append(int(m.value()))
        return len(values) >= N

    wait_for(f"{N} messages", all_in, timeout=180)
    consumer.close()
    assert values == list(range(N))  # none lost, none duplicated, order kept
    assert time.monotonic() - started < 180
