"""Our Python consumer (kafka_trace.confluent over confluent-kafka) for the Node Confluent interop
test: reads one message of TOPIC, processes it in a `process` span, prints one JSON line with the
message's traceparent header and the span's trace id, parent span id and attributes.

    python confluent-py-consumer.py BOOTSTRAP TOPIC
"""

import json
import sys
import time

from confluent_kafka import Consumer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kafka_trace import KafkaTracing
from kafka_trace.confluent import TracedConsumer

bootstrap, topic = sys.argv[1], sys.argv[2]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
conf = {"bootstrap.servers": bootstrap, "group.id": "py-" + topic, "auto.offset.reset": "earliest"}
consumer = TracedConsumer(Consumer(conf), KafkaTracing(tracer_provider=provider), conf)
consumer.subscribe([topic])
deadline = time.monotonic() + 45
message = None
while message is None and time.monotonic() < deadline:
    m = consumer.poll(0.2)
    if m is not None and m.error() is None:
        message = m
if message is None:
    sys.exit("no message within 45 s")
with consumer.process(message):
    pass
consumer.close()
span = next(s for s in exporter.get_finished_spans() if s.name == "process " + topic)
headers = {k: v.decode() for k, v in (message.headers() or [])}
print(json.dumps({
    "traceparent": headers.get("traceparent"),
    "traceId": format(span.context.trace_id, "032x"),
    "parentSpanId": format(span.parent.span_id, "016x") if span.parent else None,
    "attributes": {k: v for k, v in span.attributes.items()},
}))
