#!/usr/bin/env bash
# C call overhead on the hot path: bench.c (through the C ABI) against benches/baseline.rs (the
# core called directly from Rust), same input, same timing method, alternated REPEAT times; the
# best figure of each wins (other processes only ever make a run slower). Prints markdown tables
# and BENCH_ROW lines (group c-abi: mode kafka-trace = through the C ABI, bare = the Rust core).
#   bash bindings-c/bench/run.sh [REPEAT=3] [ITERATIONS=200000 per round]
#   KT_BENCH_INSNS=0 bash bindings-c/bench/run.sh    # skip the instruction counts (valgrind)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
repeat="${1:-3}"
iters="${2:-}"
cargo build -q -p kafka-trace-c --release
cargo bench -q -p kafka-trace-c --bench baseline --no-run 2>/dev/null
baseline=$(ls -t target/release/deps/baseline-* | grep -v '\.d$' | head -1)
mkdir -p target/c-bench
${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -Iinclude bindings-c/bench/bench.c -o target/c-bench/bench \
    target/release/libkafka_trace.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
out=$(for _ in $(seq "$repeat"); do target/c-bench/bench $iters; "$baseline" $iters; done)
echo "$out" | python3 -c '
import json, sys
best = {}
for line in sys.stdin:
    name, ns, _ = line.split()
    best[name] = min(best.get(name, 1e18), float(ns))
print("| operation | Rust core (ns/op) | C ABI (ns/op) | C overhead (ns) |")
print("|---|---:|---:|---:|")
for op in ("extract", "inject", "extract+inject"):
    r, c = best["rust/" + op], best["c/" + op]
    print(f"| {op} | {r:.1f} | {c:.1f} | {c - r:+.1f} |")
for op in ("extract", "inject", "extract+inject"):
    for mode, key in (("kafka-trace", "c/"), ("bare", "rust/")):
        row = {"group": "c-abi", "row": f"{op}, C ABI vs the Rust core", "mode": mode, "sampling": "full",
               "value": round(best[key + op], 1), "unit": "ns/op", "cpu_us_per_msg": None}
        print("BENCH_ROW " + json.dumps(row))
'

# Instructions per operation (deterministic, immune to the machine's load): valgrind
# cachegrind totals at N and 2N iterations, differenced to cancel start-up.
if [ "${KT_BENCH_INSNS:-1}" = 1 ] && command -v valgrind >/dev/null; then
    insns() { valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*I *refs: *//p' | tr -d ,; }
    echo
    echo "| operation | Rust core (instructions/op) | C ABI (instructions/op) | C overhead (instructions) |"
    echo "|---|---:|---:|---:|"
    n=500
    for op in 0 1 2; do
        r=$(( ($(insns "$baseline" $((2 * n)) $op) - $(insns "$baseline" $n $op)) / (31 * n) ))
        c=$(( ($(insns target/c-bench/bench $((2 * n)) $op) - $(insns target/c-bench/bench $n $op)) / (31 * n) ))
        name=$(echo "extract inject extract+inject" | cut -d' ' -f$((op + 1)))
        echo "| $name | $r | $c | $((c - r)) |"
    done
fi
