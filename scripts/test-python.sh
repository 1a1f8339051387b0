#!/usr/bin/env bash
# The Python part of the test suite: builds the kafka-trace wheel, installs it into a fresh venv
# under .cache/ with the test dependencies, and runs pytest against the broker at
# $KAFKA_BOOTSTRAP (default 127.0.0.1:9092; the caller starts it, e.g. scripts/kafka.sh start).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
python="${PYTHON:-python3}"
venv="$root/.cache/python-test-venv"
wheels="$root/target/wheels-python"

echo "== Python: fresh venv in $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "maturin>=1.16,<1.17"

echo "== Python: build the abi3 wheel"
rm -rf "$wheels"
"$venv/bin/maturin" build --release -m bindings-python/Cargo.toml -o "$wheels"
wheel="$(ls "$wheels"/kafka_trace-*.whl | head -n 1)"

echo "== Python: install $(basename "$wheel") and the test dependencies"
"$venv/bin/python" -m pip install --quiet "$wheel" -r bindings-python/requirements-test.txt
# The installed wheel is what is tested, not the source tree.
"$venv/bin/python" -c 'import kafka_trace, sys; print("kafka_trace", kafka_trace.__version__, "from", kafka_trace.__file__)'

echo "== Python: pytest against Kafka at $KAFKA_BOOTSTRAP"
set +e
(cd bindings-python && "$venv/bin/python" -m pytest -p no:cacheprovider "$@")
status=$?
set -e
if [ "$status" = 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
