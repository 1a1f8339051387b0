#!/usr/bin/env bash
# Instructions per message spent in the kafka-trace C ABI by the throughput bench (throughput.c),
# counted by valgrind (callgrind, only inside kt_* calls: what the library costs the caller's
# thread, librdkafka and the SDK's background threads excluded), so the figure does not depend on
# the machine's load. Runs of N and 2N messages (kafka-trace mode), differenced: start-up cancels.
#   bash bindings-c/bench/insns.sh [N=1000]
# Needs valgrind and the broker at $KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
n="${1:-1000}"
bash bindings-c/bench/throughput.sh --build-only
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
count() { # SAMPLING METRICS MESSAGES
    KT_BENCH_ONLY=kafka-trace KT_BENCH_SAMPLING="$1" KT_BENCH_METRICS="$2" valgrind --tool=callgrind \
        --toggle-collect='kt_*' --callgrind-out-file="$tmp/cg" target/c-bench/throughput "$3" 1 >/dev/null 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    sed -n 's/^summary: //p' "$tmp/cg"
}
echo "| sampling | metrics | instructions per message in kt_* calls (send + process span) |"
echo "|---|---|---:|"
for sampling in 1.0 0.01; do
    for metrics in 1 0; do
        a=$(count "$sampling" "$metrics" "$n")
        b=$(count "$sampling" "$metrics" $((2 * n)))
        label=$([ "$sampling" = 1.0 ] && echo full || echo "1%")
        echo "| $label | $([ "$metrics" = 1 ] && echo on || echo off) | $(( (b - a) / n )) |"
    done
done
