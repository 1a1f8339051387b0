#!/usr/bin/env bash
# The Node.js part of the test suite: builds the napi-rs addon and the TypeScript facade, packs
# the npm tarball (with the prebuilt linux-x64-gnu binary), installs that tarball into two fresh
# apps (OpenTelemetry JS 2.x and 3.x, unpinned as the seed tutorial installs) and the NestJS
# example, and runs the tests (bindings-node/test-project/test) against the broker at $KAFKA_BOOTSTRAP
# (default 127.0.0.1:9092; the caller starts it, e.g. with scripts/kafka.sh start).
# Needs Node >= 20.6 with npm, Rust, python3 and binutils; the rest comes from the npm registry,
# crates.io (cargo-zigbuild) and PyPI (ziglang), see scripts/build-node-addon.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
start=$SECONDS

echo "== node: build the addon and the facade (bindings-node)"
cd "$root/bindings-node"
npm ci --no-audit --no-fund --loglevel=error
# One release build with zig against glibc 2.17 (scripts/build-node-addon.sh; its tools are
# installed once into .cache/node-build).
npm run --silent build:native
npm run --silent build:ts

echo "== node: pack"
rm -f kafka-trace-*.tgz
tarball="$root/bindings-node/$(npm pack --silent | tail -n 1)"
listing="$(tar tzf "$tarball")"
if ! grep -qx 'package/kafka-trace.linux-x64-gnu.node' <<<"$listing"; then
    echo "the tarball $tarball has no prebuilt linux-x64-gnu binary" >&2
    exit 1
fi
for f in package/dist/index.js package/dist/index.mjs package/dist/index.d.ts package/native.js package/native.d.ts package/register.mjs; do
    grep -qx "$f" <<<"$listing" || { echo "the tarball lacks $f" >&2; exit 1; }
done
# The binary in the tarball is the one built for glibc 2.17.
unpacked="$(mktemp -d)"
tar xzf "$tarball" -C "$unpacked" package/kafka-trace.linux-x64-gnu.node
bash "$root/scripts/build-node-addon.sh" --check "$unpacked/package/kafka-trace.linux-x64-gnu.node"
rm -rf "$unpacked"
echo "packed $tarball ($(du -h "$tarball" | cut -f1))"

# The package tests run in two fresh apps, installed the way the seed tutorial installs things:
# unpinned, no --force/--legacy-peer-deps. Today npm resolves the seed's unpinned command to the
# OpenTelemetry JS 2.x line (api 1.9, sdk-node 0.2xx); the 3.x app pins only sdk-node's line.
# The apps are rebuilt from scratch on every run (under .cache/, git-ignored); npm's download
# cache (.cache/npm) keeps the installs fast.
export npm_config_cache="${npm_config_cache:-$root/.cache/npm}"
seed_2x=(@opentelemetry/sdk-node @opentelemetry/exporter-trace-otlp-http @opentelemetry/api kafkajs)
seed_3x=("@opentelemetry/sdk-node@>=0.300 <0.400" @opentelemetry/exporter-trace-otlp-http @opentelemetry/api kafkajs)
# What the tests themselves use besides the seed's set: unpinned in the 2.x app; in the 3.x app
# npm's unpinned pick for these is also the 2.x line, so they are pinned to the 3.x line there.
test_deps_2x=(@opentelemetry/sdk-trace @opentelemetry/sdk-metrics @opentelemetry/context-async-hooks @opentelemetry/core
    @opentelemetry/instrumentation @opentelemetry/instrumentation-kafkajs fast-check)
test_deps_3x=(@opentelemetry/sdk-trace@^3 @opentelemetry/sdk-metrics@^3 @opentelemetry/context-async-hooks@^3 @opentelemetry/core@^3
    "@opentelemetry/instrumentation@>=0.300 <0.400" "@opentelemetry/instrumentation-kafkajs@>=0.33" fast-check)
# Confluent's client (@confluentinc/kafka-javascript) built from source once (scripts/confluent-kafka-js.sh,
# cached under .cache/confluent-kafka-js) and linked into each app; our Python consumer for its
# interop test is the venv scripts/test-python.sh makes (test-all.sh runs the python suite first);
# the Rust consumer example is built here when missing. Run alone without that venv, the Python
# interop test is skipped, and this says so.
bash "$root/scripts/confluent-kafka-js.sh" >/dev/null
py_venv="$root/.cache/python-test-venv/bin/python"
if [ -z "${KT_PYTHON:-}" ] && [ -x "$py_venv" ] && "$py_venv" -c 'import confluent_kafka, kafka_trace.confluent, opentelemetry.sdk.trace' 2>/dev/null; then export KT_PYTHON="$py_venv"; fi
if [ -z "${KT_PYTHON:-}" ]; then
    echo "NOTICE: no Python test venv (run scripts/test-python.sh first): the Confluent -> Python interop test will be SKIPPED"
fi
rust_consumer="$root/target/debug/examples/rust_consumer"
if [ -z "${KT_RUST_CONSUMER:-}" ]; then
    (cd "$root" && cargo build -q -p kafka-trace --features rdkafka,otlp --example rust_consumer)
    export KT_RUST_CONSUMER="$rust_consumer"
fi
export KT_VECTORS="$root/core/testdata/trace_context_vectors.json"
export KT_SPAN_VECTORS="$root/core/testdata/span_model_vectors.json"
for line in 2 3; do
    app="$root/.cache/node-apps/otel$line"
    echo "== node: fresh app on the OpenTelemetry JS $line.x line ($app)"
    rm -rf "$app" && mkdir -p "$app" && cd "$app"
    echo '{ "name": "kafka-trace-app-otel'"$line"'", "private": true }' > package.json
    seed="seed_${line}x[@]"
    npm install --no-audit --no-fund --loglevel=error "$tarball" "${!seed}"
    deps="test_deps_${line}x[@]"
    npm install --no-audit --no-fund --loglevel=error "${!deps}"
    sdk="$(node -p "require('./node_modules/@opentelemetry/sdk-node/package.json').version")"
    api="$(node -p "require('./node_modules/@opentelemetry/api/package.json').version")"
    inst="$(node -p "require('./node_modules/@opentelemetry/instrumentation/package.json').version")"
    echo "resolved: @opentelemetry/sdk-node $sdk, @opentelemetry/api $api, @opentelemetry/instrumentation $inst"
    case "$line:$sdk" in
        2:0.2*|3:0.3*) ;;
        *) echo "the otel$line app landed on sdk-node $sdk, not the $line.x line" >&2; exit 1 ;;
    esac
    bash "$root/scripts/confluent-kafka-js.sh" --link "$app" >/dev/null
    cp -r "$root/bindings-node/test-project/test" "$root/bindings-node/test-project/support" .
    # 300 s a file: the hostile broker test (10,000 headers, 1 MB tracestate) took over 120 s in
    # KafkaJS and the broker at load 10+ on this 2-core machine.
    node --test --test-concurrency=1 --test-timeout=300000 test/
done

if [ -d "$root/examples/nestjs" ]; then
    echo "== node: NestJS example (installs the tarball, builds, runs nest1 -> nest2 -> nest3)"
    cd "$root/examples/nestjs"
    npm ci --no-audit --no-fund --loglevel=error
    npm install --no-save --no-audit --no-fund --loglevel=error "$tarball"
    npm run --silent build
    node --test --test-timeout=180000 test/
fi
echo "== node: done in $((SECONDS - start)) s"
