#!/usr/bin/env bash
# Instructions per operation under callgrind (load-independent, unlike the timing benches):
# each case runs twice with the same warm-up, then N1 or N2 operations; the report is
# (instructions of the N2 run - those of the N1 run) / (N2 - N1), so start-up, warm-up and most
# JIT compilation cancel out. V8's JIT still moves these by a few percent between runs; they
# count instructions, not time (a napi crossing costs more time per instruction than JavaScript).
# Node runs with --single-threaded (no concurrent JIT or GC threads): with them, when a background
# compile or GC step lands differs from run to run, and one case read 1,876 / 3,597 / 3,778
# instructions/op in three runs (the peer 2,252 to 8,223); single-threaded, within ~2%. The codec
# cases also run with --expose-gc: bench/insns.js finishes a major GC before counting.
#
#   bash bench/insns.sh [cases]     # default: extract-kt extract-peer inject-kt inject-peer
#   cases: the codec cases of bench/insns.js, or path-kt / path-peer / path-floor (one message
#   sent and processed through bench/path.js, no broker; KT_BENCH_SAMPLING as there; noisy:
#   two runs of one build differed by ~15%, from GC and JIT work that differ between the sizes)
#   KT_PACKAGE=/path/to/an/installed/kafka-trace: count another build of the package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases="${1:-extract-kt extract-peer inject-kt inject-peer}"
total() {
    local out
    out="$(mktemp)"
    valgrind --tool=callgrind --smc-check=all --callgrind-out-file="$out" "$@" >/dev/null 2>&1
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'
    rm -f "$out"
}
for c in $cases; do
    case "$c" in
        path-*)
            mode="${c#path-}"; [ "$mode" = kt ] && mode=kafka-trace; [ "$mode" = floor ] && mode=sdk-floor
            # path.js runs a warm-up round and one measured round of n messages each: 2n per run.
            n1=1000; n2=3000
            a="$(total node --single-threaded bench/path.js "$n1" 1 "$mode")"; b="$(total node --single-threaded bench/path.js "$n2" 1 "$mode")"
            echo "$c: $(( (b - a) / (2 * (n2 - n1)) )) instructions/message (send + process; path.js $n1 vs $n2)"
            ;;
        *)
            n1=20000; n2=120000
            a="$(total node --single-threaded --expose-gc bench/insns.js "$c" "$n1")"; b="$(total node --single-threaded --expose-gc bench/insns.js "$c" "$n2")"
            echo "$c: $(( (b - a) / (n2 - n1) )) instructions/op ($n1 vs $n2 ops)"
            ;;
    esac
done
