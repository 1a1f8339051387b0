"""kafka-trace: OpenTelemetry trace context through Apache Kafka headers, the same bytes in every
language (Rust core, see https://example.invalid/kafka-trace).

- :class:`KafkaTracePropagator`, :func:`inject`, :func:`extract`: the codec and header policy.
- :class:`KafkaTracing`: spans and metrics through your opentelemetry-api tracer and meter
  providers; :mod:`kafka_trace.confluent` and :mod:`kafka_trace.aiokafka` wrap the clients.
"""

from __future__ import annotations

from . import _native
from ._native import BAGGAGE, CORE_VERSION, FIELDS, TRACEPARENT, TRACESTATE, Extracted, KafkaTraceError, extract_parts
from .propagator import KafkaTracePropagator, extract, inject
from .tracing import KafkaTracing

__version__: str = _native.__version__

__all__ = [
    "BAGGAGE",
    "CORE_VERSION",
    "FIELDS",
    "TRACEPARENT",
    "TRACESTATE",
    "Extracted",
    "KafkaTraceError",
    "KafkaTracePropagator",
    "KafkaTracing",
    "extract",
    "extract_parts",
    "inject",
    "__version__",
]
