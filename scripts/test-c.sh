#!/usr/bin/env bash
# The C ABI's full check: builds libkafka_trace, fails when include/kafka_trace.h is stale, runs the
# C tests and the shared vectors through the C API normally, under valgrind and with ASan/UBSan,
# compiles the header as C++, installs into a scratch prefix (pkg-config), builds the librdkafka
# examples and runs the end-to-end test against the broker at $KAFKA_BOOTSTRAP (the caller starts
# it; default 127.0.0.1:9092), then the librdkafka plugin test (kcat and a confluent-kafka
# producer loading the installed libkafka_trace.so by configuration; bindings-c/tests/plugin_test.py;
# not under valgrind/ASan: the clients are not ours to rebuild). Installs missing Debian packages first.
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
for pkg in gcc g++ make pkg-config valgrind librdkafka-dev python3 kcat; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
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

step "install into a scratch prefix (pkg-config) and build the librdkafka examples"
prefix="$root/target/c-install"
make -C bindings-c install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --modversion kafka-trace
# the companion header (librdkafka glue) as installed, C11 and C++17, with pkg-config's flags only
for std in "cc -std=c11 -x c" "c++ -std=c++17 -x c++"; do
    echo '#include <kafka_trace_rdkafka.h>' | $std -Wall -Wextra -Wpedantic -Werror -fsyntax-only $(pkg-config --cflags kafka-trace-rdkafka) -
done
bin="$root/target/c-examples"
mkdir -p "$bin/asan"
make -C examples/c BUILD="$bin" --always-make

if [ "${KT_C_SKIP_E2E:-0}" = 1 ]; then
    echo "skipping the end-to-end test (KT_C_SKIP_E2E=1)"
else
    step "end-to-end: C producer -> broker ($KAFKA_BOOTSTRAP) -> C forwarder -> C consumer, spans at an OTLP receiver"
    venv="$root/target/c-e2e-venv"
    if ! "$venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q opentelemetry-proto
    fi
    "$venv/bin/python" examples/c/e2e_test.py "$bin"
    step "end-to-end again with the examples built with ASan + UBSan"
    make -s -C examples/c BUILD="$bin/asan" --always-make \
        CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$venv/bin/python" examples/c/e2e_test.py "$bin/asan"
    step "end-to-end again with the examples under valgrind"
    "$venv/bin/python" examples/c/e2e_test.py "$bin" \
        valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect

    step "librdkafka plugin: kcat ($(kcat -V 2>&1 | grep -o 'librdkafka [0-9.]*')) and confluent-kafka load the installed libkafka_trace.so"
    if ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
        "$venv/bin/pip" install -q 'confluent-kafka>=2.0'
    fi
    # built with nothing but pkg-config, like a user's program
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror -O1 -g bindings-c/tests/plugin_current.c -o "$bin/plugin_current" \
        $(pkg-config --cflags --libs kafka-trace-rdkafka) -Wl,-rpath,"$prefix/lib"
    "$venv/bin/python" bindings-c/tests/plugin_test.py "$prefix/lib/libkafka_trace.so" "$bin"
fi

echo
echo "test-c: PASS"
