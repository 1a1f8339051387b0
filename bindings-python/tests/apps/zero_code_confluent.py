"""An app with no kafka-trace code, run by the tests as `opentelemetry-instrument python
zero_code_confluent.py`: it produces one message in a `request` span, one more through an explicit
TracedProducer (which must trace it once), consumes both and handles each in a `handle <value>`
span. What it saw (classes, headers) goes to $KT_RESULT as JSON; the spans go to stdout (console
exporter)."""

import json
import os
import time

from confluent_kafka import Consumer, Producer
from opentelemetry import trace

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedProducer

topic = os.environ["KT_TOPIC"]
bootstrap = os.environ["KAFKA_BOOTSTRAP"]
tracer = trace.get_tracer("app")
result = {"producer_class": f"{Producer.__module__}.{Producer.__qualname__}"}

pconf = {"bootstrap.servers": bootstrap, "client.id": "zero-code-app"}
producer = Producer(pconf)
with tracer.start_as_current_span("request"):
    producer.produce(topic, b"auto", key=b"k1")
explicit = TracedProducer(Producer(pconf), KafkaTracing(), pconf)
explicit.produce(topic, b"explicit", key=b"k2")
assert producer.flush(30) == 0 and explicit.flush(30) == 0

consumer = Consumer(
    {"bootstrap.servers": bootstrap, "group.id": f"{topic}-app", "auto.offset.reset": "earliest",
     "enable.auto.commit": False}
)
consumer.subscribe([topic])
headers = {}
deadline = time.monotonic() + 60
while len(headers) < 2 and time.monotonic() < deadline:
    msg = consumer.poll(0.5)
    if msg is None or msg.error() is not None:
        continue
    with tracer.start_as_current_span("handle " + msg.value().decode()):
        pass
    headers[msg.value().decode()] = [name for name, _ in msg.headers() or []]
consumer.close()
result["headers"] = headers
with open(os.environ["KT_RESULT"], "w") as f:
    json.dump(result, f)
