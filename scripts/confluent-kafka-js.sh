#!/usr/bin/env bash
# Installs Confluent's Kafka client for Node, @confluentinc/kafka-javascript (librdkafka underneath),
# built from source, once, into .cache/confluent-kafka-js/<key>/ (git-ignored), and prints the
# directory of the installed package (.../node_modules/@confluentinc/kafka-javascript) on stdout.
#
#   bash scripts/confluent-kafka-js.sh            # build (or reuse) and print the package directory
#   bash scripts/confluent-kafka-js.sh --link APP # the same, then link it into APP/node_modules
#
# How it builds: the package bundles librdkafka's source; its install step (node-pre-gyp) first
# tries to download a prebuilt binary from GitHub, which fails here (no network but the
# registries), and falls back to node-gyp. node-gyp takes Node's headers from the Node install
# (npm_config_nodedir=/usr, no download). The default static linking downloads zlib/OpenSSL/zstd/
# curl sources and fails offline; CKJS_LINKING=dynamic links librdkafka against Debian's
#   libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev liblz4-dev
# (scripts/install-deps.sh installs them). 213 s on a loaded 2-core machine (about 70 s quiet); later runs reuse
# the cache (the key is the client's version, Node's ABI and the build recipe's number).
# Needs Node >= 20.6 with npm, python3, make and a C/C++ toolchain.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${CKJS_VERSION:-1.10.1}"
abi="$(node -p 'process.versions.modules')"
recipe=1  # bump when the build steps below change (a new cache directory)
cache="$root/.cache/confluent-kafka-js/$version-node$abi-r$recipe"
pkg="$cache/node_modules/@confluentinc/kafka-javascript"

built() { [ -f "$cache/.done" ] && [ -f "$pkg/build/Release/confluent-kafka-javascript.node" ]; }

if ! built; then
    for h in /usr/include/openssl/ssl.h /usr/include/zlib.h /usr/include/zstd.h /usr/include/x86_64-linux-gnu/curl/curl.h \
             /usr/include/sasl/sasl.h /usr/include/lz4.h; do
        [ -e "$h" ] || [ -e "${h/x86_64-linux-gnu\//}" ] || {
            echo "[confluent-kafka-js] $h is missing: run scripts/install-deps.sh (Debian: libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev liblz4-dev)" >&2
            exit 1
        }
    done
    nodedir="${npm_config_nodedir:-/usr}"
    [ -f "$nodedir/include/node/node_api.h" ] || { echo "[confluent-kafka-js] Node's headers are not under $nodedir/include/node (set npm_config_nodedir)" >&2; exit 1; }
    echo "[confluent-kafka-js] building @confluentinc/kafka-javascript@$version from source into $cache (a few minutes, once)" >&2
    rm -rf "$cache" && mkdir -p "$cache"
    echo '{ "name": "confluent-kafka-js-build", "private": true }' > "$cache/package.json"
    start=$SECONDS
    (
        cd "$cache"
        export CKJS_LINKING=dynamic npm_config_nodedir="$nodedir"
        export npm_config_cache="${npm_config_cache:-$root/.cache/npm}"
        export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
        npm install --no-audit --no-fund --loglevel=error --foreground-scripts "@confluentinc/kafka-javascript@$version" >"$cache/build.log" 2>&1 \
            || { tail -n 40 "$cache/build.log" >&2; echo "[confluent-kafka-js] build failed; full log: $cache/build.log" >&2; exit 1; }
    )
    # The binary must load and be the dynamic build (librdkafka's own code inside, the codecs
    # and TLS from the system).
    node -e "const k = require('$pkg'); if (typeof k.KafkaJS?.Kafka !== 'function') throw new Error('no KafkaJS API'); console.error('[confluent-kafka-js] librdkafka ' + k.librdkafkaVersion + ', features: ' + k.features.join(','))"
    touch "$cache/.done"
    echo "[confluent-kafka-js] built in $((SECONDS - start)) s" >&2
fi

if [ "${1:-}" = "--link" ]; then
    app="${2:?--link needs the app directory}"
    mkdir -p "$app/node_modules/@confluentinc"
    rm -rf "$app/node_modules/@confluentinc/kafka-javascript"
    ln -s "$pkg" "$app/node_modules/@confluentinc/kafka-javascript"
fi
echo "$pkg"
