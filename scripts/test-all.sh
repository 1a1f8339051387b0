#!/usr/bin/env bash
# Runs every test of the project against a real Kafka broker on 127.0.0.1, which it installs and
# starts with scripts/kafka.sh (and stops again, unless it was already running).
#
#   bash scripts/test-all.sh                 # every suite
#   KT_SUITES="rust c" bash scripts/test-all.sh   # a subset: rust c python node e2e
#
# Every suite runs even when an earlier one fails; the summary line and the exit code report all.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

port="${KAFKA_PORT:-9092}"
export KAFKA_BOOTSTRAP="127.0.0.1:${port}"
# python before node: the node suite's Confluent -> Python interop test uses the python suite's venv
suites="${KT_SUITES:-rust c python node e2e}"
started_here=0
stop_broker() {
    if [ "$started_here" = 1 ]; then bash scripts/kafka.sh stop || true; fi
}
trap stop_broker EXIT

if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    started_here=1
    bash scripts/kafka.sh start
fi

rust_suite() {
    echo "== shared vectors are up to date with their generator"
    python3 core/testdata/generate_vectors.py --check
    python3 core/testdata/generate_span_model_vectors.py --check
    echo "== scripts: the benchmark table (scripts/bench_table.py) from a fixture of BENCH_ROW lines"
    python3 -m unittest discover -s scripts/tests -p 'test_*.py'
    echo "== Rust: core (codec, carrier, vectors, properties, allocations, spans, CLI, real broker) and bindings"
    cargo test --workspace --features kafka-trace/rdkafka,kafka-trace/cli
}

passed=()
failed=()
run_suite() {
    local name="$1"
    shift
    local began=$SECONDS
    echo
    echo "######## suite: $name"
    if "$@"; then
        passed+=("$name ($((SECONDS - began)) s)")
    else
        failed+=("$name ($((SECONDS - began)) s)")
    fi
}

for suite in $suites; do
    case "$suite" in
        rust) run_suite rust rust_suite ;;
        c) run_suite c bash scripts/test-c.sh ;;
        node) run_suite node bash scripts/test-node.sh ;;
        python) run_suite python bash scripts/test-python.sh ;;
        e2e) if [ -f scripts/test-e2e.sh ]; then run_suite e2e bash scripts/test-e2e.sh; fi ;;
        *) echo "unknown suite $suite" >&2; failed+=("$suite (unknown)") ;;
    esac
done

echo
echo "######## suites passed: ${passed[*]:-none}"
echo "######## suites failed: ${failed[*]:-none}"
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
