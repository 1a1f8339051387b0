"""An aiokafka app with no kafka-trace code, run as `opentelemetry-instrument python
zero_code_aiokafka.py`: send_and_wait in a `request` span, `async for` with a `handle` span in the
loop body. Spans go to stdout (console exporter), what it saw to $KT_RESULT."""

import asyncio
import json
import os

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace

topic = os.environ["KT_TOPIC"]
bootstrap = os.environ["KAFKA_BOOTSTRAP"]
tracer = trace.get_tracer("app")


async def main() -> None:
    result = {"producer_class": f"{AIOKafkaProducer.__module__}.{AIOKafkaProducer.__qualname__}"}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="zero-code-aio")
    await producer.start()
    try:
        with tracer.start_as_current_span("request"):
            await producer.send_and_wait(topic, b"auto", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-app",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        async def first() -> list:
            async for record in consumer:
                with tracer.start_as_current_span("handle " + record.value.decode()):
                    pass
                return [name for name, _ in record.headers]
            return []

        result["headers"] = {"auto": await asyncio.wait_for(first(), 60)}
    finally:
        await consumer.stop()
    with open(os.environ["KT_RESULT"], "w") as f:
        json.dump(result, f)


asyncio.run(main())
