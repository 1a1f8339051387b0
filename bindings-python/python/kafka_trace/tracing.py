"""Spans and metrics through the user's opentelemetry-api providers, shaped by the core.

Every span name, kind, attribute, parent/link choice and latency comes from the core's span
model (``_native.SpanModel``); this module only resolves the chosen contexts in the
OpenTelemetry API, starts and ends spans, and records the metrics.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from . import _native
from ._otel import SPAN_KEY

_log = logging.getLogger("kafka_trace")

SendHook = Callable[[Span, str, Any], None]
ProcessHook = Callable[[Span, Any], None]

_AMBIENT = _native.CONTEXT_AMBIENT
_REMOTE = _native.CONTEXT_REMOTE
_POLL = _native.CONTEXT_POLL
_M = _native.METRICS


class MessageInfo:
    """What the span model reads from a consumed message of either client."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "timestamp_ms", "headers")

    def __init__(self, message: Any) -> None:
        topic = getattr(message, "topic", None)
        if callable(topic):  # confluent_kafka.Message
            self.topic = topic() or ""
            self.partition = message.partition()
            self.offset = message.offset()
            self.key = message.key()
            self.value = message.value()
            ts_type, ts = message.timestamp()
            self.timestamp_ms = ts if ts_type else None
            self.headers = message.headers()
        else:  # aiokafka.structs.ConsumerRecord and look-alikes
            self.topic = topic or ""
            self.partition = getattr(message, "partition", None)
            self.offset = getattr(message, "offset", None)
            self.key = getattr(message, "key", None)
            self.value = getattr(message, "value", None)
            self.timestamp_ms = getattr(message, "timestamp", None)
            self.headers = getattr(message, "headers", None)
        if self.partition is not None and self.partition < 0:
            self.partition = None
        if self.offset is not None and self.offset < 0:
            self.offset = None


def _safe(hook: Optional[Callable[..., None]], *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:  # a hook must never break the application
        _log.exception("kafka_trace hook failed")


def _span_context_of(ctx: Optional[Context]) -> Optional[trace.SpanContext]:
    sc = trace.get_current_span(ctx).get_span_context()
    return sc if sc.is_valid else None


class _NoScope:
    span: Optional[Span] = None

    def __enter__(self) -> Optional[Span]:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return False


_NO_SCOPE = _NoScope()


class ProcessScope:
    """Makes the ``process {topic}`` span current while the handler runs; records the handler's
    exception (re-raised unchanged) and the process duration."""

    __slots__ = ("_tracing", "_model", "_message", "_poll_ctx", "span", "_token", "_start", "_mattrs")

    def __init__(self, tracing: "KafkaTracing", model: Any, message: Any, poll_ctx: Optional[Context]) -> None:
        self._tracing = tracing
        self._model = model
        self._message = message
        self._poll_ctx = poll_ctx
        self.span: Optional[Span] = None
        self._token: Any = None

    def __enter__(self) -> Optional[Span]:
        try:
            self._start_span()
        except Exception:  # tracing never raises into the handler
            _log.exception("kafka_trace could not start a process span")
        return self.span

    def _start_span(self) -> None:
        error = getattr(self._message, "error", None)
        if callable(error) and error() is not None:  # a confluent-kafka event, not a message
            return
        tracing, m = self._tracing, MessageInfo(self._message)
        if not m.topic or not self._model.allows(m.topic):  # no topic: not a Kafka message
            return
        remote = _native.extract(m.headers)
        remote_valid = SPAN_KEY in remote
        ambient_valid = _span_context_of(None) is not None
        name, kind, attrs, mattrs, parent, links, e2e_ms = self._model.process(
            m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms,
            remote_valid, ambient_valid, self._poll_ctx is not None,
        )
        sources = {_AMBIENT: None, _REMOTE: remote, _POLL: self._poll_ctx}
        parent_ctx = sources[parent]
        if parent == _AMBIENT:
            parent_ctx = otel_context.get_current()
        span_links = []
        for source in links:
            sc = _span_context_of(sources[source])
            if sc is not None:
                span_links.append(Link(sc))
        span = tracing._tracer.start_span(name, context=parent_ctx, kind=kind, attributes=attrs, links=span_links)
        self.span = span
        self._mattrs = mattrs
        # The handler also sees the message's baggage (extract put it in `remote`).
        base = remote if parent == _REMOTE else parent_ctx
        self._token = otel_context.attach(trace.set_span_in_context(span, base))
        self._start = time.perf_counter()
        tracing._consumed.add(1, mattrs)
        if e2e_ms is not None:
            tracing._e2e.record(e2e_ms / 1000.0, mattrs)
        _safe(tracing._on_process, span, self._message)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        span = self.span
        if span is None:
            return False
        try:
            mattrs = self._mattrs
            if exc is not None:
                attrs, description = self._model.error_outcome(exc_type.__qualname__)
                span.record_exception(exc)
                span.set_attributes(attrs)
                span.set_status(Status(StatusCode.ERROR, description))
                mattrs = {**mattrs, **attrs}
            self._tracing._process_duration.record(time.perf_counter() - self._start, mattrs)
            span.end()
        except Exception:  # tracing never raises into the application
            _log.exception("kafka_trace could not end a process span")
        finally:
            try:
                otel_context.detach(self._token)
            except Exception:
                _log.exception("kafka_trace could not restore the context")
        return False


class PendingSend:
    """A ``send {topic}`` span waiting for the broker's acknowledgement."""

    __slots__ = ("tracing", "model", "span", "mattrs", "start")

    def __init__(self, tracing: "KafkaTracing", model: Any, span: Span, mattrs: Dict[str, Any]) -> None:
        self.tracing = tracing
        self.model = model
        self.span = span
        self.mattrs = mattrs
        self.start = time.perf_counter()

    def delivered(self, partition: int, offset: int) -> None:
        try:
            attrs, _ = self.model.send_outcome(partition, offset)
            self._end(attrs, None)
        except Exception:
            _log.exception("kafka_trace could not end a send span")

    def failed(self, error_type: str) -> None:
        try:
            attrs, description = self.model.error_outcome(error_type)
            self._end(attrs, description)
        except Exception:
            _log.exception("kafka_trace could not end a send span")

    def _end(self, attrs: Dict[str, Any], error: Optional[str]) -> None:
        span = self.span
        span.set_attributes(attrs)
        mattrs = {**self.mattrs, **attrs}
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        tracing = self.tracing
        tracing._operation_duration.record(time.perf_counter() - self.start, mattrs)
        tracing._sent.add(1, mattrs)
        span.end()


class KafkaTracing:
    """Tracing configuration shared by traced producers and consumers.

    Args:
        tracer_provider / meter_provider: default: the global ones.
        strategy: ``"parent"`` (the producer's span is the parent of ``process``; default) or
            ``"link"`` (semconv-strict: the ambient span is the parent, the producer a link).
        record_message_key: record ``messaging.kafka.message.key`` (UTF-8 keys only).
        record_body_size: record ``messaging.message.body.size``.
        include_topics / exclude_topics: exact names or ``*`` globs; exclude wins.
        on_send(span, topic, value) / on_process(span, message): hooks, called after the span
            starts; their exceptions are logged, never raised.
    """

    def __init__(
        self,
        *,
        tracer_provider: Optional[trace.TracerProvider] = None,
        meter_provider: Optional[otel_metrics.MeterProvider] = None,
        strategy: str = "parent",
        record_message_key: bool = True,
        record_body_size: bool = False,
        include_topics: Sequence[str] = (),
        exclude_topics: Sequence[str] = (),
        on_send: Optional[SendHook] = None,
        on_process: Optional[ProcessHook] = None,
    ) -> None:
        from . import __version__

        self._tracer = trace.get_tracer("kafka_trace", __version__, tracer_provider)
        meter = otel_metrics.get_meter("kafka_trace", __version__, meter_provider)
        sec, msgs = _M["unit_seconds"], _M["unit_messages"]
        self._operation_duration = meter.create_histogram(_M["operation_duration"], unit=sec)
        self._sent = meter.create_counter(_M["sent_messages"], unit=msgs)
        self._consumed = meter.create_counter(_M["consumed_messages"], unit=msgs)
        self._process_duration = meter.create_histogram(_M["process_duration"], unit=sec)
        self._e2e = meter.create_histogram(_M["e2e_latency"], unit=sec)
        self._on_send = on_send
        self._on_process = on_process
        self.model = _native.SpanModel(
            (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT),
            strategy=strategy,
            record_message_key=record_message_key,
            record_body_size=record_body_size,
            include_topics=list(include_topics),
            exclude_topics=list(exclude_topics),
        )

    def model_for(self, config: Optional[Dict[str, Any]] = None) -> Any:
        """The span model for a client configured with ``config`` (librdkafka/aiokafka keys)."""
        config = config or {}
        servers = config.get("bootstrap.servers", config.get("bootstrap_servers"))
        if isinstance(servers, (list, tuple)):
            servers = ",".join(servers)
        return self.model.with_client(
            client_id=config.get("client.id", config.get("client_id")),
            group_id=config.get("group.id", config.get("group_id")),
            bootstrap_servers=servers,
        )

    # --- producer side ---------------------------------------------------------------------
    def start_send(
        self, model: Any, topic: str, partition: Optional[int], key: Any, value: Any, headers: Any
    ) -> Tuple[Optional[PendingSend], Any]:
        """Starts ``send {topic}`` and returns it with the headers to send (a new list or dict
        with the trace headers replaced; the caller's object is not modified)."""
        if not model.allows(topic):
            return None, headers
        name, kind, attrs, mattrs, _parent, _links, _ = model.send(topic, partition, key, value)
        span = self._tracer.start_span(name, kind=kind, attributes=attrs)
        if headers is None:
            out: Any = []
        elif isinstance(headers, dict):
            out = dict(headers)
        else:
            out = list(headers)
        out = _native.inject(out, trace.set_span_in_context(span))
        _safe(self._on_send, span, topic, value)
        return PendingSend(self, model, span, mattrs), out

    # --- consumer side ---------------------------------------------------------------------
    def process(self, message: Any, model: Any = None, poll_context: Optional[Context] = None) -> Any:
        """Context manager: the ``process {topic}`` span of ``message`` (a confluent-kafka
        ``Message`` or an aiokafka ``ConsumerRecord``), current while the block runs."""
        if message is None:
            return _NO_SCOPE
        return ProcessScope(self, model or self.model, message, poll_context)

    def handler(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: runs ``func(message, ...)`` inside :meth:`process`."""
        import functools

        @functools.wraps(func)
        def wrapper(message: Any, *args: Any, **kwargs: Any) -> Any:
            with self.process(message):
                return func(message, *args, **kwargs)

        return wrapper

    def record_poll(self, model: Any, messages: Iterable[Any], start_ns: int, duration_s: float) -> Optional[Context]:
        """Records the ``poll`` span of a received batch; returns its context (the link or parent
        of each message's ``process`` span)."""
        messages = [m for m in messages if m is not None]
        if not messages:
            return None
        topics = [MessageInfo(m).topic for m in messages]
        if not any(model.allows(t) for t in topics):
            return None
        name, kind, attrs, mattrs, _parent, _links, _ = model.poll(topics, len(messages))
        span = self._tracer.start_span(name, kind=kind, attributes=attrs, start_time=start_ns)
        span.end()
        self._operation_duration.record(duration_s, mattrs)
        return trace.set_span_in_context(span)
