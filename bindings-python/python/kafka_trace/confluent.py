"""Traced confluent-kafka producer and consumer.

Wrap instances, not classes, so it does not matter when ``confluent_kafka`` was imported::

    from confluent_kafka import Consumer, Producer
    tracing = KafkaTracing()
    producer = TracedProducer(Producer(conf), tracing, conf)   # or traced_producer(conf, tracing)
    consumer = TracedConsumer(Consumer(conf), tracing, conf)

    producer.produce("orders", b"v", headers=msg.headers())   # trace headers replaced, not appended
    msg = consumer.poll(1.0)
    with consumer.process(msg):                                # `process orders` is current here
        handle(msg)

``send {topic}`` is finished in the delivery callback (partition and offset, or the error), so
call ``poll()``/``flush()`` as usual; it *ends* at its start plus librdkafka's own latency of the
message (``Message.latency()``), not when the callback happens to be served. ``poll()`` and
``consume()`` record a ``poll`` span for the receive call alone (when it returned messages);
``process(msg)`` of a message from a ``consume()`` batch parents/links to that batch's span as
the core's strategy says.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from . import _native
from .tracing import (
    _NO_SCOPE, KafkaTracing, PollScope, ProcessScope, _AlreadyOpen, _attach, _detach, _get_current, _log, _perf_counter,
    _time_ns, _untraced,
)

__all__ = ["TracedProducer", "TracedConsumer", "traced_producer", "traced_consumer"]

DeliveryCallback = Callable[[Any, Any], None]


class TracedProducer:
    """A confluent-kafka ``Producer`` (or ``SerializingProducer``-like object with the same
    ``produce``) whose ``produce`` starts ``send {topic}`` and injects it into the headers."""

    def __init__(self, producer: Any, tracing: Optional[KafkaTracing] = None, config: Optional[Dict[str, Any]] = None) -> None:
        # An auto-instrumented producer (opentelemetry-instrument) is traced here, not twice.
        self._producer = _untraced(producer)
        self._tracing = tracing or KafkaTracing()
        self._model = self._tracing.model_for(config)
        produce = getattr(self._producer, "produce", None)
        if produce is not None and type(self).produce is TracedProducer.produce:
            # The same steps as produce() below in one native call per message.
            t = self._tracing
            self.produce = _native.Producing(  # type: ignore[method-assign]
                (self._model, t._tracer, t._instruments, _get_current), t, produce
            )
        # poll()/flush() run once per message or more: the client's own methods, without a
        # __getattr__ call each time (unless a subclass defines them).
        for name in ("poll", "flush"):
            method = getattr(self._producer, name, None)
            if method is not None and getattr(type(self), name, None) is None:
                setattr(self, name, method)

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int = -1,
        on_delivery: Optional[DeliveryCallback] = None,
        timestamp: int = 0,
        headers: Any = None,
        **kwargs: Any,
    ) -> None:
        user_cb = on_delivery if on_delivery is not None else kwargs.pop("callback", None)
        try:
            # The PendingSend is the delivery callback: it ends the span, then calls user_cb.
            pending, headers = self._tracing.start_send(
                self._model, topic, partition if partition >= 0 else None, key, value, headers, user_cb
            )
        except Exception:  # tracing never stops a message
            pending = None
        if pending is None:
            args = dict(value=value, key=key, partition=partition, timestamp=timestamp, **kwargs)
            if headers is not None:
                args["headers"] = headers
            if user_cb is not None:
                args["on_delivery"] = user_cb
            self._producer.produce(topic, **args)
            return
        try:
            self._producer.produce(
                topic, value=value, key=key, partition=partition, on_delivery=pending,
                timestamp=timestamp, headers=headers, **kwargs,
            )
        except BaseException as exc:
            pending.failed(type(exc).__qualname__)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def __len__(self) -> int:
        return len(self._producer)


class TracedConsumer:
    """A confluent-kafka ``Consumer`` with ``process(msg)`` and ``handler`` helpers; ``poll``
    returns the message unchanged, ``consume`` records a ``poll`` span for the batch."""

    def __init__(self, consumer: Any, tracing: Optional[KafkaTracing] = None, config: Optional[Dict[str, Any]] = None) -> None:
        self._consumer = _untraced(consumer)
        self._tracing = tracing or KafkaTracing()
        self._model = self._tracing.model_for(config)
        poll = getattr(self._consumer, "poll", None)
        if poll is not None and type(self).poll is TracedConsumer.poll:
            # The same steps as poll() below in one native call per receive.
            t = self._tracing
            self.poll = _native.Polling(  # type: ignore[method-assign]
                (self._model, t._tracer, t._instruments, _get_current), poll
            )
        self._batch: Dict[int, Any] = {}
        self._batch_messages: List[Any] = []
        self._open: Any = None
        self._open_message: Any = None
        tracing = self._tracing
        # process(msg) of a confluent-kafka Message: one native context manager (read, recipe,
        # span, handler context, attach; end, metrics, detach); other messages: the Python scope.
        self._scopes = _native.ProcessScopes(
            tracing._tracer, tracing._instruments, tracing,
            lambda model, message, poll=None: ProcessScope(tracing, model, message, poll), (_get_current, _attach, _detach),
        )

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        """``Consumer.poll``; a ``poll`` span for the call when it returned a message."""
        ambient = _get_current()
        start_ns = _time_ns()
        t0 = _perf_counter()
        try:
            message = self._consumer.poll(*args, **kwargs)
        except BaseException as exc:
            scope = PollScope(self._tracing, self._model)
            scope._ambient, scope._start_ns, scope._t0 = ambient, start_ns, t0
            scope.failed(type(exc).__qualname__)
            raise
        if message is not None:
            try:
                if message.error() is None:  # not an error event
                    tracing = self._tracing
                    self._model.record_poll(
                        tracing._tracer, tracing._instruments, ambient, message.topic() or "", start_ns,
                        _perf_counter() - t0,
                    )
            except Exception:  # tracing never loses a message
                _log.exception("kafka_trace could not record a poll span")
        return message

    def consume(self, *args: Any, **kwargs: Any) -> List[Any]:
        """``Consumer.consume``; a ``poll`` span for the call, the batch's ``process`` spans
        refer to it."""
        scope = self._tracing.receive(self._model)
        with scope:
            messages = self._consumer.consume(*args, **kwargs)
        try:
            real = [m for m in messages if m.error() is None]
            ctx = self._tracing.received(scope, real)
            # ids are only unique while the objects live: keep the batch alive with its map.
            self._batch_messages = real
            self._batch = {id(m): ctx for m in real} if ctx is not None else {}
        except Exception:
            self._batch, self._batch_messages = {}, []
        return messages

    def process(self, message: Any) -> Any:
        """Context manager making ``process {topic}`` current (see module docs)."""
        if message is None:
            return _NO_SCOPE
        if self._open is not None and message is self._open_message:
            return _AlreadyOpen(self._open.span)
        poll_ctx = self._batch.get(id(message)) if self._batch else None
        if poll_ctx is None:
            return self._scopes(self._model, message)
        return self._tracing.process(message, self._model, poll_ctx)

    def _close_open(self) -> None:
        scope, self._open, self._open_message = self._open, None, None
        if scope is not None:
            scope.__exit__(None, None, None)

    def _open_process(self, message: Any) -> None:
        """Makes ``message``'s ``process`` span current until the next receive or ``close()``
        (auto-instrumented consumers: no handler boundary to end it at)."""
        scope = self.process(message)
        if scope.__enter__() is not None:
            self._open, self._open_message = scope, message

    def handler(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator running ``func(message, ...)`` inside :meth:`process`."""
        import functools

        @functools.wraps(func)
        def wrapper(message: Any, *args: Any, **kwargs: Any) -> Any:
            with self.process(message):
                return func(message, *args, **kwargs)

        return wrapper

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def traced_producer(config: Dict[str, Any], tracing: Optional[KafkaTracing] = None) -> TracedProducer:
    """``TracedProducer(confluent_kafka.Producer(config), tracing, config)``."""
    from confluent_kafka import Producer

    return TracedProducer(Producer(config), tracing, config)


def traced_consumer(config: Dict[str, Any], tracing: Optional[KafkaTracing] = None) -> TracedConsumer:
    """``TracedConsumer(confluent_kafka.Consumer(config), tracing, config)``."""
    from confluent_kafka import Consumer

    return TracedConsumer(Consumer(config), tracing, config)
