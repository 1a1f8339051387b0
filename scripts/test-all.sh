#!/usr/bin/env bash
# Runs every test of the project against a real Kafka broker on 127.0.0.1, which it installs and
# starts with scripts/kafka.sh (and stops again, unless it was already running).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

port="${KAFKA_PORT:-9092}"
export KAFKA_BOOTSTRAP="127.0.0.1:${port}"
started_here=0
stop_broker() {
    if [ "$started_here" = 1 ]; then bash scripts/kafka.sh stop || true; fi
}
trap stop_broker EXIT

if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    started_here=1
    bash scripts/kafka.sh start
fi

echo "== shared vectors are up to date with their generator"
python3 core/testdata/generate_vectors.py --check

echo "== Rust: core (codec, carrier, vectors, properties, allocations, CLI, real broker) and bindings"
cargo test --workspace --features kafka-trace/rdkafka,kafka-trace/cli
