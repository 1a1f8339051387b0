"""`KafkaTracePropagator`: an OpenTelemetry TextMapPropagator backed by the Rust core."""

from __future__ import annotations

from typing import Optional, Set

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    DefaultGetter,
    DefaultSetter,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from . import _native
from . import _otel  # noqa: F401  (initializes the native module)

# The module-level functions are the native ones themselves: no Python frame on the hot path.
extract = _native.extract
inject = _native.inject


class KafkaTracePropagator(TextMapPropagator):
    """W3C ``traceparent``/``tracestate``/``baggage`` through the kafka-trace core.

    With the default getter/setter the carrier is used as Kafka headers directly (any header
    shape :func:`extract` accepts); with a custom getter or setter the values go through it, so
    the propagator also works as a global propagator for other carriers."""

    def extract(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        if getter is default_getter or type(getter) is DefaultGetter:
            return _native.extract(carrier, context)
        headers = []
        for name in _native.FIELDS:
            try:
                values = getter.get(carrier, name)
            except Exception:  # a getter failing on a bad carrier means: nothing to read
                values = None
            if isinstance(values, (str, bytes)):  # some getters return one value, not a list
                values = [values]
            if values:
                headers.extend((name, value) for value in values)
        return _native.extract(headers, context)

    def inject(
        self,
        carrier: CarrierT,
        context: Optional[Context] = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        if (setter is default_setter or type(setter) is DefaultSetter) and isinstance(carrier, list):
            _native.inject(carrier, context)
            return
        written = _native.inject([], context)
        for name, value in written:
            setter.set(carrier, name, value.decode("ascii"))

    @property
    def fields(self) -> Set[str]:
        return set(_native.FIELDS)
