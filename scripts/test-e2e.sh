#!/usr/bin/env bash
# scripts/test-e2e.sh — the end-to-end and fault tests on native processes (no Docker):
#   1. build what they need: Jaeger (scripts/jaeger.sh install, from the Go module proxy), the
#      kafka-trace CLI, the Rust consumer, the fault tests; a venv with pytest;
#   2. scripts/dev-stack up, then tests/e2e (pytest): HTTP → nest1 → nest2 → nest3 / Python → C / Rust,
#      asserted in Jaeger's query API and with `kafka-trace inspect --json`; dev-stack down;
#   3. a three-broker KRaft cluster (KAFKA_BROKERS=3 scripts/kafka.sh start) and Jaeger, then the
#      fault tests (core/tests/fault_cluster.rs): partition-leader SIGKILL under an idempotent
#      producer, and a tracing-backend outage; cluster and Jaeger stopped.
#   4. scripts/validate-compose.sh.
# Exits non-zero if any part failed; prints one PASS/FAIL line per part and timings.
# E2E_ONLY=e2e|fault|compose runs one part; KEEP_STACK=1 leaves the dev stack running.
set -uo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
T0=$SECONDS
ONLY="${E2E_ONLY:-}"
declare -a RESULTS=()
failed=0
record() {  # record NAME STATUS SECONDS
  RESULTS+=("$(printf '%-8s %-34s %5ss' "$2" "$1" "$3")")
  [[ "$2" == PASS ]] || failed=$((failed + 1))
}
want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }
log() { printf '\n== %s\n' "$*"; }

log "prerequisites"
apt_need=()
pkg-config --exists rdkafka 2>/dev/null || apt_need+=(librdkafka-dev)   # the C example links it (2.0.2 is fine for C)
command -v pkg-config >/dev/null || apt_need+=(pkg-config)
command -v mvn >/dev/null || apt_need+=(maven)
command -v curl >/dev/null || apt_need+=(curl)
if ((${#apt_need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${apt_need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_need[@]}") >/dev/null || { echo "apt-get install ${apt_need[*]} failed"; exit 1; }
  else
    echo "missing: ${apt_need[*]} (install them with your package manager)"; exit 1
  fi
fi
for tool in go node npm java python3 cargo; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (Go >= 1.24 for Jaeger, Node >= 20, Java 17, Python 3.9+, Rust)"; exit 1; }
done
echo "ok: $(go version | cut -d' ' -f3), node $(node --version), $(java -version 2>&1 | head -1), $(python3 --version), $(cargo --version | cut -d' ' -f1-2)"

VENV="$ROOT/.cache/e2e/venv"
if want e2e; then
  log "pytest venv"
  if [[ ! -x "$VENV/bin/pytest" ]]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check "pytest>=8,<9" || { echo "cannot install pytest"; exit 1; }
  fi
fi

if want e2e || want fault; then
  log "Jaeger (scripts/jaeger.sh install; built from the Go module proxy the first time)"
  t=$SECONDS
  if bash scripts/jaeger.sh install; then record "jaeger install" PASS $((SECONDS - t)); else record "jaeger install" FAIL $((SECONDS - t)); fi

  log "cargo builds: kafka-trace CLI, rust_consumer, fault tests"
  t=$SECONDS
  if cargo build -p kafka-trace --features cli --bin kafka-trace \
     && cargo build -p kafka-trace --features rdkafka,otlp --example rust_consumer \
     && cargo test -p kafka-trace --features rdkafka,otlp --test fault_cluster --no-run; then
    record "cargo builds" PASS $((SECONDS - t))
  else
    record "cargo builds" FAIL $((SECONDS - t))
  fi
fi

if want e2e; then
  log "dev stack up"
  t=$SECONDS
  scripts/dev-stack up; rc=$?
  case $rc in
    0) record "dev-stack up" PASS $((SECONDS - t)) ;;
    2) record "dev-stack up (services MISSING)" FAIL $((SECONDS - t)) ;;
    *) record "dev-stack up" FAIL $((SECONDS - t)) ;;
  esac
  log "end-to-end test (tests/e2e)"
  t=$SECONDS
  eval "$(scripts/dev-stack env | sed 's/^/export /')"
  export KAFKA_TRACE_BIN="$ROOT/target/debug/kafka-trace"
  if "$VENV/bin/pytest" -v -s -p no:cacheprovider tests/e2e; then record "e2e (tests/e2e)" PASS $((SECONDS - t)); else record "e2e (tests/e2e)" FAIL $((SECONDS - t)); fi
  if [[ "${KEEP_STACK:-0}" != 1 ]]; then scripts/dev-stack down; fi
fi

if want fault; then
  log "fault tests on a three-broker KRaft cluster"
  t=$SECONDS
  cluster_ok=1
  # The cluster has its own base port: KAFKA_PORT belongs to the caller's single broker.
  cluster() { KAFKA_PORT="${KT_CLUSTER_PORT:-9192}" KAFKA_BROKERS=3 bash scripts/kafka.sh "$@"; }
  cluster start || cluster_ok=0
  bash scripts/jaeger.sh start || cluster_ok=0
  record "3-broker cluster + Jaeger up" "$([[ $cluster_ok == 1 ]] && echo PASS || echo FAIL)" $((SECONDS - t))
  t=$SECONDS
  if KAFKA_PORT="${KT_CLUSTER_PORT:-9192}" KAFKA_BROKERS=3 KAFKA_CLUSTER_BOOTSTRAP="$(cluster bootstrap)" \
     KT_OTLP_ENDPOINT="$(bash scripts/jaeger.sh endpoint)" \
     cargo test -p kafka-trace --features rdkafka,otlp --test fault_cluster -- --ignored --test-threads=1 --nocapture; then
    record "fault tests (fault_cluster)" PASS $((SECONDS - t))
  else
    record "fault tests (fault_cluster)" FAIL $((SECONDS - t))
  fi
  cluster stop || true
  bash scripts/jaeger.sh stop || true
fi

if want compose; then
  log "docker-compose.yml validation"
  t=$SECONDS
  if bash scripts/validate-compose.sh; then record "compose validation" PASS $((SECONDS - t)); else record "compose validation" FAIL $((SECONDS - t)); fi
fi

echo
echo "== test-e2e summary ($((SECONDS - T0)) s)"
printf '%s\n' "${RESULTS[@]}"
echo "e2e: $(( ${#RESULTS[@]} - failed )) passed, $failed failed"
exit $(( failed > 0 ))
