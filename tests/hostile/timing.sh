#!/usr/bin/env bash
# What hostile headers cost in every binding (a measurement, not a test): a 1 MB tracestate,
# 10,000 headers and 1,000 traceparent copies through extract, inject and a whole process span,
# median and max of 50 runs each. Uses what scripts/soak.sh builds and installs (run it first,
# e.g. `KT_SOAK_BINDINGS="rust c node python" bash scripts/soak.sh 1000`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
pc="$root/target/c-install/lib/pkgconfig"
venv="$root/.cache/python-test-venv"
[ -x "$venv/bin/python" ] || venv="$root/.cache/soak-venv"
echo "== Rust (core)"
cp Cargo.lock tests/soak/rust/Cargo.lock
(cd tests/soak/rust && CARGO_TARGET_DIR="$root/target" cargo build --release --quiet --bin hostile_timing)
target/release/hostile_timing
echo "== C ABI"
# shellcheck disable=SC2046
gcc -std=c11 -O2 -Wall -Wextra -Werror $(PKG_CONFIG_PATH="$pc" pkg-config --cflags kafka-trace) tests/hostile/timing.c \
    -o target/soak/timing-c $(PKG_CONFIG_PATH="$pc" pkg-config --libs kafka-trace) -Wl,-rpath,"$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir kafka-trace)"
target/soak/timing-c
echo "== Node"
cp tests/hostile/timing.js .cache/soak/node/timing.js
node .cache/soak/node/timing.js
echo "== Python"
"$venv/bin/python" tests/hostile/timing.py
