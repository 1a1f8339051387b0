"""Spans and metrics through the user's opentelemetry-api providers: an executor of the core's
lifecycle.

The core (``_native.Lifecycle``) returns a *recipe* when an operation starts (span name, kind,
attributes, parent source, link sources, the handler-context rule) and a *finish* when it ends
(end attributes, status, when the span ends, every metric record with its attribute set). This
module only carries them out in the OpenTelemetry API: it resolves the sources to contexts,
starts and ends spans, builds the handler's context with the core's rule and records the metric
records as given. It picks no attribute, parent, link or metric attribute itself.

Definitions (the core's): **send** is ``send {topic}`` from the produce call until the broker
acknowledged it (librdkafka's own per-message latency when the client reports it); **poll** is
the receive call only (``consume()``/``poll()``/``getmany()``), never the handlers; **process** is
the handler of one message.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from . import _native
from . import _otel  # noqa: F401  (initializes the native module)

_log = logging.getLogger("kafka_trace")

SendHook = Callable[[Span, str, Any], None]
ProcessHook = Callable[[Span, Any], None]

_AMBIENT = _native.CONTEXT_AMBIENT
_REMOTE = _native.CONTEXT_REMOTE
_POLL = _native.CONTEXT_POLL
_SPAN_KEY = _otel.SPAN_KEY


def _context_var_api() -> Tuple[Callable[[], Context], Callable[[Context], Any]]:
    """The API's ``get_current`` and ``attach``, or, when its runtime context is the default
    ``ContextVarsRuntimeContext``, the very ``ContextVar`` methods those two end in
    (``get_current()`` is ``_RUNTIME_CONTEXT.get_current()`` is ``_current_context.get()``,
    ``attach(c)`` is ``_current_context.set(c)``): the same objects and tokens (``detach`` takes
    them) without two Python frames per call; they run several times per message."""
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        var = getattr(runtime, "_current_context", None)
        if type(runtime) is ContextVarsRuntimeContext and isinstance(var, contextvars.ContextVar):
            return var.get, var.set
    except ImportError:
        pass
    return otel_context.get_current, otel_context.attach


# Looked up once: these run several times per message.
_get_current, _attach = _context_var_api()
_detach = otel_context.detach
_time_ns = time.time_ns
_perf_counter = time.perf_counter

#: The one spelling of every option (the core's ``OPTION_NAMES``).
OPTION_NAMES: Tuple[str, ...] = _native.OPTION_NAMES
# Spellings of earlier releases, accepted with a DeprecationWarning for one release.
_DEPRECATED_OPTIONS: Dict[str, str] = {"group_id": "consumer_group", "brokers": "bootstrap_servers"}


class MessageInfo:
    """What the core reads from a consumed message of either client."""

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


def _links(sources: Tuple[Optional[Context], ...], recipe: Any) -> List[Link]:
    links = []
    for source in recipe.links:
        sc = trace.get_current_span(sources[source]).get_span_context()
        if sc.is_valid:
            links.append(Link(sc))
    return links


class _NoScope:
    span: Optional[Span] = None

    def __enter__(self) -> Optional[Span]:
        return self.span

    def __exit__(self, *exc: Any) -> bool:
        return False


_NO_SCOPE = _NoScope()


class _AlreadyOpen(_NoScope):
    """``process(msg)`` of a message whose ``process`` span a receive call already made current
    (auto-instrumented consumers): the block runs in it, nothing is started or ended twice."""

    def __init__(self, span: Optional[Span]) -> None:
        self.span = span


# True while a traced wrapper calls into the client's own (uninstrumented) methods.
_INSIDE: "contextvars.ContextVar[bool]" = contextvars.ContextVar("kafka_trace_inside", default=False)


class _Untraced:
    """An auto-instrumented client (see :mod:`kafka_trace.instrumentation`) seen through the methods
    of the class it replaced: what the traced wrappers call, so that an explicit
    ``TracedProducer(Producer(conf))`` under ``opentelemetry-instrument`` traces each message once.
    A method of that class calling an overridden one (aiokafka's ``send_and_wait`` -> ``send``)
    reaches the original too: :data:`_INSIDE` is set while it runs."""

    __slots__ = ("_obj", "_base")

    def __init__(self, obj: Any, base: type) -> None:
        self._obj = obj
        self._base = base

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._base, name, None)
        if attr is None or isinstance(attr, type) or not callable(attr) or not hasattr(attr, "__get__"):
            return getattr(self._obj, name)
        bound = attr.__get__(self._obj, type(self._obj))
        if inspect.iscoroutinefunction(attr):

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                token = _INSIDE.set(True)
                try:
                    return await bound(*args, **kwargs)
                finally:
                    _INSIDE.reset(token)

            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            token = _INSIDE.set(True)
            try:
                return bound(*args, **kwargs)
            finally:
                _INSIDE.reset(token)

        return call

    def __len__(self) -> int:
        return int(self._base.__len__(self._obj))  # type: ignore[attr-defined]


def _untraced(client: Any) -> Any:
    """``client`` itself, or, for an auto-instrumented one, its untraced view."""
    base = getattr(type(client), "_kafka_trace_base", None)
    return client if base is None else _Untraced(client, base)


class ProcessScope:
    """Makes the ``process {topic}`` span current while the handler runs, in the context the
    core's handler rule describes; records the handler's exception (re-raised unchanged)."""

    __slots__ = ("_tracing", "_model", "_message", "_poll_ctx", "span", "_recipe", "_token")

    def __init__(self, tracing: "KafkaTracing", model: Any, message: Any, poll_ctx: Optional[Context]) -> None:
        self._tracing = tracing
        self._model = model
        self._message = message
        self._poll_ctx = poll_ctx
        self.span: Optional[Span] = None
        self._recipe: Any = None
        self._token: Any = None

    def __enter__(self) -> Optional[Span]:
        try:
            self._start_span()
        except Exception:  # tracing never raises into the handler
            _log.exception("kafka_trace could not start a process span")
        return self.span

    def _start_span(self) -> None:
        message = self._message
        if self._poll_ctx is None:
            # A confluent-kafka Message: read, started and its handler context built natively.
            started = self._model.process_message(self._tracing._tracer, message, _get_current())
            if started is None:
                return
            if started is not False:
                self._recipe, span, context = started
                self.span = span
                self._token = _attach(context)
                if self._tracing._on_process is not None:
                    _safe(self._tracing._on_process, span, message)
                return
        error = getattr(message, "error", None)
        if callable(error) and error() is not None:  # a confluent-kafka event, not a message
            return
        m = MessageInfo(message)
        if not m.topic:  # no topic: not a Kafka message
            return
        ambient = _get_current()
        poll_ctx = self._poll_ctx
        if poll_ctx is None:
            # get_current_span's answer, asked only when the context holds a span at all.
            has_span = _SPAN_KEY in ambient and trace.get_current_span(ambient).get_span_context().is_valid
            recipe = self._model.process(
                m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms, m.headers, has_span
            )
        else:
            recipe = self._model.batch_process(
                m.topic, m.partition, m.offset, m.key, m.value, m.timestamp_ms, m.headers
            )
        if recipe is None:
            return
        parent = recipe.parent
        if parent == _REMOTE:
            context = recipe.remote
        elif parent == _POLL and poll_ctx is not None:
            context = poll_ctx
        else:
            context = ambient
        tracing = self._tracing
        # Started natively with the sampling attributes only; the end sets the rest if it records.
        span = recipe.start(
            tracing._tracer,
            context,
            _links((ambient, recipe.remote, poll_ctx if poll_ctx is not None else ambient), recipe)
            if recipe.links
            else None,
        )
        self.span, self._recipe = span, recipe
        self._token = _attach(recipe.handler_context(span))
        if tracing._on_process is not None:
            _safe(tracing._on_process, span, message)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        span = self.span
        if span is None:
            return False
        try:
            error_type = None
            if exc is not None:
                error_type = exc_type.__qualname__
                span.record_exception(exc)
            self._recipe.end_started(self._tracing._instruments, span, error_type)
        except Exception:  # tracing never raises into the application
            _log.exception("kafka_trace could not end a process span")
        finally:
            try:
                _detach(self._token)
            except Exception:
                _log.exception("kafka_trace could not restore the context")
        return False


#: A ``send {topic}`` span waiting for the broker's acknowledgement (native, made by
#: ``Recipe.start_send``): ``span``, ``delivered(partition, offset, latency=None)``,
#: ``failed(error_type, latency=None)``; called as ``(err, msg)`` it is confluent-kafka's delivery
#: callback (and then calls the application's).
PendingSend = _native.PendingSend


class PollScope:
    """The ``poll`` span of one receive call: created when the call started, told what it
    returned (:meth:`received`) or how it failed (:meth:`failed`, or an exception leaving the
    ``with`` block). :attr:`context` is the poll span's context afterwards (the parent or link
    of the batch's ``process`` spans), or ``None``."""

    __slots__ = ("_tracing", "_model", "_ambient", "_start_ns", "_t0", "_done", "_context", "span")

    def __init__(self, tracing: "KafkaTracing", model: Any) -> None:
        self._tracing = tracing
        self._model = model
        self._ambient = _get_current()
        self._start_ns = _time_ns()
        self._t0 = _perf_counter()
        self._done = False
        self._context: Optional[Context] = None
        self.span: Optional[Span] = None

    @property
    def context(self) -> Optional[Context]:
        # Made when first asked for: a poll() of one message never needs it.
        if self._context is None and self.span is not None:
            self._context = trace.set_span_in_context(self.span, Context())
        return self._context

    def __enter__(self) -> "PollScope":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is not None and not self._done:
            self.failed(exc_type.__qualname__)
        return False

    def received(self, topics: Sequence[str], message_count: int) -> Optional[Context]:
        """The call returned ``message_count`` messages of ``topics`` (one entry per message or
        per topic). The core traces no empty receive."""
        self._received(topics, message_count)
        return self.context

    def _received(self, topics: Sequence[str], message_count: int) -> None:
        """:meth:`received` without making the context."""
        if self._done:
            return
        self._done = True
        self._finish(self._model.poll(list(topics), message_count), None)

    def failed(self, error_type: str, topics: Sequence[str] = ()) -> None:
        """The call raised or returned an error of this class (``topics``: the subscription,
        when known)."""
        if self._done:
            return
        self._done = True
        self._finish(self._model.poll_failed(list(topics)), error_type)

    def _finish(self, recipe: Any, error_type: Optional[str]) -> None:
        if recipe is None:
            return
        try:
            self.span = recipe.record(
                self._tracing._tracer, self._tracing._instruments, self._ambient, self._start_ns,
                _perf_counter() - self._t0, error_type,
            )
        except Exception:
            _log.exception("kafka_trace could not record a poll span")


class KafkaTracing:
    """Tracing configuration shared by traced producers and consumers.

    Options (spelled as the core's ``OPTION_NAMES``):
        strategy: ``"parent"`` (the producer's span is the parent of ``process``; default) or
            ``"link"`` (semconv-strict: the ambient span is the parent, the producer a link).
        record_message_key: record ``messaging.kafka.message.key`` (UTF-8 keys only).
        record_body_size: record ``messaging.message.body.size``.
        include_topics / exclude_topics: exact names or ``*`` globs; exclude wins.
        client_id / consumer_group / bootstrap_servers: the client's identity; default: read
            from each wrapped client's configuration (``client.id``, ``group.id``,
            ``bootstrap.servers`` or the aiokafka spellings).

    Also: ``tracer_provider`` / ``meter_provider`` (default: the global ones), and the hooks
    ``on_send(span, topic, value)`` / ``on_process(span, message)``, called after the span
    starts; their exceptions are logged, never raised. The spellings ``group_id`` and
    ``brokers`` still work for one release, with a ``DeprecationWarning``.
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
        client_id: Optional[str] = None,
        consumer_group: Optional[str] = None,
        bootstrap_servers: Optional[str] = None,
        on_send: Optional[SendHook] = None,
        on_process: Optional[ProcessHook] = None,
        **deprecated: Any,
    ) -> None:
        from . import __version__

        client = {"client_id": client_id, "consumer_group": consumer_group, "bootstrap_servers": bootstrap_servers}
        for old, value in deprecated.items():
            new = _DEPRECATED_OPTIONS.get(old)
            if new is None:
                raise TypeError(f"KafkaTracing() got an unexpected keyword argument {old!r}")
            warnings.warn(f"KafkaTracing option {old!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=2)
            if client[new] is None:
                client[new] = value
        self._client = client
        self._tracer = trace.get_tracer("kafka_trace", __version__, tracer_provider)
        meter = otel_metrics.get_meter("kafka_trace", __version__, meter_provider)
        # One bound record method per instrument of the core, in its order (Recipe.finish indexes it).
        self._record: List[Callable[[float, Dict[str, Any]], None]] = []
        for name, kind, unit, description in _native.INSTRUMENTS:
            if kind == "counter":
                self._record.append(meter.create_counter(name, unit=unit, description=description).add)
            else:
                self._record.append(meter.create_histogram(name, unit=unit, description=description).record)
        # Recipe.end carries out the core's finishes with these.
        self._instruments = _native.Instruments(self._record, Status, StatusCode.ERROR)
        self._on_send = on_send
        self._on_process = on_process
        self.model = _native.Lifecycle(
            (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.CLIENT),
            strategy=strategy,
            record_message_key=record_message_key,
            record_body_size=record_body_size,
            include_topics=list(include_topics),
            exclude_topics=list(exclude_topics),
            client_id=client["client_id"],
            consumer_group=client["consumer_group"],
            bootstrap_servers=client["bootstrap_servers"],
        )
        # process(message): one native context manager (read, start from the situation's
        # template, handler context, attach; end, metrics, detach); anything it does not read
        # (no `topic`) goes to the Python scope.
        self._scopes = _native.ProcessScopes(
            self._tracer, self._instruments, self,
            lambda model, message, poll=None: ProcessScope(self, model, message, poll), (_get_current, _attach, _detach),
        )

    def model_for(self, config: Optional[Dict[str, Any]] = None) -> Any:
        """The lifecycle for a client configured with ``config`` (librdkafka/aiokafka keys); the
        client options given to :class:`KafkaTracing` win over the configuration."""
        config = config or {}
        servers = config.get("bootstrap.servers", config.get("bootstrap_servers"))
        if isinstance(servers, (list, tuple)):
            servers = ",".join(servers)
        c = self._client
        return self.model.with_client(
            client_id=c["client_id"] or config.get("client.id", config.get("client_id")),
            consumer_group=c["consumer_group"] or config.get("group.id", config.get("group_id")),
            bootstrap_servers=c["bootstrap_servers"] or servers,
        )

    lifecycle_for = model_for

    # --- producer side ---------------------------------------------------------------------
    def start_send(
        self, model: Any, topic: str, partition: Optional[int], key: Any, value: Any, headers: Any,
        on_delivery: Optional[Callable[[Any, Any], None]] = None,
    ) -> Tuple[Optional[PendingSend], Any]:
        """Starts ``send {topic}`` and returns it with the headers to send (a new list or dict
        with the trace headers replaced; the caller's object is not modified). ``on_delivery``:
        what the returned ``PendingSend`` calls after ending the span when it is called as a
        confluent-kafka delivery callback."""
        # The send span in the current context: its baggage, and the kept remote of a handler.
        started = model.start_send(
            self._tracer, self._instruments, _get_current(), topic, partition, key, value, headers, on_delivery
        )
        if started is None:
            return None, headers
        pending, out = started
        if self._on_send is not None:
            _safe(self._on_send, pending.span, topic, value)
        return pending, out

    # --- consumer side ---------------------------------------------------------------------
    def process(self, message: Any, model: Any = None, poll_context: Optional[Context] = None) -> Any:
        """Context manager: the ``process {topic}`` span of ``message`` (a confluent-kafka
        ``Message`` or an aiokafka ``ConsumerRecord``), current while the block runs.
        ``poll_context``: the context of the ``poll`` span the message came in (a batch)."""
        if message is None:
            return _NO_SCOPE
        return self._scopes(model or self.model, message, poll_context)

    def handler(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: runs ``func(message, ...)`` inside :meth:`process`."""
        import functools

        @functools.wraps(func)
        def wrapper(message: Any, *args: Any, **kwargs: Any) -> Any:
            with self.process(message):
                return func(message, *args, **kwargs)

        return wrapper

    def receive(self, model: Any = None) -> PollScope:
        """Context manager around one receive call: ``with tracing.receive(model) as p:
        msgs = consumer.consume(...); p.received(topics, len(msgs))``."""
        return PollScope(self, model or self.model)

    def received(self, scope: PollScope, messages: Iterable[Any]) -> Optional[Context]:
        """Ends ``scope`` with the messages a receive call returned (``None`` entries and
        confluent-kafka error events are not messages)."""
        topics = []
        for m in messages:
            if m is None:
                continue
            error = getattr(m, "error", None)
            if callable(error) and error() is not None:
                continue
            topic = getattr(m, "topic", None)
            topics.append((topic() if callable(topic) else topic) or "")
        return scope.received(topics, len(topics))
