#!/usr/bin/env bash
# Instructions per message of bench_path.py under valgrind's callgrind: the same mode run with
# N and 3N messages, (Ir(3N) - Ir(N)) / 2N, so start-up and imports cancel out. Load-independent.
# KT_BENCH_EXPORT_AT_SHUTDOWN=1: spans are exported only at the end (bench_path.py
# --export-at-shutdown), so counts repeat run to run; otherwise the batch processor's timer-driven
# exports land at load-dependent points (full sampling: up to ~13k per message between runs).
#
#   bash bindings-python/bench/callgrind_path.sh [PYTHON] [MESSAGES]   # env KT_BENCH_SAMPLING, MODES
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${1:-python3}"
n="${2:-1000}"
modes="${MODES:-none sdk-floor kafka-trace}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$python" "$here/bench_path.py" \
        --mode "$1" --messages "$2" --rounds 1 --warmup 200 ${KT_BENCH_EXPORT_AT_SHUTDOWN:+--export-at-shutdown} \
        >/dev/null 2>"$out/log"
    grep -h '^summary:' "$out"/cg.* | awk '{print $2}'
    rm -f "$out"/cg.*
}
for mode in $modes; do
    a="$(ir "$mode" "$n")"
    b="$(ir "$mode" $((3 * n)))"
    echo "$mode: $(( (b - a) / (2 * n) )) instructions/message (sampling ${KT_BENCH_SAMPLING:-1.0})"
done
