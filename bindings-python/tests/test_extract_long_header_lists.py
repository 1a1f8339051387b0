"""Header lists longer than the pairs extract holds in place (the rest go to the heap): the trace
headers are found at every position, the last tracestate wins, as the SDK's propagator reads them."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import kafka_trace


@pytest.mark.parametrize("others", [0, 1, 3, 4, 5, 8, 9, 19])
def test_trace_headers_anywhere_in_a_long_list(others):
    for pos in range(others + 1):
        headers = [("h%d" % i, b"v") for i in range(others)]
        tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-%016x-01" % (others * 100 + pos + 1)
        headers.insert(pos, ("traceparent", tp))
        headers.insert(pos // 2, ("tracestate", b"stale=1"))
        headers.append(("tracestate", b"a=%d" % pos))
        ours = trace.get_current_span(kafka_trace.extract(headers)).get_span_context()
        # The SDK's carrier: the last value of each trace header.
        sdk = trace.get_current_span(
            TraceContextTextMapPropagator().extract({k: v.decode() for k, v in headers})
        ).get_span_context()
        assert ours == sdk
        assert ours.span_id == others * 100 + pos + 1
        assert list(ours.trace_state.items()) == [("a", str(pos))] == list(sdk.trace_state.items())
