#!/usr/bin/env bash
# Instructions per extract call (issue 12 item 4: extract >= 15x the SDK), load-independent:
# kafka_trace.extract and the SDK's TraceContextTextMapPropagator.extract (through bench_codec.py's
# list getter, as its peer rows) on bench_codec.py's confluent-kafka
# headers (traceparent + 3-member tracestate), each run under valgrind's callgrind with N and 3N
# calls: (Ir(3N) - Ir(N)) / 2N.
#
# Rows: `kafka-trace` and `sdk` extract the same headers every call (the issue's comparison);
# `kafka-trace/new-span` gives every call another parent span id of the same trace, and
# `kafka-trace/new-trace` another trace id and span id too (cycling through 4,096 prepared header
# lists, made in both runs alike): extract keeps the spans it made for the last 8 trace contexts,
# so these two rows are what a message with a trace context not seen just before costs.
#
#   bash bindings-python/bench/extract_callgrind.sh [PYTHON] [N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${1:-python3}"
n="${2:-2000}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$python" - "$1" "$2" >/dev/null 2>"$out/log" <<PY
import sys
sys.path.insert(0, "$here")
from bench_codec import HEADERS, ListGetter
side, n = sys.argv[1], int(sys.argv[2])
if side == "kafka-trace":
    from kafka_trace import extract
    for _ in range(n):
        extract(HEADERS)
elif side.startswith("kafka-trace/"):
    from kafka_trace import extract
    new_trace = side.endswith("new-trace")
    ts = HEADERS[1]
    pool = [
        [("traceparent", b"00-%032x-%016x-01" % ((i + 1) * 0x9E3779B97F4A7C15 if new_trace else 0x4BF92F3577B34DA6A3CE929D0E0E4736, i + 1)), ts]
        for i in range(4096)
    ]
    for i in range(n):
        extract(pool[i & 4095])
else:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    p, g = TraceContextTextMapPropagator(), ListGetter()
    for _ in range(n):
        p.extract(HEADERS, getter=g)
PY
    grep -h '^summary:' "$out"/cg.* | awk '{print $2}'
    rm -f "$out"/cg.*
}
for side in ${SIDES:-kafka-trace kafka-trace/new-span kafka-trace/new-trace sdk}; do
    a="$(ir "$side" "$n")"
    b="$(ir "$side" $((3 * n)))"
    echo "$side: $(( (b - a) / (2 * n) )) instructions/extract"
done
