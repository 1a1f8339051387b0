#!/usr/bin/env bash
# Instructions per message of the rdkafka throughput example (throughput.rs), per mode and
# sampling, counted by valgrind (callgrind, every thread of the process: the caller's, librdkafka's
# and the SDK's batch processor), so the figure does not depend on the machine's load. Runs of N
# and 2N messages of one mode, differenced: start-up, topic creation and connection cancel.
#   bash core/examples/throughput_insns.sh [--no-broker] [N] [MODES=none,sdk-floor,kafka-trace] [SAMPLINGS="1.0 0.01"]
# Needs valgrind and the broker at $KAFKA_BOOTSTRAP (default 127.0.0.1:9092). librdkafka's
# batching depends on timing, so the broker figures move by about 1k instructions between runs.
#
# --no-broker counts executor_insns.rs instead (default N=20000): the same span work per message
# (cached send span, header write, header read, cached process span, attach, end) without rdkafka,
# repeatable to about 0.1k. KT_BENCH_METRICS=1 adds the messaging metrics there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
example=throughput features=rdkafka default_n=2000
if [ "${1:-}" = --no-broker ]; then
    example=executor_insns features=otel default_n=20000
    shift
fi
n="${1:-$default_n}"
modes="${2:-none,sdk-floor,kafka-trace}"
samplings="${3:-1.0 0.01}"
cargo build -q --release -p kafka-trace --features "$features" --example "$example"
bin="$root/target/release/examples/$example"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
count() { # MODE SAMPLING MESSAGES
    KT_BENCH_MODES="$1" KT_BENCH_SAMPLING="$2" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
        "$bin" "$3" 1 >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    sed -n 's/^summary: //p' "$tmp/cg"
}
echo "| mode | sampling | instructions per message (all threads; $example${KT_BENCH_METRICS:+, metrics $KT_BENCH_METRICS}) |"
echo "|---|---|---:|"
for sampling in $samplings; do
    for mode in ${modes//,/ }; do
        a=$(count "$mode" "$sampling" "$n")
        b=$(count "$mode" "$sampling" $((2 * n)))
        label=$([ "$sampling" = 1.0 ] && echo full || echo "1%")
        echo "| $mode | $label | $(( (b - a) / n )) |"
    done
done
