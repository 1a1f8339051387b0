#!/usr/bin/env bash
# Builds the prebuilt Node addon the npm package ships, bindings-node/kafka-trace.linux-x64-gnu.node
# (plus the generated native.js/native.d.ts), linked against glibc 2.17 symbols so it loads on
# every x86_64 Linux with glibc >= 2.17 (Debian 9+, Ubuntu 18.04+, RHEL/CentOS 7+, Amazon Linux 2),
# not only on systems as new as the build machine.
#
#   bash scripts/build-node-addon.sh               # (npm run build:native in bindings-node runs this)
#   bash scripts/build-node-addon.sh --check FILE  # only the glibc check, on any .node/.so file
#
# How: one release build through the napi CLI's --cross-compile, which runs `cargo zigbuild`;
# the target x86_64-unknown-linux-gnu.2.17 makes zig link against glibc 2.17's symbol versions.
# The file name, native.js and native.d.ts are exactly what a plain `napi build --platform` gives.
# Afterwards `objdump -T` must show no GLIBC_ symbol version above 2.17, or this script fails.
# On a host that is not x86_64 glibc Linux it is the plain `napi build` for that host (build from
# source); `npm run build:native:host` is that plain build anywhere (quick, no zig; not for shipping).
#
# The tools are installed once into .cache/node-build/ (git-ignored), pinned below:
#   cargo-zigbuild  from crates.io (cargo install --locked)
#   zig             the `ziglang` package from PyPI in a venv, called through a `zig` shim
# Needs: Rust (cargo), python3 with venv, Node with bindings-node's node_modules (npm ci), binutils.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

zigbuild_version="0.24.1"
ziglang_version="0.17.1"
glibc_max="2.17"
target="x86_64-unknown-linux-gnu.$glibc_max"
addon="$root/bindings-node/kafka-trace.linux-x64-gnu.node"

check_glibc() {
    command -v objdump >/dev/null || { echo "objdump (binutils) is needed to check the addon's glibc symbol versions" >&2; exit 1; }
    versions="$(objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV)"
    [ -n "$versions" ] || { echo "objdump -T shows no GLIBC_ symbol versions in $1" >&2; exit 1; }
    newest="$(tail -n 1 <<<"$versions")"
    if [ "$(printf '%s\n%s\n' "$newest" "$glibc_max" | sort -V | tail -n 1)" != "$glibc_max" ]; then
        echo "$1 needs glibc $newest (symbol versions: $(tr '\n' ' ' <<<"$versions")); the prebuilt addon must need at most $glibc_max" >&2
        exit 1
    fi
    echo "   $(basename "$1"): $(stat -c %s "$1") bytes, glibc symbol versions $(tr '\n' ' ' <<<"$versions")(<= $glibc_max)"
}

if [ "${1:-}" = --check ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 [--check FILE]" >&2; exit 2; }
    check_glibc "$2"
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--check FILE]" >&2
    exit 2
fi

# Only the linux-x64-gnu addon is prebuilt; on any other host (macOS, arm64, musl) this is the
# plain build from source for that host, as `napi build --platform` names it.
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ] || ! getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
    echo "== node addon: not an x86_64 glibc Linux host: napi build --release for this host"
    cd "$root/bindings-node"
    exec node_modules/.bin/napi build --platform --release --js native.js --dts native.d.ts
fi

tools="$root/.cache/node-build"
python="${PYTHON:-python3}"
began=$SECONDS

if [ "$("$tools/cargo-zigbuild/bin/cargo-zigbuild" --version 2>/dev/null)" != "cargo-zigbuild $zigbuild_version" ]; then
    echo "== node addon: cargo-zigbuild $zigbuild_version into $tools/cargo-zigbuild (once)"
    # Its own target dir (cargo's default for install), not the workspace's shared one.
    env -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET_DIR cargo install cargo-zigbuild --version "$zigbuild_version" \
        --locked --no-default-features --force --quiet --root "$tools/cargo-zigbuild"
fi
if [ "$("$tools/zig-venv/bin/python" -m ziglang version 2>/dev/null)" != "$ziglang_version" ]; then
    echo "== node addon: zig $ziglang_version (PyPI ziglang) into $tools/zig-venv (once)"
    rm -rf "$tools/zig-venv"
    "$python" -m venv "$tools/zig-venv"
    "$tools/zig-venv/bin/python" -m pip install --quiet --disable-pip-version-check "ziglang==$ziglang_version"
fi
mkdir -p "$tools/bin"
printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$tools/zig-venv/bin/python" > "$tools/bin/zig"
chmod +x "$tools/bin/zig"
export PATH="$tools/bin:$tools/cargo-zigbuild/bin:$PATH"
tools_seconds=$((SECONDS - began))

echo "== node addon: napi build --release --target $target (cargo zigbuild, zig $(zig version))"
cd "$root/bindings-node"
rm -f "$addon"
build_began=$SECONDS
# Its own cargo target dir: the same triple built with another linker (maturin's zig for the Python
# wheel, a plain `napi build`) in target/ would make each build recompile the other's crates.
node_modules/.bin/napi build --platform --release --cross-compile --target "$target" \
    --target-dir "${KT_NODE_ADDON_TARGET_DIR:-$root/target/node-addon}" --js native.js --dts native.d.ts
build_seconds=$((SECONDS - build_began))
[ -f "$addon" ] || { echo "the build wrote no $addon" >&2; exit 1; }

check_glibc "$addon"
echo "   tools ${tools_seconds} s, build ${build_seconds} s"
