"""Traced aiokafka producer and consumer.

::

    producer = TracedAIOKafkaProducer(AIOKafkaProducer(**pconf), tracing, pconf)
    await producer.send_and_wait("orders", b"v", headers=record.headers)   # trace headers replaced
    fut = await producer.send("orders", b"v")          # `send orders` ends when `fut` resolves

    consumer = TracedAIOKafkaConsumer(AIOKafkaConsumer("orders", **cconf), tracing, cconf)
    record = await consumer.getone()
    with consumer.process(record):                     # `process orders` is current here
        ...
    batches = await consumer.getmany(timeout_ms=500)   # records a `poll` span per call
    async for record in consumer:                      # `process` current in the loop body, ended
        ...                                            # at the next iteration or stop()

The ``async for`` span is made current by ``__anext__`` in the calling task, so iterate the
consumer directly: wrapping ``__anext__`` in a task (``asyncio.wait_for``, ``create_task``) runs it
in a copy of the context, where the span is not visible; use ``getone`` + ``process`` there.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Dict, List, Optional

from .tracing import _NO_SCOPE, KafkaTracing, PendingSend, _AlreadyOpen, _log, _untraced

__all__ = ["TracedAIOKafkaProducer", "TracedAIOKafkaConsumer"]


def _on_done(pending: PendingSend) -> Callable[["asyncio.Future[Any]"], None]:
    def done(fut: "asyncio.Future[Any]") -> None:
        if fut.cancelled():
            pending.failed("CancelledError")
            return
        exc = fut.exception()
        if exc is not None:
            pending.failed(type(exc).__qualname__)
        else:
            metadata = fut.result()
            pending.delivered(metadata.partition, metadata.offset)

    return done


class TracedAIOKafkaProducer:
    """An ``aiokafka.AIOKafkaProducer`` whose sends are ``send {topic}`` spans ending on the
    broker's acknowledgement."""

    def __init__(self, producer: Any, tracing: Optional[KafkaTracing] = None, config: Optional[Dict[str, Any]] = None) -> None:
        # An auto-instrumented producer (opentelemetry-instrument) is traced here, not twice.
        self._producer = _untraced(producer)
        self._tracing = tracing or KafkaTracing()
        self._model = self._tracing.model_for(config)

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: Optional[int] = None,
        timestamp_ms: Optional[int] = None,
        headers: Any = None,
    ) -> "asyncio.Future[Any]":
        try:
            pending, out_headers = self._tracing.start_send(self._model, topic, partition, key, value, headers)
        except Exception:  # tracing never stops a message
            pending, out_headers = None, headers
        if pending is not None and isinstance(out_headers, dict):
            out_headers = list(out_headers.items())
        try:
            fut = await self._producer.send(
                topic, value=value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=out_headers
            )
        except BaseException as exc:
            if pending is not None:
                pending.failed(type(exc).__qualname__)
            raise
        if pending is not None:
            fut.add_done_callback(_on_done(pending))
        return fut

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: Optional[int] = None,
        timestamp_ms: Optional[int] = None,
        headers: Any = None,
    ) -> Any:
        fut = await self.send(topic, value, key, partition, timestamp_ms, headers)
        return await fut

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)


class TracedAIOKafkaConsumer:
    """An ``aiokafka.AIOKafkaConsumer`` with ``process(record)``, batch ``poll`` spans for
    ``getmany`` and a current ``process`` span in ``async for`` loops."""

    def __init__(self, consumer: Any, tracing: Optional[KafkaTracing] = None, config: Optional[Dict[str, Any]] = None) -> None:
        self._consumer = _untraced(consumer)
        self._tracing = tracing or KafkaTracing()
        self._model = self._tracing.model_for(config)
        self._batch: Dict[int, Any] = {}
        self._batch_records: List[Any] = []
        self._open: Any = None  # a ProcessScope (Python or native)
        self._open_record: Any = None

    def process(self, record: Any) -> Any:
        """Context manager making ``process {topic}`` current (works with ``with`` in coroutines)."""
        if self._open is not None and record is not None and record is self._open_record:
            return _AlreadyOpen(self._open.span)
        poll_ctx = self._batch.get(id(record)) if record is not None else None
        return self._tracing.process(record, self._model, poll_ctx)

    def handler(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator for ``async def handle(record, ...)`` (or a plain function)."""
        if asyncio.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(record: Any, *args: Any, **kwargs: Any) -> Any:
                with self.process(record):
                    return await func(record, *args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(record: Any, *args: Any, **kwargs: Any) -> Any:
            with self.process(record):
                return func(record, *args, **kwargs)

        return wrapper

    async def getone(self, *partitions: Any) -> Any:
        """``getone``; a ``poll`` span for the receive call."""
        scope = self._tracing.receive(self._model)
        with scope:
            record = await self._consumer.getone(*partitions)
        self._received(scope, (record,))
        return record

    def _received(self, scope: Any, records: Any) -> Any:
        try:
            return self._tracing.received(scope, records)
        except Exception:  # tracing never loses a message
            _log.exception("kafka_trace could not record a poll span")
            return None

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: Optional[int] = None) -> Dict[Any, List[Any]]:
        """``getmany``; a ``poll`` span for the receive call, the batch's ``process`` spans refer
        to it."""
        scope = self._tracing.receive(self._model)
        with scope:
            batches = await self._consumer.getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)
        try:
            records = [r for rs in batches.values() for r in rs]
            ctx = self._received(scope, records)
            self._batch_records = records
            self._batch = {id(r): ctx for r in records} if ctx is not None else {}
        except Exception:
            self._batch, self._batch_records = {}, []
        return batches

    def _close_open(self) -> None:
        scope, self._open, self._open_record = self._open, None, None
        if scope is not None:
            scope.__exit__(None, None, None)

    def _open_process(self, record: Any) -> None:
        """Makes ``record``'s ``process`` span current until the next receive or ``stop()``."""
        scope = self._tracing.process(record, self._model, self._batch.get(id(record)))
        if scope is not _NO_SCOPE:
            scope.__enter__()
            self._open, self._open_record = scope, record

    def __aiter__(self) -> "TracedAIOKafkaConsumer":
        return self

    async def __anext__(self) -> Any:
        self._close_open()
        receive = self._tracing.receive(self._model)
        try:
            record = await self._consumer.__anext__()
        except StopAsyncIteration:  # the end of the iteration, not a failed receive
            raise
        except BaseException as exc:
            receive.failed(type(exc).__qualname__)
            raise
        self._received(receive, (record,))
        self._open_process(record)
        return record

    async def stop(self) -> None:
        self._close_open()
        await self._consumer.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)
