#!/usr/bin/env bash
# The Node.js part of the test suite: builds the napi-rs addon and the TypeScript facade, packs
# the npm tarball (with the prebuilt linux-x64-gnu binary), installs that tarball into the test
# project and the NestJS example, and runs the tests against the broker at $KAFKA_BOOTSTRAP
# (default 127.0.0.1:9092; the caller starts it, e.g. with scripts/kafka.sh start).
# Needs Node >= 20 with npm and Rust; everything else comes from the npm registry (npm ci).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
start=$SECONDS

echo "== node: build the addon and the facade (bindings-node)"
cd "$root/bindings-node"
# npm 11 leaves the other platforms' optional packages of @napi-rs/cli's lzma out of the lock
# file, which `npm ci` then rejects; `npm install` keeps the locked versions.
npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
npm run --silent build:native
npm run --silent build:ts

echo "== node: pack"
rm -f kafka-trace-*.tgz
tarball="$(npm pack --silent | tail -n 1)"
listing="$(tar tzf "$tarball")"
if ! grep -qx 'package/kafka-trace.linux-x64-gnu.node' <<<"$listing"; then
    echo "the tarball $tarball has no prebuilt linux-x64-gnu binary" >&2
    exit 1
fi
for f in package/dist/index.js package/dist/index.mjs package/dist/index.d.ts package/native.js package/native.d.ts; do
    grep -qx "$f" <<<"$listing" || { echo "the tarball lacks $f" >&2; exit 1; }
done
echo "packed $tarball ($(du -h "$tarball" | cut -f1))"

echo "== node: tests of the installed tarball against the broker at $KAFKA_BOOTSTRAP"
cd "$root/bindings-node/test-project"
npm ci --no-audit --no-fund --loglevel=error
npm install --no-save --no-audit --no-fund --loglevel=error "../$tarball"
node --test --test-concurrency=1 --test-timeout=120000 test/

if [ -d "$root/examples/nestjs" ]; then
    echo "== node: NestJS example (installs the tarball, builds, runs nest1 -> nest2 -> nest3)"
    cd "$root/examples/nestjs"
    npm ci --no-audit --no-fund --loglevel=error
    npm install --no-save --no-audit --no-fund --loglevel=error "$root/bindings-node/$tarball"
    npm run --silent build
    node --test --test-timeout=180000 test/
fi
echo "== node: done in $((SECONDS - start)) s"
