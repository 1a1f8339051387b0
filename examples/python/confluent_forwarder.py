"""Continues the trace of the NestJS example (`order.shipped`, from nest2) in Python with
confluent-kafka, and forwards each order to the next topic in the same trace.

    pip install kafka-trace confluent-kafka opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    KT_IN_TOPIC=order.shipped KT_OUT_TOPIC=kafka-trace.python python examples/python/confluent_forwarder.py
"""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer, Producer
from opentelemetry import trace

from _setup import IDLE_SECONDS, IN_TOPIC, MAX_MESSAGES, OUT_TOPIC, consumer_config, ensure_topics, producer_config, tracer_provider
from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer, TracedProducer


def main() -> int:
    provider = tracer_provider("python-forwarder")
    tracing = KafkaTracing()  # the global tracer/meter providers
    ensure_topics(IN_TOPIC, OUT_TOPIC)
    pconf, cconf = producer_config(), consumer_config()
    producer = TracedProducer(Producer(pconf), tracing, pconf)
    consumer = TracedConsumer(Consumer(cconf), tracing, cconf)
    consumer.subscribe([IN_TOPIC])
    tracer = trace.get_tracer("python-forwarder")
    handled, last = 0, time.monotonic()
    print(f"python-forwarder: {IN_TOPIC} -> {OUT_TOPIC}", flush=True)
    try:
        while not MAX_MESSAGES or handled < MAX_MESSAGES:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                if IDLE_SECONDS and time.monotonic() - last > IDLE_SECONDS:
                    break
                producer.poll(0)
                continue
            last = time.monotonic()
            with consumer.process(msg):  # `process {IN_TOPIC}`, child of the NestJS send span
                with tracer.start_as_current_span("enrich-order") as span:
                    try:
                        order = json.loads(msg.value() or b"null")
                    except ValueError:
                        order = {"raw": (msg.value() or b"").decode("utf-8", "replace")}
                    if isinstance(order, dict):
                        order["forwardedBy"] = "python"
                    span.set_attribute("order.id", str(order.get("id")) if isinstance(order, dict) else "")
                # The consumed headers go on with the trace headers replaced by `send {OUT_TOPIC}`.
                producer.produce(OUT_TOPIC, json.dumps(order).encode(), key=msg.key(), headers=msg.headers())
                trace_id = trace.get_current_span().get_span_context().trace_id
            producer.poll(0)
            handled += 1
            print(f"forwarded offset={msg.offset()} trace={trace_id:032x}", flush=True)
    finally:
        producer.flush(30)
        consumer.close()
        provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
