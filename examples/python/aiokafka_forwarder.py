"""The aiokafka variant of confluent_forwarder.py: `async for` over the NestJS topic, each order
forwarded with send_and_wait inside the message's `process` span.

    pip install kafka-trace aiokafka confluent-kafka opentelemetry-sdk
    python examples/python/aiokafka_forwarder.py
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace

from _setup import BOOTSTRAP, GROUP, IN_TOPIC, MAX_MESSAGES, OUT_TOPIC, ensure_topics, tracer_provider
from kafka_trace import KafkaTracing
from kafka_trace.aiokafka import TracedAIOKafkaConsumer, TracedAIOKafkaProducer


async def run() -> None:
    tracing = KafkaTracing()
    pconf = {"bootstrap_servers": BOOTSTRAP, "client_id": "python-aio-forwarder"}
    cconf = {"bootstrap_servers": BOOTSTRAP, "group_id": GROUP, "client_id": "python-aio-forwarder", "auto_offset_reset": "earliest"}
    producer = TracedAIOKafkaProducer(AIOKafkaProducer(**pconf), tracing, pconf)
    consumer = TracedAIOKafkaConsumer(AIOKafkaConsumer(IN_TOPIC, **cconf), tracing, cconf)
    await producer.start()
    await consumer.start()
    tracer = trace.get_tracer("python-aio-forwarder")
    print(f"python-aio-forwarder: {IN_TOPIC} -> {OUT_TOPIC}", flush=True)
    handled = 0
    try:
        async for record in consumer:
            # `process {IN_TOPIC}` is current here (ended at the next iteration or stop()).
            with tracer.start_as_current_span("enrich-order"):
                order = json.loads(record.value or b"null")
                if isinstance(order, dict):
                    order["forwardedBy"] = "python-aiokafka"
            await producer.send_and_wait(OUT_TOPIC, json.dumps(order).encode(), key=record.key, headers=record.headers)
            handled += 1
            trace_id = trace.get_current_span().get_span_context().trace_id
            print(f"forwarded offset={record.offset} trace={trace_id:032x}", flush=True)
            if MAX_MESSAGES and handled >= MAX_MESSAGES:
                break
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> int:
    provider = tracer_provider("python-aio-forwarder")
    ensure_topics(IN_TOPIC, OUT_TOPIC)
    try:
        asyncio.run(run())
    finally:
        provider.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
