#!/usr/bin/env bash
# Installs what a fresh machine of this project's kind lacks. Idempotent: skips what is present.
# Rust (stable), Java 17, Maven, Python 3 and a C toolchain come with the machine image.
set -euo pipefail

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
# The C throughput bench (bindings-c/bench/throughput.sh) and the C examples link the system's
# librdkafka.
dpkg -s librdkafka-dev >/dev/null 2>&1 || need_apt+=(librdkafka-dev)
# @confluentinc/kafka-javascript built from source with librdkafka linked dynamically against these
# (scripts/confluent-kafka-js.sh; CKJS_LINKING=dynamic).
for p in libssl-dev libzstd-dev libcurl4-openssl-dev libsasl2-dev liblz4-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "[install-deps] apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v cargo >/dev/null || { echo "[install-deps] cargo is missing: install Rust with rustup" >&2; exit 1; }
echo "[install-deps] ok"
