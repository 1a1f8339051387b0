#!/usr/bin/env bash
# The Python part of the test suite: installs the manylinux2014 wheel users get (dist/python/, built
# by scripts/build-python-wheels.sh when absent or older than the sources) into a fresh venv under
# .cache/ with the test dependencies, and runs pytest against the broker at $KAFKA_BOOTSTRAP
# (default 127.0.0.1:9092; the caller starts it, e.g. scripts/kafka.sh start).
#
# When it builds, the sdist is built too and checked (pip builds it in another fresh venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
python="${PYTHON:-python3}"
venv="$root/.cache/python-test-venv"
dist="$root/dist/python"

wheel="$(ls "$dist"/kafka_trace-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl 2>/dev/null | head -n 1 || true)"
if [ -n "$wheel" ]; then
    newer="$(find bindings-python/src bindings-python/python bindings-python/Cargo.toml bindings-python/pyproject.toml \
        core/src core/Cargo.toml Cargo.toml Cargo.lock -newer "$wheel" -type f ! -name '*.so' ! -name '*.pyc' 2>/dev/null | head -n 1)"
    if [ -n "$newer" ]; then
        echo "== Python: $(basename "$wheel") is older than $newer: rebuilding"
        wheel=""
    fi
fi
if [ -z "$wheel" ]; then
    echo "== Python: build the wheel and the sdist (scripts/build-python-wheels.sh --check-sdist)"
    began=$SECONDS
    bash scripts/build-python-wheels.sh --check-sdist
    echo "== Python: built in $((SECONDS - began)) s"
    wheel="$(ls "$dist"/kafka_trace-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl)"
fi

echo "== Python: fresh venv in $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip

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
