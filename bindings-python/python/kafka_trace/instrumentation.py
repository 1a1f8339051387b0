"""Zero-code tracing: ``opentelemetry-instrument python app.py``.

``KafkaTraceInstrumentor`` is an ``opentelemetry-instrumentation`` ``BaseInstrumentor``. Installed
with this package it is found through the ``opentelemetry_instrumentor`` entry points
``kafka_trace_confluent_kafka`` and ``kafka_trace_aiokafka``; by hand::

    KafkaTraceInstrumentor().instrument(tracer_provider=tp, meter_provider=mp, strategy="link")
    ...
    KafkaTraceInstrumentor().uninstrument()

While instrumented, ``confluent_kafka.Producer``/``Consumer`` and ``aiokafka.AIOKafkaProducer``/
``AIOKafkaConsumer`` are subclasses of the originals (``isinstance`` still holds) whose instances
trace like :class:`~kafka_trace.confluent.TracedProducer` and friends:

- producers: ``send {topic}`` for every message, its headers replaced;
- consumers: a ``poll`` span per receive call; the message a ``poll()``/``getone()``/``async for``
  returned has its ``process`` span current until the next receive call or ``close()``/``stop()``
  (there is no handler boundary to end it at); messages of a ``consume()``/``getmany()`` batch
  get their ``process`` span from ``consumer.process(msg)``/``consumer.handler`` as usual.

Wrapping such an instance explicitly (``TracedProducer(Producer(conf), tracing, conf)``) traces
through the wrapper alone: one span and one ``traceparent`` per message. Only clients created
after ``instrument()`` are traced (``opentelemetry-instrument`` instruments before the app runs);
``uninstrument()`` puts the original classes back.

The peer instrumentations (``opentelemetry-instrumentation-confluent-kafka``/``-aiokafka``) replace
the same classes: run one of the two per library (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=
confluent_kafka,aiokafka`` disables the peers, ``kafka_trace_confluent_kafka,kafka_trace_aiokafka``
this one); a warning says so when both are enabled.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Collection, Dict, List, Optional, Tuple

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from .tracing import _INSIDE, KafkaTracing, _log

__all__ = ["KafkaTraceInstrumentor", "ConfluentKafkaTraceInstrumentor", "AIOKafkaTraceInstrumentor"]

LIBRARIES = ("confluent_kafka", "aiokafka")
# Our entry point name per library, and the peer instrumentation's.
ENTRY_POINTS = {"confluent_kafka": "kafka_trace_confluent_kafka", "aiokafka": "kafka_trace_aiokafka"}
_PEERS = {"confluent_kafka": "confluent_kafka", "aiokafka": "aiokafka"}

# library -> [(module, attribute, original class)] while patched.
_patched: Dict[str, List[Tuple[Any, str, Any]]] = {}


def _config(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """confluent-kafka takes ``Producer(conf)``, ``Producer(conf, **more)`` or ``Producer(**conf)``."""
    config: Dict[str, Any] = {}
    if args and isinstance(args[0], dict):
        config.update(args[0])
    config.update(kwargs)
    return config


def _confluent_classes(tracing: KafkaTracing, producer_base: Any, consumer_base: Any) -> Tuple[type, type]:
    from .confluent import TracedConsumer, TracedProducer
    from .tracing import _Untraced

    class Producer(producer_base):  # type: ignore[misc, valid-type]
        __doc__ = producer_base.__doc__
        __qualname__ = "Producer"
        _kafka_trace_base = producer_base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._kafka_trace = TracedProducer(_Untraced(self, producer_base), tracing, _config(args, kwargs))

        def produce(self, *args: Any, **kwargs: Any) -> None:
            if _INSIDE.get():
                return producer_base.produce(self, *args, **kwargs)  # type: ignore[no-any-return]
            return self._kafka_trace.produce(*args, **kwargs)

    class Consumer(consumer_base):  # type: ignore[misc, valid-type]
        __doc__ = consumer_base.__doc__
        __qualname__ = "Consumer"
        _kafka_trace_base = consumer_base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._kafka_trace = TracedConsumer(_Untraced(self, consumer_base), tracing, _config(args, kwargs))

        def poll(self, *args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return consumer_base.poll(self, *args, **kwargs)
            kt = self._kafka_trace
            kt._close_open()
            message = kt.poll(*args, **kwargs)
            try:
                kt._open_process(message)
            except Exception:  # tracing never loses a message
                _log.exception("kafka_trace could not start a process span")
            return message

        def consume(self, *args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return consumer_base.consume(self, *args, **kwargs)
            self._kafka_trace._close_open()
            return self._kafka_trace.consume(*args, **kwargs)

        def close(self, *args: Any, **kwargs: Any) -> Any:
            if not _INSIDE.get():
                self._kafka_trace._close_open()
            return consumer_base.close(self, *args, **kwargs)

        def process(self, message: Any) -> Any:
            """Context manager making ``process {topic}`` current (see TracedConsumer)."""
            return self._kafka_trace.process(message)

        def handler(self, func: Any) -> Any:
            return self._kafka_trace.handler(func)

    return Producer, Consumer


def _aiokafka_classes(tracing: KafkaTracing, producer_base: Any, consumer_base: Any) -> Tuple[type, type]:
    from .aiokafka import TracedAIOKafkaConsumer, TracedAIOKafkaProducer
    from .tracing import _Untraced

    class AIOKafkaProducer(producer_base):  # type: ignore[misc, valid-type]
        __doc__ = producer_base.__doc__
        __qualname__ = "AIOKafkaProducer"
        _kafka_trace_base = producer_base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._kafka_trace = TracedAIOKafkaProducer(_Untraced(self, producer_base), tracing, kwargs)

        async def send(self, *args: Any, **kwargs: Any) -> Any:
            # aiokafka's send_and_wait calls self.send: traced here, once.
            if _INSIDE.get():
                return await producer_base.send(self, *args, **kwargs)
            return await self._kafka_trace.send(*args, **kwargs)

    class AIOKafkaConsumer(consumer_base):  # type: ignore[misc, valid-type]
        __doc__ = consumer_base.__doc__
        __qualname__ = "AIOKafkaConsumer"
        _kafka_trace_base = consumer_base

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._kafka_trace = TracedAIOKafkaConsumer(_Untraced(self, consumer_base), tracing, kwargs)

        async def getone(self, *partitions: Any) -> Any:
            if _INSIDE.get():
                return await consumer_base.getone(self, *partitions)
            kt = self._kafka_trace
            kt._close_open()
            record = await kt.getone(*partitions)
            try:
                kt._open_process(record)
            except Exception:  # tracing never loses a message
                _log.exception("kafka_trace could not start a process span")
            return record

        async def getmany(self, *partitions: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return await consumer_base.getmany(self, *partitions, **kwargs)
            self._kafka_trace._close_open()
            return await self._kafka_trace.getmany(*partitions, **kwargs)

        async def __anext__(self) -> Any:
            if _INSIDE.get():
                return await consumer_base.__anext__(self)
            return await self._kafka_trace.__anext__()

        async def stop(self) -> None:
            if _INSIDE.get():
                return await consumer_base.stop(self)  # type: ignore[no-any-return]
            await self._kafka_trace.stop()

        def process(self, record: Any) -> Any:
            """Context manager making ``process {topic}`` current (see TracedAIOKafkaConsumer)."""
            return self._kafka_trace.process(record)

        def handler(self, func: Any) -> Any:
            return self._kafka_trace.handler(func)

    return AIOKafkaProducer, AIOKafkaConsumer


def _warn_if_peer_enabled(library: str) -> None:
    """Both instrumentations of one library would trace every message twice."""
    try:
        from importlib.metadata import entry_points

        if "opentelemetry.instrumentation.auto_instrumentation._load" not in sys.modules:
            return  # not under opentelemetry-instrument: the peer's entry point is not loaded
        eps = entry_points()
        group = eps.select(group="opentelemetry_instrumentor") if hasattr(eps, "select") else eps.get("opentelemetry_instrumentor", [])
        peer = _PEERS[library]
        if not any(ep.name == peer and not ep.value.startswith("kafka_trace") for ep in group):
            return
        disabled = [x.strip() for x in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")]
        if peer in disabled or "*" in disabled:
            return
        _log.warning(
            "kafka_trace: the %s instrumentation of opentelemetry-python-contrib is enabled too; both would trace "
            "every message. Disable one: OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=%s (the peer) or =%s (kafka-trace)",
            library, peer, ENTRY_POINTS[library],
        )
    except Exception:  # a diagnostic only
        pass


def _patch(library: str, tracing: KafkaTracing) -> bool:
    if library in _patched:
        return False
    try:
        if library == "confluent_kafka":
            import confluent_kafka as module

            modules: List[Any] = [module]
            names = ("Producer", "Consumer")
            make = _confluent_classes
        else:
            import aiokafka as module
            import aiokafka.consumer
            import aiokafka.producer

            modules = [module, aiokafka.producer, aiokafka.consumer]
            names = ("AIOKafkaProducer", "AIOKafkaConsumer")
            make = _aiokafka_classes
    except ImportError:
        return False
    _warn_if_peer_enabled(library)
    originals = [getattr(module, name) for name in names]
    replacements = dict(zip(names, make(tracing, *originals)))
    undo: List[Tuple[Any, str, Any]] = []
    for m in modules:
        for name, original in zip(names, originals):
            if getattr(m, name, None) is original:
                undo.append((m, name, original))
                setattr(m, name, replacements[name])
    _patched[library] = undo
    return True


def _unpatch(library: str) -> None:
    for module, name, original in _patched.pop(library, []):
        setattr(module, name, original)


class KafkaTraceInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces confluent-kafka and aiokafka clients created after :meth:`instrument` (each library
    when it is installed). ``instrument()`` takes ``tracer_provider``, ``meter_provider``, a ready
    ``tracing`` (:class:`~kafka_trace.KafkaTracing`) or any :class:`~kafka_trace.KafkaTracing`
    option; ``uninstrument()`` restores the original classes."""

    _instance = None  # BaseInstrumentor keeps one instance per class
    _libraries: Tuple[str, ...] = LIBRARIES

    def instrumentation_dependencies(self) -> Collection[str]:
        # Whichever of the libraries is installed; none is required.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        tracing: Optional[KafkaTracing] = kwargs.pop("tracing", None)
        if tracing is None:
            tracing = KafkaTracing(**kwargs)
        self._done = [library for library in self._libraries if _patch(library, tracing)]

    def _uninstrument(self, **kwargs: Any) -> None:
        for library in getattr(self, "_done", ()):
            _unpatch(library)
        self._done = []


class ConfluentKafkaTraceInstrumentor(KafkaTraceInstrumentor):
    """:class:`KafkaTraceInstrumentor` for confluent-kafka alone (entry point
    ``kafka_trace_confluent_kafka``)."""

    _instance = None
    _libraries = ("confluent_kafka",)

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("confluent-kafka >= 2.0",)


class AIOKafkaTraceInstrumentor(KafkaTraceInstrumentor):
    """:class:`KafkaTraceInstrumentor` for aiokafka alone (entry point ``kafka_trace_aiokafka``)."""

    _instance = None
    _libraries = ("aiokafka",)

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("aiokafka >= 0.10",)
