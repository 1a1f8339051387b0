#!/usr/bin/env bash
# Every benchmark of the project, side by side with its peer, in one run and one table (issue 12).
#
#   bash scripts/bench-all.sh                  # build (release), broker, every bench, the table
#   bash scripts/bench-all.sh --quick          # tiny sizes: checks the whole pipeline in minutes
#   bash scripts/bench-all.sh --write-docs     # also replace the bench-all block of BENCHMARKS.md
#   bash scripts/bench-all.sh --only c-abi,c-librdkafka    # a subset of the groups below
#
# Builds what the benchmarks need (release: the Rust crates, the C library, the Node addon and
# facade when older than their sources, the Python wheel when older than its sources into a venv
# under .cache/), starts the broker with scripts/kafka.sh unless it is running (and stops it at
# the end if it started it; KAFKA_PORT picks its port; KAFKA_BOOTSTRAP=host:port uses that broker
# instead and starts nothing), then runs each command below: the codec benchmarks once, the
# throughput benchmarks once with KT_BENCH_SAMPLING=1.0 (every span recorded) and once with 0.01
# (ParentBased(TraceIdRatio(0.01))). Each command prints `BENCH_ROW {json}` lines (contract: issue
# 12 / BENCHMARKS.md); scripts/bench_table.py turns them, with the load average before and after
# each command and the machine, into one markdown table: printed, and written to
# target/bench-all.md (the raw log: target/bench-all/log.txt, each command's output next to it).
# A command that fails or prints no BENCH_ROW shows up as such in the table; the others still run.
#
# Run it on a quiet machine: the figures are wall-clock throughput. The table's own test:
#   python3 -m unittest discover -s scripts/tests -p 'test_bench_table.py'
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0
write_docs=0
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --write-docs) write_docs=1 ;;
        --only) only="$2"; shift ;;
        --only=*) only="${1#--only=}" ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-all: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ] && [ "$write_docs" = 1 ]; then
    echo "bench-all: --quick figures are not for the docs; run without --quick to --write-docs" >&2
    exit 2
fi
invocation="bash scripts/bench-all.sh$([ "$quick" = 1 ] && echo ' --quick')${only:+ --only $only}"

say() { printf '\n== bench-all: %s\n' "$*" >&2; }
die() { printf 'bench-all: %s\n' "$*" >&2; exit 1; }
wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

out="$root/target/bench-all"
mkdir -p "$out"
log="$out/log.txt"
: >"$log"

# ------------------------------------------------------------------ broker
started_here=0
if [ -n "${KAFKA_BOOTSTRAP:-}" ]; then
    say "broker: $KAFKA_BOOTSTRAP (KAFKA_BOOTSTRAP given: nothing started)"
else
    export KAFKA_BOOTSTRAP="127.0.0.1:${KAFKA_PORT:-9092}"
    if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
        say "broker: starting it on $KAFKA_BOOTSTRAP (scripts/kafka.sh start)"
        bash scripts/kafka.sh start >&2 || die "could not start the broker"
        started_here=1
    else
        say "broker: running on $KAFKA_BOOTSTRAP"
    fi
fi
stop_broker() { if [ "$started_here" = 1 ]; then bash scripts/kafka.sh stop || true; fi; }
trap stop_broker EXIT

# ------------------------------------------------------------------ build
# newer_than FILE PATH...: prints the first source under PATH... newer than FILE (or "missing").
newer_than() {
    local file="$1"; shift
    [ -e "$file" ] || { echo missing; return; }
    find "$@" -newer "$file" -type f ! -name '*.so' ! -name '*.node' ! -name '*.pyc' 2>/dev/null | head -n 1
}

# A build that fails is reported (a BENCH_NOTE in the log, a warning under the table) and the
# benchmarks that need it then fail and show up as missing; the others still run.
note() {
    echo "bench-all: $*" >&2
    printf 'BENCH_NOTE %s\n' "$(json_str "$*")" >>"$log"
}
json_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }
build() { # DESCRIPTION COMMAND...
    local what="$1"; shift
    "$@" >&2 || note "build failed: $what (\`$*\`)"   # stdout is for the table
}

# A fresh machine lacks some system packages (librdkafka-dev for the C throughput bench).
say "build: system packages (scripts/install-deps.sh)"
build "system packages" bash scripts/install-deps.sh
if wanted c-abi || wanted c-librdkafka; then
    say "build: C library (release)"
    build "C library" cargo build -q --release -p kafka-trace-c
fi
if wanted c-abi; then build "C baseline bench" cargo bench -q -p kafka-trace-c --bench baseline --no-run; fi
if wanted rust-codec; then
    say "build: Rust codec bench"
    build "codec bench" cargo bench -q -p kafka-trace --bench codec --no-run
fi
if wanted rust-rdkafka; then
    say "build: Rust rdkafka throughput example (release)"
    build "rdkafka throughput example" cargo build -q --release -p kafka-trace --features rdkafka --example throughput
fi

node_sources=(bindings-node/src bindings-node/Cargo.toml core/src core/Cargo.toml Cargo.lock)
node_build() ( # a subshell: the cd stays inside
    cd bindings-node || exit 1
    [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error || exit 1
    cd "$root" || exit 1
    stale="$(newer_than bindings-node/kafka-trace.linux-x64-gnu.node "${node_sources[@]}")"
    if [ -n "$stale" ]; then echo "addon: $stale is newer: rebuilding" >&2; (cd bindings-node && npm run --silent build:native) || exit 1; fi
    stale="$(newer_than bindings-node/dist/index.js bindings-node/ts)"
    if [ -n "$stale" ]; then echo "facade: $stale is newer: rebuilding" >&2; (cd bindings-node && npm run --silent build:ts) || exit 1; fi
)
if wanted node-codec || wanted node-kafkajs || wanted node-confluent; then
    say "build: Node addon and facade (bindings-node) when older than their sources"
    build "Node addon and facade" node_build
fi

venv="$root/.cache/python-bench-venv"
python_build() {
    local dist="$root/dist/python" wheel stamp
    wheel="$(ls "$dist"/kafka_trace-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl 2>/dev/null | head -n 1)"
    if [ -z "$wheel" ] || [ -n "$(newer_than "$wheel" bindings-python/src bindings-python/python \
            bindings-python/Cargo.toml bindings-python/pyproject.toml core/src core/Cargo.toml Cargo.toml Cargo.lock)" ]; then
        bash scripts/build-python-wheels.sh || return 1
        wheel="$(ls "$dist"/kafka_trace-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl | head -n 1)"
    fi
    stamp="$(sha256sum "$wheel" | cut -c1-16)"
    if [ "$(cat "$venv/.kt-wheel" 2>/dev/null)" != "$stamp" ]; then
        [ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv" || return 1
        "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null || return 1
        "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel" || return 1
        "$venv/bin/python" -m pip install -q "$wheel" -r bindings-python/requirements-test.txt || return 1
        echo "$stamp" >"$venv/.kt-wheel"
    fi
}
if wanted python-codec || wanted python-confluent; then
    say "build: Python wheel (when older than its sources) into $venv"
    build "Python wheel and venv" python_build
fi

# ------------------------------------------------------------------ commands
# group | runs per sampling (1) or once (0) | command | arguments in --quick mode
commands=(
    "rust-codec|0|bash scripts/bench.sh|--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10"
    "c-abi|0|bash bindings-c/bench/run.sh|1 20000"
    "node-codec|0|node bindings-node/bench/propagation.js|20000 2"
    "python-codec|0|.cache/python-bench-venv/bin/python bindings-python/bench/bench_codec.py|--number 2000 --repeat 3"
    "rust-rdkafka|1|cargo run -q --release -p kafka-trace --features rdkafka --example throughput|-- 500 1"
    "c-librdkafka|1|bash bindings-c/bench/throughput.sh|500 1"
    "node-kafkajs|1|node bindings-node/bench/e2e.js|300 1"
    "node-path|1|node bindings-node/bench/path.js|2000 2"
    "node-confluent|1|node bindings-node/bench/confluent.js|300 1"
    "python-confluent|1|.cache/python-bench-venv/bin/python bindings-python/bench/bench_throughput.py|--messages 300 --rounds 1"
    "python-confluent|1|.cache/python-bench-venv/bin/python bindings-python/bench/bench_path.py|--messages 500 --rounds 1 --warmup 100"
)
# benches that may not exist yet in this checkout
for f in bindings-node/bench/confluent.js bindings-python/bench/bench_path.py; do
    if [ ! -f "$f" ]; then
        echo "bench-all: $f does not exist: skipped" >&2
        for i in "${!commands[@]}"; do [[ "${commands[$i]}" == *"$f"* ]] && unset "commands[$i]"; done
    fi
done

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'; }
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
printf 'BENCH_MACHINE {"nproc": %s, "cpu": %s, "date": %s, "commit": %s, "invocation": %s}\n' \
    "$(nproc)" "$(json_str "${cpu_model:-unknown}")" "$(json_str "$(date -u '+%Y-%m-%d %H:%M UTC')")" \
    "$(json_str "$(git describe --always --dirty 2>/dev/null || echo unknown)")" "$(json_str "$invocation")" >>"$log"

id=0
limit=$([ "$quick" = 1 ] && echo 900 || echo 3600)
# --quick: no valgrind instruction counts in bindings-c/bench/run.sh
[ "$quick" = 1 ] && export KT_BENCH_INSNS=0
for entry in "${commands[@]}"; do
    IFS='|' read -r group per_sampling cmd quick_args <<<"$entry"
    wanted "$group" || continue
    [ "$quick" = 1 ] && cmd="$cmd $quick_args"
    samplings=("")
    [ "$per_sampling" = 1 ] && samplings=(1.0 0.01)
    for sampling in "${samplings[@]}"; do
        id=$((id + 1))
        say "[$id] ${sampling:+KT_BENCH_SAMPLING=$sampling }$cmd"
        sampling_json=null
        [ -n "$sampling" ] && sampling_json="\"$sampling\""
        printf 'BENCH_CMD_BEGIN {"id": %d, "command": %s, "groups": ["%s"], "sampling": %s, "load_before": "%s"}\n' \
            "$id" "$(json_str "$cmd")" "$group" "$sampling_json" "$(loadavg)" >>"$log"
        began=$SECONDS
        if [ -n "$sampling" ]; then
            KT_BENCH_SAMPLING="$sampling" timeout "$limit" bash -c "$cmd" >"$out/$id.out" 2>"$out/$id.err"
        else
            (unset KT_BENCH_SAMPLING; timeout "$limit" bash -c "$cmd" >"$out/$id.out" 2>"$out/$id.err")
        fi
        status=$?
        grep '^BENCH_ROW ' "$out/$id.out" >>"$log"
        rows=$(grep -c '^BENCH_ROW ' "$out/$id.out")
        printf 'BENCH_CMD_END {"id": %d, "status": %d, "seconds": %d, "load_after": "%s"}\n' \
            "$id" "$status" "$((SECONDS - began))" "$(loadavg)" >>"$log"
        echo "exit $status, $rows BENCH_ROW lines, $((SECONDS - began)) s (output: target/bench-all/$id.out, .err)" >&2
        [ "$status" = 0 ] || tail -n 5 "$out/$id.err" >&2
    done
done

say "table (target/bench-all.md)"
docs=()
[ "$write_docs" = 1 ] && docs=(--write-docs BENCHMARKS.md)
python3 scripts/bench_table.py "$log" --out "$root/target/bench-all.md" "${docs[@]}"
