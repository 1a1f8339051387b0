#!/usr/bin/env bash
# Instructions per message of each piece of path_pieces.py under callgrind: (Ir(3N) - Ir(N)) / 2N,
# the same differencing as callgrind_path.sh. env KT_BENCH_SAMPLING, PIECES (default: all).
#
#   KT_BENCH_SAMPLING=0.01 bash bindings-python/bench/pieces_callgrind.sh [PYTHON] [N]   # N <= 430 (the pool)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${1:-python3}"
n="${2:-400}"
pieces="${PIECES:-$("$python" "$here/path_pieces.py" --piece list)}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2.%p" "$python" "$here/path_pieces.py" \
        --piece "$1" --messages "$2" >/dev/null 2>"$out/log.$1.$2"
    grep -h '^summary:' "$out"/cg."$1"."$2".* | awk '{print $2}'
}
for piece in $pieces; do
    a="$(ir "$piece" "$n")"
    b="$(ir "$piece" $((3 * n)))"
    echo "$piece: $(( (b - a) / (2 * n) )) instructions/message (sampling ${KT_BENCH_SAMPLING:-1.0})"
done
