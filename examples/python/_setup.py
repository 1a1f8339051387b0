"""Shared set-up of the examples: configuration from the environment and the OpenTelemetry SDK."""

from __future__ import annotations

import os
from typing import Any, Dict

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

PREFIX = os.environ.get("TOPIC_PREFIX", "")
# nest2 (examples/nestjs) emits `order.shipped`; we continue those traces and pass them on.
IN_TOPIC = os.environ.get("KT_IN_TOPIC", f"{PREFIX}order.shipped")
OUT_TOPIC = os.environ.get("KT_OUT_TOPIC", f"{PREFIX}kafka-trace.python")
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
GROUP = os.environ.get("KT_GROUP", f"{os.environ.get('GROUP_PREFIX', '')}python-forwarder")
MAX_MESSAGES = int(os.environ.get("KT_MAX_MESSAGES", "0"))  # 0: run until idle
IDLE_SECONDS = float(os.environ.get("KT_IDLE_SECONDS", "0"))  # 0: never idle out


def tracer_provider(service: str) -> TracerProvider:
    """OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (Jaeger, the Collector), else the
    console; KT_SPANS=none exports nothing."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    mode = os.environ.get("KT_SPANS", "otlp" if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console")
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif mode == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def ensure_topics(*topics: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    existing = admin.list_topics(timeout=10).topics
    missing = [NewTopic(t, 1, 1) for t in topics if t not in existing]
    for fut in (admin.create_topics(missing).values() if missing else []):
        try:
            fut.result(timeout=30)
        except Exception as exc:  # created concurrently by another service
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def producer_config() -> Dict[str, Any]:
    return {"bootstrap.servers": BOOTSTRAP, "client.id": "python-forwarder"}


def consumer_config() -> Dict[str, Any]:
    return {
        "bootstrap.servers": BOOTSTRAP,
        "group.id": GROUP,
        "client.id": "python-forwarder",
        "auto.offset.reset": "earliest",
    }
