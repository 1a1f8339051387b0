#!/usr/bin/env bash
# Builds the Python distributions users install, into dist/python/:
#
#   kafka_trace-<v>-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
#       one wheel for CPython >= 3.9 on x86_64 Linux with glibc >= 2.17 (Debian 9+, Ubuntu 18.04+,
#       RHEL/CentOS 7+, Amazon Linux 2): maturin links through zig against glibc 2.17 symbols;
#       `auditwheel show` must agree with the tag, or this script fails.
#   kafka_trace-<v>.tar.gz
#       the sdist (the binding and the core crate): `pip install` builds it with maturin and a Rust
#       toolchain where no wheel fits.
#   kafka_trace-<v>-cp39-abi3-musllinux_1_2_x86_64.whl
#       only when the Rust standard library for x86_64-unknown-linux-musl is installed.
#
#   bash scripts/build-python-wheels.sh                # wheel(s) + sdist
#   bash scripts/build-python-wheels.sh --check-sdist  # also: pip builds the sdist in a fresh venv
#                                                      # and the wheel it gives is smoke-tested
#
# The build tools (maturin, ziglang, auditwheel; pinned below) live in .cache/python-build-venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

check_sdist=0
for arg in "$@"; do
    case "$arg" in
        --check-sdist) check_sdist=1 ;;
        *) echo "usage: $0 [--check-sdist]" >&2; exit 2 ;;
    esac
done

python="${PYTHON:-python3}"
tools="$root/.cache/python-build-venv"
out="$root/dist/python"
tag="manylinux_2_17_x86_64"

if [ ! -x "$tools/bin/maturin" ] || ! "$tools/bin/python" -c 'import ziglang, auditwheel' 2>/dev/null; then
    echo "== build tools into $tools"
    rm -rf "$tools"
    "$python" -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --upgrade pip
fi
"$tools/bin/python" -m pip install --quiet "maturin>=1.16,<1.17" "ziglang==0.17.1" "auditwheel==6.8.2"
export PATH="$tools/bin:$PATH"

rm -rf "$out"
mkdir -p "$out"

echo "== wheel: manylinux2014 (glibc 2.17) x86_64 abi3, linked with zig $(python -m ziglang version)"
began=$SECONDS
# --strip: no debug info in the shipped library (the workspace's release profile keeps some).
maturin build --release --strip --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu \
    -m bindings-python/Cargo.toml -o "$out"
wheel="$(ls "$out"/kafka_trace-*-cp39-abi3-*manylinux_2_17_x86_64*.whl)"
echo "   built $(basename "$wheel") in $((SECONDS - began)) s, $(stat -c %s "$wheel") bytes"

echo "== auditwheel show"
report="$(auditwheel show "$wheel")"
echo "$report"
flat="$(echo "$report" | tr '\n' ' ' | tr -s ' ')"
if ! grep -q "is consistent with the following platform tag: \"$tag\"" <<<"$flat"; then
    echo "auditwheel does not find $(basename "$wheel") consistent with $tag" >&2
    exit 1
fi
case "$(basename "$wheel")" in
    *-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) ;;
    *) echo "unexpected wheel tag: $(basename "$wheel")" >&2; exit 1 ;;
esac

echo "== sdist"
maturin sdist -m bindings-python/Cargo.toml -o "$out"
sdist="$(ls "$out"/kafka_trace-*.tar.gz)"
# The core crate must be inside: pip builds the sdist without this repository.
tar tzf "$sdist" | grep -c '/core/src/lib.rs$' >/dev/null || { echo "the sdist lacks the core crate" >&2; exit 1; }
echo "   $(basename "$sdist"), $(stat -c %s "$sdist") bytes"

musl_std="$(rustc --print target-libdir --target x86_64-unknown-linux-musl 2>/dev/null || true)"
if [ -n "$musl_std" ] && ls "$musl_std"/libstd-*.rlib >/dev/null 2>&1; then
    echo "== wheel: musllinux_1_2 x86_64 abi3"
    maturin build --release --strip --zig --compatibility musllinux_1_2 --target x86_64-unknown-linux-musl \
        -m bindings-python/Cargo.toml -o "$out"
else
    echo "NOTICE: no musllinux wheel: the Rust standard library for x86_64-unknown-linux-musl is not" \
        "installed (rustup target add x86_64-unknown-linux-musl)"
fi

if [ "$check_sdist" = 1 ]; then
    echo "== sdist: pip builds it in a fresh venv (maturin from PyPI, the Rust toolchain on PATH)"
    venv="$root/.cache/python-sdist-venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    began=$SECONDS
    # The shared target dir only saves recompiling crates.io dependencies; the sources are the sdist's.
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" "$venv/bin/python" -m pip install --quiet --no-cache-dir "$sdist" opentelemetry-api
    echo "   built and installed from the sdist in $((SECONDS - began)) s"
    (cd /tmp && "$venv/bin/python" - <<'EOF'
import kafka_trace
from kafka_trace import KafkaTracing, extract_parts, inject
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

assert "/.cache/python-sdist-venv/" in kafka_trace.__file__, kafka_trace.__file__
sc = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1))
headers = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
headers = inject(headers, trace.set_span_in_context(NonRecordingSpan(sc))) or headers
assert headers == [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")], headers
assert extract_parts(headers).traceparent.span_id == "b7ad6b7169203331"
KafkaTracing()
print("   the wheel built from the sdist works: kafka_trace", kafka_trace.__version__)
EOF
    )
fi

echo "== dist/python:"
ls -l "$out"
