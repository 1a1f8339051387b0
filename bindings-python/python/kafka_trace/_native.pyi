"""Type stubs of the native module (pyo3); see kafka_trace/__init__.py for the public API."""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from opentelemetry.context import Context
from typing_extensions import final

__all__ = [
    "__version__",
    "CORE_VERSION",
    "KafkaTraceError",
    "TRACEPARENT",
    "TRACESTATE",
    "BAGGAGE",
    "FIELDS",
    "ERROR_CODES",
    "Lifecycle",
    "Recipe",
    "KeptRemote",
    "Instruments",
    "PendingSend",
    "ProcessScopes",
    "ProcessScope",
    "Producing",
    "Polling",
    "INSTRUMENTS",
    "METRIC_ATTRIBUTE_KEYS",
    "SAMPLING_ATTRIBUTE_KEYS",
    "OPTION_NAMES",
    "Extracted",
    "TraceParentInfo",
    "extract_parts",
    "CONTEXT_AMBIENT",
    "CONTEXT_REMOTE",
    "CONTEXT_POLL",
    "RawBaggage",
    "_init",
    "_extract_fast_paths",
    "extract",
    "inject",
    "inject_send",
    "NativeTraceState",
]

__version__: str
CORE_VERSION: str
TRACEPARENT: str
TRACESTATE: str
BAGGAGE: str
FIELDS: Tuple[str, str, str]
ERROR_CODES: Dict[str, int]
CONTEXT_AMBIENT: int
CONTEXT_REMOTE: int
CONTEXT_POLL: int
# (name, "counter" | "histogram", unit, description), in the order `Recipe.finish` indexes them.
INSTRUMENTS: Tuple[Tuple[str, str, str, str], ...]
METRIC_ATTRIBUTE_KEYS: Tuple[str, ...]
SAMPLING_ATTRIBUTE_KEYS: Tuple[str, ...]
OPTION_NAMES: Tuple[str, ...]

_HeaderValue = Union[bytes, bytearray, str, None]
_Headers = Union[
    None,
    Sequence[Tuple[Union[str, bytes], _HeaderValue]],
    Mapping[str, Union[_HeaderValue, Sequence[_HeaderValue]]],
]

_Attributes = Dict[str, Union[str, int, float, bool]]
# (attributes, status description or None, end after start in seconds or None (= now),
#  ((instrument index, value, metric attributes), ...))
_Finish = Tuple[_Attributes, Optional[str], Optional[float], Tuple[Tuple[int, float, _Attributes], ...]]

class KafkaTraceError(ValueError): ...

def _init(
    context_cls: Any,
    span_context_cls: Any,
    trace_state_cls: Any,
    non_recording_span_cls: Any,
    trace_flags_cls: Any,
    span_key: str,
    baggage_key: str,
    raw_baggage_key: str,
    kept_key: str,
    get_current: Any,
) -> None: ...
def _extract_fast_paths() -> Tuple[bool, bool]: ...
def extract(headers: Any, context: Optional[Context] = None) -> Context: ...
def inject(headers: Any = None, context: Optional[Context] = None) -> Any: ...
def inject_send(headers: Any, context: Context, span: Any = None) -> Any: ...
def extract_parts(headers: Any) -> Extracted: ...

@final
class TraceParentInfo:
    @property
    def version(self) -> int: ...
    @property
    def trace_id(self) -> str: ...
    @property
    def span_id(self) -> str: ...
    @property
    def flags(self) -> int: ...

@final
class Extracted:
    @property
    def traceparent(self) -> Optional[TraceParentInfo]: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def tracestate(self) -> List[Tuple[str, str]]: ...
    @property
    def tracestate_error(self) -> Optional[str]: ...
    @property
    def baggage(self) -> List[Tuple[str, str, List[str]]]: ...

@final
class RawBaggage: ...

@final
class NativeTraceState:
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __getitem__(self, key: str, /) -> str: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def __iter__(self) -> Any: ...
    def keys(self) -> List[str]: ...
    def values(self) -> List[str]: ...
    def items(self) -> List[Tuple[str, str]]: ...
    def to_header(self) -> str: ...
    def add(self, key: str, value: str) -> Any: ...
    def update(self, key: str, value: str) -> Any: ...
    def delete(self, key: str) -> Any: ...

@final
class KeptRemote:
    @property
    def trace_id(self) -> str: ...
    @property
    def flags(self) -> int: ...
    @property
    def tracestate(self) -> str: ...

@final
class Recipe:
    @property
    def operation(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> Any: ...
    @property
    def attributes(self) -> _Attributes: ...
    @property
    def parent(self) -> int: ...
    @property
    def links(self) -> Tuple[int, ...]: ...
    @property
    def remote(self) -> Optional[Context]: ...
    @property
    def kept(self) -> Optional[KeptRemote]: ...
    @property
    def handler(self) -> Optional[Tuple[bool, bool, bool]]: ...
    @property
    def metric_attributes(self) -> _Attributes: ...
    @property
    def recorded_attributes(self) -> _Attributes: ...
    @property
    def start_ns(self) -> Optional[int]: ...
    def started(self, span: Any) -> None: ...
    def start(self, tracer: Any, context: Optional[Context], links: Optional[List[Any]] = None) -> Any: ...
    def end_started(
        self,
        instruments: Instruments,
        span: Any,
        error_type: Optional[str] = None,
        partition: Optional[int] = None,
        offset: Optional[int] = None,
        latency_s: Optional[float] = None,
    ) -> None: ...
    def start_send(
        self,
        tracer: Any,
        instruments: Instruments,
        ambient: Context,
        headers: Any,
        on_delivery: Optional[Callable[[Any, Any], None]] = None,
    ) -> Tuple[PendingSend, Any]: ...
    def record(
        self,
        tracer: Any,
        instruments: Instruments,
        ambient: Context,
        start_ns: int,
        elapsed_s: float,
        error_type: Optional[str] = None,
    ) -> Any: ...
    def handler_context(self, span: Any) -> Context: ...
    def finish(
        self,
        elapsed_s: float,
        error_type: Optional[str] = None,
        partition: Optional[int] = None,
        offset: Optional[int] = None,
        latency_s: Optional[float] = None,
    ) -> _Finish: ...
    def end(
        self,
        instruments: Instruments,
        span: Any,
        start_ns: int,
        elapsed_s: float,
        error_type: Optional[str] = None,
        partition: Optional[int] = None,
        offset: Optional[int] = None,
        latency_s: Optional[float] = None,
    ) -> None: ...

@final
class PendingSend:
    @property
    def span(self) -> Any: ...
    @property
    def recipe(self) -> Optional[Recipe]: ...
    @property
    def start_ns(self) -> Optional[int]: ...
    def delivered(self, partition: Optional[int], offset: Optional[int], latency: Optional[float] = None) -> None: ...
    def failed(self, error_type: str, latency: Optional[float] = None) -> None: ...
    def __call__(self, err: Any, msg: Any) -> None: ...

@final
class ProcessScopes:
    def __new__(
        cls,
        tracer: Any,
        instruments: Instruments,
        hooks: Any,
        fallback: Callable[[Lifecycle, Any], Any],
        context_api: Tuple[Callable[[], Context], Callable[[Context], Any], Callable[[Any], None]],
    ) -> "ProcessScopes": ...
    def __call__(self, model: Lifecycle, message: Any, poll: Any = None) -> ProcessScope: ...

@final
class ProcessScope:
    @property
    def span(self) -> Any: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

_Tracing = Tuple["Lifecycle", Any, "Instruments", Callable[[], Context]]

@final
class Producing:
    def __new__(cls, tracing: _Tracing, hooks: Any, produce: Callable[..., Any]) -> "Producing": ...
    def __call__(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int = -1,
        on_delivery: Optional[Callable[[Any, Any], None]] = None,
        timestamp: int = 0,
        headers: Any = None,
        **kwargs: Any,
    ) -> None: ...

@final
class Polling:
    def __new__(cls, tracing: _Tracing, poll: Callable[..., Any]) -> "Polling": ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

@final
class Instruments:
    def __new__(cls, records: List[Callable[[float, Dict[str, Any]], None]], status_cls: Any, error_code: Any) -> "Instruments": ...

@final
class Lifecycle:
    def __new__(
        cls,
        span_kinds: Tuple[Any, Any, Any],
        *,
        strategy: str = "parent",
        record_message_key: bool = True,
        record_body_size: bool = False,
        include_topics: List[str] = ...,
        exclude_topics: List[str] = ...,
        client_id: Optional[str] = None,
        consumer_group: Optional[str] = None,
        bootstrap_servers: Optional[str] = None,
    ) -> Lifecycle: ...
    def with_client(
        self,
        *,
        client_id: Optional[str] = None,
        consumer_group: Optional[str] = None,
        bootstrap_servers: Optional[str] = None,
    ) -> Lifecycle: ...
    @property
    def strategy(self) -> str: ...
    @property
    def client(self) -> Tuple[Optional[str], Optional[str], Optional[str], Optional[int]]: ...
    def allows(self, topic: str) -> bool: ...
    def send(self, topic: str, partition: Optional[int] = None, key: Any = None, value: Any = None) -> Optional[Recipe]: ...
    def start_send(
        self,
        tracer: Any,
        instruments: Instruments,
        ambient: Context,
        topic: str,
        partition: Optional[int],
        key: Any,
        value: Any,
        headers: Any,
        on_delivery: Optional[Callable[[Any, Any], None]] = None,
    ) -> Optional[Tuple[PendingSend, Any]]: ...
    def process(
        self,
        topic: str,
        partition: Optional[int],
        offset: Optional[int],
        key: Any,
        value: Any,
        timestamp_ms: Optional[int],
        headers: Any,
        ambient_has_span: bool,
        now_ms: Optional[int] = None,
    ) -> Optional[Recipe]: ...
    def batch_process(
        self,
        topic: str,
        partition: Optional[int],
        offset: Optional[int],
        key: Any,
        value: Any,
        timestamp_ms: Optional[int],
        headers: Any,
        now_ms: Optional[int] = None,
    ) -> Optional[Recipe]: ...
    def poll(self, topics: List[str], message_count: int) -> Optional[Recipe]: ...
    def process_message(self, tracer: Any, message: Any, ambient: Context) -> Union[None, bool, Tuple[Recipe, Any, Context]]: ...
    def record_poll(
        self, tracer: Any, instruments: Instruments, ambient: Context, topic: str, start_ns: int, elapsed_s: float
    ) -> Optional[Any]: ...
    def poll_failed(self, topics: List[str] = ...) -> Optional[Recipe]: ...
