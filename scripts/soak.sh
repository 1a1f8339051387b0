#!/usr/bin/env bash
# Soak: MESSAGES traced messages (default 1,000,000) through each binding, produce -> consume ->
# forward -> consume, against the real broker on 127.0.0.1:$KAFKA_PORT (started with
# scripts/kafka.sh if it is down, and stopped again), with the tracing backend alternately up and
# down: an OTLP/HTTP receiver on loopback (tests/soak/otlp_sink.py) that is up KT_SOAK_UP seconds
# (default 10) and down KT_SOAK_DOWN seconds (default 5), in turn, the whole time.
#
#   bash scripts/soak.sh [MESSAGES]
#   KT_SOAK_BINDINGS="rust c" bash scripts/soak.sh 100000
#
# One program per binding (tests/soak/: rust/, soak.c, soak.js, soak.py), run one after another,
# each printing one JSON line; the summary reports per binding: messages lost and duplicated at
# the last consumer (both must be 0), spans ended/exported/failed/dropped (the binding's own
# counters) and spans the receiver got, and resident memory after warm-up (a tenth of the
# messages) and at the end (growth must be <= KT_SOAK_MAX_GROWTH_MB, default 20; for Rust, whose
# trimmed RSS counts its arenas' fragmentation, the heap still in use after every thread joined
# must be within the same bound instead). Exits non-zero
# when a check fails. Results: target/soak/results.jsonl, logs: target/soak/*.log.
#
# Needs what the test suites need: Rust, gcc + librdkafka-dev + pkg-config (C), Node >= 20 with
# npm (Node; the kafka-trace tarball bindings-node/kafka-trace-*.tgz from scripts/test-node.sh, or
# it is built here), Python 3 (the venv of scripts/test-python.sh, or one is built here).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

messages="${1:-1000000}"
if ! [[ "$messages" =~ ^[0-9]+$ ]] || [ "$messages" -lt 10 ]; then
    echo "usage: $0 [MESSAGES >= 10]" >&2
    exit 2
fi
bindings="${KT_SOAK_BINDINGS:-rust c node python}"
port="${KAFKA_PORT:-9092}"
bootstrap="127.0.0.1:${port}"
otlp_port="${KT_SOAK_OTLP_PORT:-4399}"
up="${KT_SOAK_UP:-10}"
down="${KT_SOAK_DOWN:-5}"
max_growth_mb="${KT_SOAK_MAX_GROWTH_MB:-20}"
out="${KT_SOAK_OUT:-$root/target/soak}"
mkdir -p "$out"
: >"$out/results.jsonl"
start=$SECONDS
log() { printf '[soak] %s\n' "$*" >&2; }

started_broker=0
sink_pid=""
cleanup() {
    if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; fi
    if [ "$started_broker" = 1 ]; then bash scripts/kafka.sh stop >/dev/null || true; fi
}
trap cleanup EXIT
if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
    started_broker=1
    bash scripts/kafka.sh start
fi

# --- Python: the test venv (scripts/test-python.sh), or a fresh one with the wheel --------------
venv="$root/.cache/python-test-venv"
python_ok() { "$venv/bin/python" -c 'import kafka_trace, confluent_kafka, opentelemetry.exporter.otlp.proto.http, opentelemetry.proto' 2>/dev/null; }
if ! python_ok; then
    venv="$root/.cache/soak-venv"
    if ! python_ok; then
        log "building a Python venv with the kafka-trace wheel in $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip "maturin>=1.16,<1.17"
        rm -rf "$out/wheels"
        "$venv/bin/maturin" build --release -m bindings-python/Cargo.toml -o "$out/wheels"
        "$venv/bin/python" -m pip install --quiet "$out"/wheels/kafka_trace-*.whl -r bindings-python/requirements-test.txt
    fi
fi
py="$venv/bin/python"

# --- build what the selected bindings need -----------------------------------------------------
for b in $bindings; do
    case "$b" in
        rust)
            log "building the Rust soak (tests/soak/rust, release, shared target/)"
            cp Cargo.lock tests/soak/rust/Cargo.lock
            (cd tests/soak/rust && CARGO_TARGET_DIR="$root/target" cargo build --release --quiet)
            ;;
        c)
            log "building the C library (make -C bindings-c install) and the C soak"
            prefix="$root/target/c-install"
            make -s -C bindings-c install PREFIX="$prefix" >/dev/null
            pc="$prefix/lib/pkgconfig"
            # shellcheck disable=SC2046
            gcc -std=c11 -O2 -Wall -Wextra -Werror $(PKG_CONFIG_PATH="$pc" pkg-config --cflags kafka-trace-rdkafka) \
                tests/soak/soak.c -o "$out/soak-c" $(PKG_CONFIG_PATH="$pc" pkg-config --libs kafka-trace-rdkafka) \
                -Wl,-rpath,"$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir kafka-trace)"
            ;;
        node)
            tarball="$(ls -t bindings-node/kafka-trace-*.tgz 2>/dev/null | head -n 1 || true)"
            if [ -z "$tarball" ]; then
                log "no bindings-node/kafka-trace-*.tgz: building and packing the Node binding"
                (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build:native && npm run --silent build:ts && npm pack --silent >/dev/null)
                tarball="$(ls -t bindings-node/kafka-trace-*.tgz | head -n 1)"
            fi
            app="$out/node-app"
            log "installing $(basename "$tarball") into $app"
            rm -rf "$app" && mkdir -p "$app"
            echo '{ "name": "kafka-trace-soak", "private": true }' >"$app/package.json"
            (cd "$app" && npm_config_cache="$root/.cache/npm" npm install --no-audit --no-fund --loglevel=error "$root/$tarball" kafkajs@2.2.4 \
                @opentelemetry/api "@opentelemetry/sdk-trace-base@^2" "@opentelemetry/exporter-trace-otlp-http@>=0.200 <0.300" \
                "@opentelemetry/context-async-hooks@^2" "@opentelemetry/instrumentation@>=0.200 <0.300" "@opentelemetry/resources@^2" >/dev/null)
            cp tests/soak/soak.js "$app/soak.js"
            ;;
        python) ;;
        *) echo "unknown binding $b" >&2; exit 2 ;;
    esac
done

# --- the receiver, alternately up and down -----------------------------------------------------
"$py" tests/soak/otlp_sink.py "$otlp_port" "$out/receiver.json" "$up" "$down" &
sink_pid=$!
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:${otlp_port}"
export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
export OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none
stamp="$(date +%s)-$$"

for b in $bindings; do
    in_topic="kt-soak-$b-in-$stamp"
    out_topic="kt-soak-$b-out-$stamp"
    bash scripts/kafka.sh topic-create "$in_topic" 1 >/dev/null
    bash scripts/kafka.sh topic-create "$out_topic" 1 >/dev/null
    log "$b: $messages messages ($in_topic -> $out_topic), receiver up ${up}s / down ${down}s"
    began=$SECONDS
    case "$b" in
        rust) cmd=("$root/target/release/kafka-trace-soak") ;;
        c) cmd=("$out/soak-c") ;;
        node) cmd=(node --expose-gc "$out/node-app/soak.js") ;;
        python) cmd=("$py" tests/soak/soak.py) ;;
    esac
    export OTEL_SERVICE_NAME="soak-$b"
    if ! "${cmd[@]}" "$messages" "$bootstrap" "$in_topic" "$out_topic" >"$out/$b.out" 2>"$out/$b.log"; then
        log "$b: the soak program failed (see $out/$b.log)"
        tail -n 20 "$out/$b.log" >&2
        echo "{\"binding\": \"$b\", \"failed\": true}" >>"$out/results.jsonl"
        continue
    fi
    tail -n 1 "$out/$b.out" >>"$out/results.jsonl"
    log "$b: done in $((SECONDS - began)) s"
done
sleep 1.5 # the receiver's last count
kill "$sink_pid" 2>/dev/null || true
wait "$sink_pid" 2>/dev/null || true
sink_pid=""

status=0
"$py" - "$out/results.jsonl" "$out/receiver.json" "$max_growth_mb" "$messages" <<'PY' || status=$?
import json, sys

results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
receiver = json.load(open(sys.argv[2]))
limit_kb = float(sys.argv[3]) * 1024
bad = []
print(f"\nsoak: {sys.argv[4]} messages per binding; receiver up/down cycles: {receiver.get('cycles')}")
print(f"{'binding':8} {'lost':>6} {'dup':>6} {'spans ended':>12} {'exported':>10} {'failed':>9} {'dropped':>9} {'received':>10} {'RSS warm MB':>12} {'RSS end MB':>11} {'growth MB':>10} {'s':>7}")
for r in results:
    b = r["binding"]
    if r.get("failed"):
        bad.append(f"{b}: the program failed")
        print(f"{b:8} FAILED")
        continue
    growth = (r["rss_end_kb"] - r["rss_warm_kb"]) / 1024
    got = receiver.get("spans", {}).get(f"soak-{b}", 0)
    print(f"{b:8} {r['lost']:>6} {r['duplicated']:>6} {r['spans_ended']:>12} {r['spans_exported']:>10} {r['spans_export_failed']:>9} "
          f"{r['spans_dropped']:>9} {got:>10} {r['rss_warm_kb']/1024:>12.1f} {r['rss_end_kb']/1024:>11.1f} {growth:>10.1f} {r['seconds']:>7}")
    if r["lost"]:
        bad.append(f"{b}: {r['lost']} messages lost")
    if r["duplicated"]:
        bad.append(f"{b}: {r['duplicated']} messages duplicated")
    if "live_heap_end_kb" in r:
        # Rust: glibc's heap in use once every thread has joined and the producer has flushed (a
        # leak stays in use). Its trimmed RSS is printed but not judged: it counts the free memory
        # malloc_trim cannot return from 30+ threads' fragmented arenas, which moved the growth
        # figure from +2 to +22 MB between runs of the same build while the heap in use ended at
        # 1 MB (and a 1,000,000-message run ended at the same RSS as a 100,000-message one).
        print(f"{'':8} live heap at the end, threads joined: {r['live_heap_end_kb']/1024:.1f} MB")
        if r["live_heap_end_kb"] > limit_kb:
            bad.append(f"{b}: {r['live_heap_end_kb']/1024:.1f} MB of heap still in use after every thread joined")
    elif r["rss_end_kb"] - r["rss_warm_kb"] > limit_kb:
        bad.append(f"{b}: resident memory grew {growth:.1f} MB after warm-up")
    if r["rss_warm_kb"] == 0:
        bad.append(f"{b}: no warm-up memory sample")
for line in bad:
    print("FAIL", line)
print("soak:", "FAILED" if bad else "ok")
sys.exit(1 if bad else 0)
PY
log "finished in $((SECONDS - start)) s"
exit $status
