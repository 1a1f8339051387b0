#!/usr/bin/env bash
# C throughput on the real broker: plain librdkafka vs the kafka-trace C ABI (throughput.c), modes
# alternating round by round; prints the rounds on stderr and BENCH_ROW lines (group c-librdkafka)
# on stdout.
#   bash bindings-c/bench/throughput.sh [MESSAGES=20000] [ROUNDS=5]
#   KT_BENCH_SAMPLING=0.01 bash bindings-c/bench/throughput.sh    # ParentBased(TraceIdRatio(0.01))
#   KT_BENCH_METRICS=0 bash bindings-c/bench/throughput.sh        # the tracer's metrics off
#   bash bindings-c/bench/throughput.sh --build-only               # target/c-bench/throughput
# Needs librdkafka-dev and the broker at $KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cargo build -q -p kafka-trace-c --release
mkdir -p target/c-bench
${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -Iinclude bindings-c/bench/throughput.c -o target/c-bench/throughput \
    target/release/libkafka_trace.a $(pkg-config --libs rdkafka) -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
[ "${1:-}" = --build-only ] && exit 0
exec target/c-bench/throughput "$@"
