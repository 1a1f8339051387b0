"""Shared fixtures: the real broker at $KAFKA_BOOTSTRAP, fresh topics, in-memory spans/metrics."""

from __future__ import annotations

import os
import time
import uuid
from typing import Callable, Dict, Iterator, List, Optional, TypeVar

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], Optional[T]], timeout: float = 30.0, interval: float = 0.02) -> T:
    """Polls `check` until it returns something truthy; fails with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests")

    def spans(self) -> List[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> List[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in self.spans()]}"
        return found[0]

    def metrics(self) -> Dict[str, list]:
        data = self.reader.get_metrics_data()
        out: Dict[str, list] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.tracer_provider.shutdown()
    o.meter_provider.shutdown()


@pytest.fixture(scope="session")
def bootstrap() -> str:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    try:
        admin.list_topics(timeout=10)
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"no Kafka broker at {BOOTSTRAP} (start one with scripts/kafka.sh start): {exc}")
    return BOOTSTRAP


@pytest.fixture
def new_topic(bootstrap: str) -> Callable[..., str]:
    """Creates a fresh topic (default 1 partition) and waits until it has a leader."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def make(prefix: str = "kt-py", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        for fut in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            fut.result(timeout=30)

        def ready() -> bool:
            md = admin.list_topics(name, timeout=5).topics.get(name)
            return bool(md and md.error is None and len(md.partitions) == partitions
                        and all(p.leader >= 0 for p in md.partitions.values()))

        wait_for(f"topic {name}", ready)
        return name

    return make
