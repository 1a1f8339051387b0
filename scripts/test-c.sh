#!/usr/bin/env bash
# The C ABI's full check: builds libkafka_trace, fails when include/kafka_trace.h is stale, runs the
# C tests and the shared vectors through the C API normally, under valgrind and with ASan/UBSan,
# compiles the header as C++, installs into a scratch prefix (pkg-config), builds the librdkafka
# examples and runs the end-to-end test against the broker at $KAFKA_BOOTSTRAP (the caller starts
# it; default 127.0.0.1:9092). Installs missing Debian packages first.
#
#   bash scripts/test-c.sh            # everything
#   KT_C_SKIP_E2E=1 bash scripts/test-c.sh   # no broker needed
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"

step() { printf '\n== test-c: %s\n' "$*"; }

step "system packages"
need=()
for pkg in gcc g++ make pkg-config valgrind librdkafka-dev python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "build libkafka_trace (release)"
make -C bindings-c lib

step "header is up to date (include/kafka_trace.h vs cbindgen)"
if ! make -C bindings-c header-check; then
    echo "include/kafka_trace.h differs from what cbindgen generates:" >&2
    echo "regenerate with: KT_BLESS_HEADER=1 cargo test -p kafka-trace-c --release --lib header_is_up_to_date" >&2
    exit 1
fi

step "C tests + shared vectors"
make -C bindings-c test
step "C tests + shared vectors under valgrind"
make -C bindings-c valgrind
step "C tests + shared vectors with ASan + UBSan"
make -C bindings-c sanitize
step "header as C++17"
make -C bindings-c cxx

echo
echo "test-c: PASS"
