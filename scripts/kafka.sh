#!/usr/bin/env bash
# scripts/kafka.sh — run a real Apache Kafka 4.x broker (KRaft, no ZooKeeper) as a
# plain Java process on 127.0.0.1, with jars fetched from Maven Central by mvn.
#
# Run `scripts/kafka.sh --help` for usage. Summary:
#   install                 fetch the pinned Kafka jars into the cache (idempotent)
#   start                   (install if needed) format fresh storage, start, wait until it answers
#   stop                    TERM, wait, KILL; exit 0 if it was not running
#   restart                 stop + start
#   status                  exit 0 if running, 3 if not
#   topic-create NAME [PARTITIONS] [RF]
#   run-class CLASS [ARGS]  run any class from the Kafka jars (tools log WARN to stderr)
#   bootstrap               print 127.0.0.1:PORT
#
# The node-level functions (write_node_config, format_node, launch_node, wait_node_ready,
# stop_node) take node id / ports / run dir as arguments, so a multi-node KRaft cluster
# (several combined broker+controller nodes sharing one controller.quorum.voters list)
# is started by calling them once per node: KAFKA_BROKERS=3 selects that cluster mode
# (commands start|stop|restart|status|kill-node ID|start-node ID|topic-create|bootstrap|brokers).
set -euo pipefail

# ---------------------------------------------------------------- constants / env
KAFKA_VERSION_PINNED="4.1.2"          # keep in sync with scripts/kafka/pom.xml
KAFKA_VERSION="${KAFKA_TRACE_KAFKA_VERSION:-$KAFKA_VERSION_PINNED}"

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
POM="$SCRIPT_DIR/kafka/pom.xml"

CACHE_ROOT="${KAFKA_TRACE_CACHE:-$REPO_ROOT/.cache/kafka}"
LIBS_DIR="$CACHE_ROOT/$KAFKA_VERSION/libs"

PORT="${KAFKA_PORT:-9092}"
PORT_FROM_USER="${KAFKA_PORT:-}"                 # cluster mode: base port only when given
BROKERS="${KAFKA_BROKERS:-1}"                   # >1: a KRaft cluster (see "cluster mode" below)
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"    # default: PORT+1
NODE_ID="${KAFKA_NODE_ID:-1}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
KEEP_DATA="${KAFKA_KEEP_DATA:-0}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}"
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
TOOL_JVM_OPTS="${KAFKA_TOOL_JVM_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}"
MVN_EXTRA_ARGS="${KAFKA_MVN_ARGS:-}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# ---------------------------------------------------------------- helpers
PROG="scripts/kafka.sh"
log()  { printf '[kafka.sh] %s\n' "$*" >&2; }
die()  { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; exit 1; }
now()  { date +%s; }

usage() {
  cat <<EOF
Usage: $PROG [options] COMMAND [ARGS]

Runs a single-node Apache Kafka $KAFKA_VERSION broker (KRaft combined broker+controller)
as a native Java process on 127.0.0.1. Jars come from Maven Central via mvn.

Commands:
  install                      Fetch Kafka $KAFKA_VERSION + runtime deps into the cache (idempotent).
  start                        Install if needed, write config, format fresh storage, start in the
                               background and wait until it answers a metadata request.
                               If it is already running and answering: says so, exit 0.
  stop                         Stop by PID (TERM, up to KAFKA_STOP_TIMEOUT s, then KILL). Exit 0 if
                               it was not running.
  restart                      stop, then start.
  status                       Print running/stopped with PID and port. Exit 0 running, 3 stopped.
  topic-create NAME [PARTS] [RF]
                               Create a topic (default 1 partition, RF 1; no error if it exists).
  run-class CLASS [ARGS...]    Run a class from the Kafka jars, e.g.
                               run-class org.apache.kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t
  bootstrap                    Print the bootstrap address (127.0.0.1:PORT).
  paths                        Print the libs dir, run dir, log file and pid file.

Cluster mode (KAFKA_BROKERS=N, N in 2..9): N combined broker+controller nodes with ids 1..N sharing
one voters list and cluster id; node i on client port BASE+2(i-1), controller port BASE+2(i-1)+1,
BASE = --port / KAFKA_PORT, default 9192. Every node is formatted before any starts; topics and
internal topics default to RF min(N,3) and min.insync.replicas RF-1 (KAFKA_CLUSTER_RF,
KAFKA_CLUSTER_MIN_ISR override). start waits until all N brokers are registered and unfenced.
  start | stop | restart | status (exit 0 all up, 3 all down, 4 partial)
  kill-node ID [SIGNAL]        Kill one node (default SIGKILL, a crash; TERM = controlled shutdown).
  start-node ID                Start one node again on its storage; waits until it has rejoined.
  topic-create NAME [PARTS] [RF]  (RF defaults to the cluster RF)
  bootstrap                    Print 127.0.0.1:BASE,127.0.0.1:BASE+2,...
  brokers                      Print how many brokers the cluster metadata lists as alive.

Options (before or after COMMAND):
  --port N                     Client (PLAINTEXT) port. Env KAFKA_PORT, default 9092.
  --controller-port N          KRaft controller port. Env KAFKA_CONTROLLER_PORT, default PORT+1.
  --timeout S                  Start timeout in seconds. Env KAFKA_START_TIMEOUT, default 90.
  -h, --help                   This help.

Environment:
  KAFKA_TRACE_CACHE    cache root (default <repo>/.cache/kafka); jars in \$KAFKA_TRACE_CACHE/$KAFKA_VERSION/libs,
                       per-port state in \$KAFKA_TRACE_CACHE/run-\$PORT/{server.properties,data/,kafka.log,kafka.pid}
  KAFKA_KEEP_DATA=1    keep data across start (default: wipe and reformat on every start)
  KAFKA_STOP_TIMEOUT   seconds to wait after TERM before KILL (default 20)
  KAFKA_HEAP_OPTS      broker heap (default "-Xmx512m -Xms512m")
  KAFKA_JVM_OPTS       other broker JVM options
  KAFKA_MVN_ARGS       extra mvn arguments for install (e.g. -Dmaven.repo.local=/path)
  KAFKA_TRACE_KAFKA_VERSION  override the pinned version ($KAFKA_VERSION_PINNED) — untested
  JAVA_HOME            Java 17+ to use (default: java on PATH)
EOF
}

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (need Java 17+; set JAVA_HOME or apt-get install openjdk-17-jre-headless)"
  local v
  v="$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  local major="${v%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot parse java version from: $("$JAVA" -version 2>&1 | head -1)"
  (( major >= 17 )) || die "Kafka $KAFKA_VERSION needs Java 17+, found $v ($JAVA)"
}

# Take an exclusive lock on FILE using fd 9 (released on exit). No-op without flock.
lock_fd9() {
  local file="$1" wait="${2:-900}"
  mkdir -p "$(dirname -- "$file")"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$file"
  flock -w "$wait" 9 || die "timed out waiting for lock $file"
}

port_open() {  # port_open PORT -> 0 if something accepts TCP on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# is PID our broker for RUN_DIR? (guards against PID reuse)
pid_is_node() {
  local pid="$1" run_dir="$2"
  pid_alive "$pid" || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 0   # no /proc: trust kill -0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $run_dir/server.properties"
}

# ---------------------------------------------------------------- install
libs_ready() { [[ -f "$LIBS_DIR/.complete" ]] && [[ "$(cat "$LIBS_DIR/.complete")" == "$(install_stamp)" ]]; }
install_stamp() { printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -c1-16)"; }

cmd_install() {
  if libs_ready; then
    log "Kafka $KAFKA_VERSION already installed in $LIBS_DIR"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
  [[ -f "$POM" ]] || die "missing $POM"
  lock_fd9 "$CACHE_ROOT/.install.lock"
  if libs_ready; then   # someone else finished while we waited
    log "Kafka $KAFKA_VERSION already installed in $LIBS_DIR"
    return 0
  fi
  local tmp="$CACHE_ROOT/$KAFKA_VERSION/libs.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "installing Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR ..."
  local attempt ok=0 mlog="$CACHE_ROOT/$KAFKA_VERSION/mvn-install.log"
  for attempt in 1 2 3; do
    # shellcheck disable=SC2086
    if mvn -B -q -f "$POM" -Dkafka.version="$KAFKA_VERSION" $MVN_EXTRA_ARGS \
         "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime -DoutputDirectory="$tmp" \
         >"$mlog" 2>&1; then
      ok=1; break
    fi
    log "mvn attempt $attempt failed (see $mlog); retrying"
    sleep $((attempt * 3))
  done
  if (( ! ok )); then
    tail -n 30 "$mlog" >&2 || true
    rm -rf "$tmp"
    die "could not fetch Kafka $KAFKA_VERSION with mvn (log: $mlog)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar "$tmp"/kafka-tools-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
    || { rm -rf "$tmp"; die "mvn finished but kafka jars are missing in $tmp"; }
  install_stamp >"$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  log "installed $(find "$LIBS_DIR" -maxdepth 1 -name '*.jar' | wc -l) jars into $LIBS_DIR"
}

ensure_installed() { libs_ready || cmd_install; }

# ---------------------------------------------------------------- java runners
write_tools_log4j() {  # tools: WARN to stderr
  local f="$CACHE_ROOT/tools-log4j2.xml"
  [[ -f "$f" ]] && return 0
  mkdir -p "$CACHE_ROOT"
  cat >"$f.tmp.$$" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDERR" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="STDERR"/></Root>
  </Loggers>
</Configuration>
EOF
  mv "$CACHE_ROOT/tools-log4j2.xml.tmp.$$" "$f"
}

# tool_cmd CLASS ARGS... -> sets array TOOL_CMD (a java command line for a Kafka tool class)
tool_cmd() {
  ensure_installed
  need_java
  write_tools_log4j
  # shellcheck disable=SC2206
  TOOL_CMD=("$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$CACHE_ROOT/tools-log4j2.xml"
            -cp "$LIBS_DIR/*" "$@")
}

run_class() {  # run_class CLASS ARGS...  (foreground, exit status of the tool)
  tool_cmd "$@"
  "${TOOL_CMD[@]}"
}

# ---------------------------------------------------------------- per-node functions
node_run_dir() { printf '%s/run-%s\n' "$CACHE_ROOT" "$1"; }   # node_run_dir CLIENT_PORT

new_cluster_id() {  # 16 random bytes, base64url without padding (Kafka Uuid format)
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "${#id}" == 22 && "$id" != -* ]] && { printf '%s\n' "$id"; return; }
  done
}

# write_node_config RUN_DIR NODE_ID PORT CONTROLLER_PORT VOTERS [RF] [MIN_ISR]
#   VOTERS = controller.quorum.voters, e.g. "1@127.0.0.1:9093" (or "1@..:9093,2@..:9095,3@..:9097")
#   RF / MIN_ISR: default replication factor (topics and internal topics) and min.insync.replicas;
#   both 1 for a single node (the default), 3 / 2 for the cluster mode.
write_node_config() {
  local run_dir="$1" node_id="$2" port="$3" cport="$4" voters="$5" rf="${6:-1}" min_isr="${7:-1}"
  local what="single combined broker+controller KRaft node"
  (( rf > 1 )) && what="combined broker+controller KRaft node $node_id of a cluster (voters $voters)"
  mkdir -p "$run_dir"
  cat >"$run_dir/server.properties" <<EOF
# generated by scripts/kafka.sh — $what
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run_dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=${KAFKA_OFFSETS_PARTITIONS:-1}
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=${KAFKA_TXN_PARTITIONS:-1}
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
  cat >"$run_dir/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/kafka.sh: broker log goes to stdout, which is redirected to kafka.log -->
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.authorizer.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# format_node RUN_DIR CLUSTER_ID — format KRaft storage unless already formatted
format_node() {
  local run_dir="$1" cluster_id="$2"
  if [[ -f "$run_dir/data/meta.properties" ]]; then
    log "storage in $run_dir/data already formatted (KAFKA_KEEP_DATA=1)"
    return 0
  fi
  mkdir -p "$run_dir/data"
  log "formatting KRaft storage (cluster id $cluster_id)"
  if ! run_class kafka.tools.StorageTool format -t "$cluster_id" -c "$run_dir/server.properties" \
        >"$run_dir/format.log" 2>&1; then
    cat "$run_dir/format.log" >&2
    die "kafka-storage format failed (log: $run_dir/format.log)"
  fi
}

# launch_node RUN_DIR — start kafka.Kafka in the background, write RUN_DIR/kafka.pid
launch_node() {
  local run_dir="$1"
  local logf="$run_dir/kafka.log"
  [[ -f "$logf" ]] && mv -f "$logf" "$logf.1"
  need_java
  local -a cmd
  # shellcheck disable=SC2206
  cmd=("$JAVA" $HEAP_OPTS $JVM_OPTS
       -Dlog4j2.configurationFile="$run_dir/log4j2.xml"
       -Dkafka.logs.dir="$run_dir/logs"
       -cp "$LIBS_DIR/*"
       kafka.Kafka "$run_dir/server.properties")
  printf '%q ' "${cmd[@]}" >"$run_dir/cmdline"; echo >>"$run_dir/cmdline"
  # own session: not killed by the caller's Ctrl-C / process-group signals; fd 9 (lock) closed
  if command -v setsid >/dev/null 2>&1; then
    setsid "${cmd[@]}" >>"$logf" 2>&1 </dev/null 9>&- &
  else
    nohup "${cmd[@]}" >>"$logf" 2>&1 </dev/null 9>&- &
  fi
  local pid=$!
  echo "$pid" >"$run_dir/kafka.pid"
  log "started kafka.Kafka pid $pid, log $logf"
}

# node_answers PORT — TCP connect and a metadata request (list topics) succeed
node_answers() {
  local port="$1"
  port_open "$port" || return 1
  tool_cmd org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list
  if command -v timeout >/dev/null 2>&1; then
    timeout -k 5 30 "${TOOL_CMD[@]}" >/dev/null 2>&1 9>&-
  else
    "${TOOL_CMD[@]}" >/dev/null 2>&1 9>&-
  fi
}

# wait_node_ready RUN_DIR PORT TIMEOUT
wait_node_ready() {
  local run_dir="$1" port="$2" timeout="$3"
  local pid; pid="$(cat "$run_dir/kafka.pid")"
  local start; start="$(now)"
  local deadline=$(( start + timeout ))
  while :; do
    if ! pid_alive "$pid"; then
      log "kafka (pid $pid) exited during startup; last lines of $run_dir/kafka.log:"
      tail -n 40 "$run_dir/kafka.log" >&2 || true
      rm -f "$run_dir/kafka.pid"
      die "Kafka failed to start on 127.0.0.1:$port"
    fi
    if port_open "$port" && node_answers "$port"; then
      log "Kafka $KAFKA_VERSION ready on 127.0.0.1:$port (pid $pid) after $(( $(now) - start ))s"
      return 0
    fi
    if (( $(now) >= deadline )); then
      log "Kafka did not answer on 127.0.0.1:$port within ${timeout}s; last lines of $run_dir/kafka.log:"
      tail -n 40 "$run_dir/kafka.log" >&2 || true
      stop_node "$run_dir" || true
      die "Kafka start timed out after ${timeout}s (log: $run_dir/kafka.log)"
    fi
    sleep 1
  done
}

# node_pid RUN_DIR -> prints PID if our broker runs there (else returns 1, cleaning a stale pid file)
node_pid() {
  local run_dir="$1" pid
  [[ -f "$run_dir/kafka.pid" ]] || return 1
  pid="$(cat "$run_dir/kafka.pid" 2>/dev/null || true)"
  if pid_is_node "$pid" "$run_dir"; then
    printf '%s\n' "$pid"; return 0
  fi
  rm -f "$run_dir/kafka.pid"
  return 1
}

# stop_node RUN_DIR
stop_node() {
  local run_dir="$1" pid
  if ! pid="$(node_pid "$run_dir")"; then
    return 1
  fi
  log "stopping kafka pid $pid (TERM, up to ${STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( $(now) + STOP_TIMEOUT ))
  while pid_alive "$pid" && (( $(now) < deadline )); do sleep 0.5; done
  if pid_alive "$pid"; then
    log "pid $pid still alive after ${STOP_TIMEOUT}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    local _; for _ in $(seq 1 20); do pid_alive "$pid" || break; sleep 0.25; done
  fi
  pid_alive "$pid" && die "could not stop pid $pid"
  rm -f "$run_dir/kafka.pid"
  return 0
}

# ---------------------------------------------------------------- single-node commands
check_port() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then die "bad port: $1"; fi
}

resolve_ports() {
  check_port "$PORT"
  [[ -n "$CONTROLLER_PORT" ]] || CONTROLLER_PORT=$(( PORT + 1 ))
  check_port "$CONTROLLER_PORT"
  [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "client and controller port must differ ($PORT)"
  RUN_DIR="$(node_run_dir "$PORT")"
}

cmd_start() {
  resolve_ports
  ensure_installed
  need_java
  lock_fd9 "$RUN_DIR.lock" 300
  local pid
  if pid="$(node_pid "$RUN_DIR")"; then
    if node_answers "$PORT"; then
      log "Kafka already running on 127.0.0.1:$PORT (pid $pid)"
      return 0
    fi
    log "Kafka pid $pid exists but does not answer yet; waiting"
    wait_node_ready "$RUN_DIR" "$PORT" "$START_TIMEOUT"
    return 0
  fi
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use by another process (pick another with --port / KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done
  mkdir -p "$RUN_DIR"
  if [[ "$KEEP_DATA" != 1 ]]; then
    rm -rf "$RUN_DIR/data"
  fi
  write_node_config "$RUN_DIR" "$NODE_ID" "$PORT" "$CONTROLLER_PORT" "$NODE_ID@127.0.0.1:$CONTROLLER_PORT"
  format_node "$RUN_DIR" "$(new_cluster_id)"
  launch_node "$RUN_DIR"
  wait_node_ready "$RUN_DIR" "$PORT" "$START_TIMEOUT"
}

cmd_stop() {
  resolve_ports
  lock_fd9 "$RUN_DIR.lock" 300
  if stop_node "$RUN_DIR"; then
    log "Kafka on port $PORT stopped"
  else
    log "Kafka on port $PORT is not running"
  fi
  return 0
}

cmd_status() {
  resolve_ports
  local pid
  if pid="$(node_pid "$RUN_DIR")"; then
    local ans="not accepting connections"
    port_open "$PORT" && ans="accepting connections"
    echo "running pid=$pid port=$PORT controller_port=$CONTROLLER_PORT ($ans) log=$RUN_DIR/kafka.log"
    return 0
  fi
  echo "stopped port=$PORT"
  return 3
}

cmd_topic_create() {
  resolve_ports
  [[ $# -ge 1 ]] || die "usage: $PROG topic-create NAME [PARTITIONS] [RF]"
  local name="$1" parts="${2:-1}" rf="${3:-1}"
  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" \
    --create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor "$rf"
}

# ---------------------------------------------------------------- cluster mode (KAFKA_BROKERS > 1)
# N combined broker+controller nodes on 127.0.0.1 sharing one controller.quorum.voters list and one
# cluster id. Node i (1..N) listens on client port BASE+2(i-1) and controller port BASE+2(i-1)+1,
# BASE = KAFKA_PORT if set, else 9192 (so a cluster never collides with the single broker on 9092).
# State: $CACHE_ROOT/cluster-BASE/{cluster.id,node-i/{server.properties,data/,kafka.log,kafka.pid}}.

cluster_init() {
  [[ "$BROKERS" =~ ^[0-9]+$ ]] && (( BROKERS >= 2 && BROKERS <= 9 )) || die "KAFKA_BROKERS must be 1..9, got $BROKERS"
  CLUSTER_BASE="${PORT_FROM_USER:-9192}"
  check_port "$CLUSTER_BASE"
  check_port $(( CLUSTER_BASE + 2 * BROKERS - 1 ))
  CLUSTER_DIR="$CACHE_ROOT/cluster-$CLUSTER_BASE"
  CLUSTER_RF="${KAFKA_CLUSTER_RF:-$(( BROKERS < 3 ? BROKERS : 3 ))}"
  CLUSTER_MIN_ISR="${KAFKA_CLUSTER_MIN_ISR:-$(( CLUSTER_RF > 1 ? CLUSTER_RF - 1 : 1 ))}"
  local i voters=""
  for (( i = 1; i <= BROKERS; i++ )); do
    voters+="${voters:+,}$i@127.0.0.1:$(node_cport "$i")"
  done
  CLUSTER_VOTERS="$voters"
}
node_port()  { echo $(( CLUSTER_BASE + 2 * ($1 - 1) )); }
node_cport() { echo $(( CLUSTER_BASE + 2 * ($1 - 1) + 1 )); }
node_dir()   { echo "$CLUSTER_DIR/node-$1"; }
cluster_bootstrap() {
  local i out=""
  for (( i = 1; i <= BROKERS; i++ )); do out+="${out:+,}127.0.0.1:$(node_port "$i")"; done
  echo "$out"
}
check_node_id() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= BROKERS )) || die "node id must be 1..$BROKERS, got '${1:-}'"
}

# live brokers as seen by the cluster metadata (fenced brokers are not listed), asked via any node
cluster_live_brokers() {
  tool_cmd org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(cluster_bootstrap)"
  local out
  if command -v timeout >/dev/null 2>&1; then
    out="$(timeout -k 5 30 "${TOOL_CMD[@]}" 2>/dev/null 9>&-)" || return 1
  else
    out="$("${TOOL_CMD[@]}" 2>/dev/null 9>&-)" || return 1
  fi
  grep -c '(id: [0-9]* rack' <<<"$out" || true
}

wait_cluster_complete() {  # wait until all BROKERS nodes are registered and unfenced
  local timeout="$1" start; start="$(now)"
  local n
  while :; do
    n="$(cluster_live_brokers || echo 0)"
    if [[ "$n" == "$BROKERS" ]]; then
      log "cluster of $BROKERS brokers ready on $(cluster_bootstrap) after $(( $(now) - start ))s"
      return 0
    fi
    (( $(now) >= start + timeout )) && die "only ${n:-0} of $BROKERS brokers registered after ${timeout}s"
    sleep 1
  done
}

cluster_launch_node() {  # launch node I (storage must be formatted) and return without waiting
  local i="$1" dir; dir="$(node_dir "$i")"
  local p
  for p in "$(node_port "$i")" "$(node_cport "$i")"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use by another process (pick another base with KAFKA_PORT)"
  done
  launch_node "$dir"
}

cmd_cluster_start() {
  ensure_installed
  need_java
  mkdir -p "$CLUSTER_DIR"
  lock_fd9 "$CLUSTER_DIR.lock" 300
  local i running=0 pid
  for (( i = 1; i <= BROKERS; i++ )); do
    node_pid "$(node_dir "$i")" >/dev/null && running=$(( running + 1 ))
  done
  if (( running == BROKERS )); then
    log "cluster already running ($BROKERS nodes on $(cluster_bootstrap)); waiting until complete"
    wait_cluster_complete "$START_TIMEOUT"
    return 0
  fi
  if (( running > 0 )); then
    die "$running of $BROKERS nodes are running; use start-node ID to bring back single nodes, or stop first"
  fi
  local cluster_id
  if [[ "$KEEP_DATA" == 1 && -f "$CLUSTER_DIR/cluster.id" ]]; then
    cluster_id="$(cat "$CLUSTER_DIR/cluster.id")"
  else
    cluster_id="$(new_cluster_id)"
    for (( i = 1; i <= BROKERS; i++ )); do rm -rf "$(node_dir "$i")/data"; done
    echo "$cluster_id" >"$CLUSTER_DIR/cluster.id"
  fi
  log "cluster $cluster_id: $BROKERS nodes, voters $CLUSTER_VOTERS, RF $CLUSTER_RF, min.insync.replicas $CLUSTER_MIN_ISR"
  # write + format every node (in parallel) before starting any
  local -a fpids=()
  for (( i = 1; i <= BROKERS; i++ )); do
    write_node_config "$(node_dir "$i")" "$i" "$(node_port "$i")" "$(node_cport "$i")" "$CLUSTER_VOTERS" "$CLUSTER_RF" "$CLUSTER_MIN_ISR"
    ( format_node "$(node_dir "$i")" "$cluster_id" ) 9>&- &
    fpids+=("$!")
  done
  local failed=0
  for pid in "${fpids[@]}"; do wait "$pid" || failed=1; done
  (( failed == 0 )) || die "formatting the cluster storage failed (see $CLUSTER_DIR/node-*/format.log)"
  for (( i = 1; i <= BROKERS; i++ )); do cluster_launch_node "$i"; done
  for (( i = 1; i <= BROKERS; i++ )); do
    wait_node_ready "$(node_dir "$i")" "$(node_port "$i")" "$START_TIMEOUT"
  done
  wait_cluster_complete "$START_TIMEOUT"
}

cmd_cluster_stop() {
  mkdir -p "$CLUSTER_DIR"
  lock_fd9 "$CLUSTER_DIR.lock" 300
  local i pid stopped=0
  # TERM all first (a controlled shutdown of the last voters cannot complete one by one), then wait
  # (stop_node escalates to KILL after KAFKA_STOP_TIMEOUT for a node that lost its quorum)
  for (( i = 1; i <= BROKERS; i++ )); do
    if pid="$(node_pid "$(node_dir "$i")")"; then
      log "stopping node $i (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true
      stopped=$(( stopped + 1 ))
    fi
  done
  for (( i = 1; i <= BROKERS; i++ )); do
    stop_node "$(node_dir "$i")" || true
    rm -f "$(node_dir "$i")/kafka.pid"
  done
  log "cluster on $(cluster_bootstrap): stopped $stopped node(s)"
}

cmd_cluster_status() {
  local i pid up=0
  for (( i = 1; i <= BROKERS; i++ )); do
    local dir; dir="$(node_dir "$i")"
    if pid="$(node_pid "$dir")"; then
      up=$(( up + 1 ))
      local ans="not accepting connections"
      port_open "$(node_port "$i")" && ans="accepting connections"
      echo "node $i running pid=$pid port=$(node_port "$i") controller_port=$(node_cport "$i") ($ans) log=$dir/kafka.log"
    else
      echo "node $i stopped port=$(node_port "$i")"
    fi
  done
  echo "cluster $up/$BROKERS running bootstrap=$(cluster_bootstrap)"
  (( up == BROKERS )) && return 0
  (( up == 0 )) && return 3
  return 4
}

cmd_kill_node() {  # kill-node ID [SIGNAL]: default KILL (a crash); TERM for a controlled shutdown
  check_node_id "${1:-}"
  local i="$1" sig="${2:-KILL}" dir pid; dir="$(node_dir "$1")"
  pid="$(node_pid "$dir")" || { log "node $i is not running"; return 0; }
  log "node $i: kill -$sig $pid"
  kill "-$sig" "$pid" 2>/dev/null || true
  local deadline=$(( $(now) + STOP_TIMEOUT ))
  while pid_alive "$pid" && (( $(now) < deadline )); do sleep 0.2; done
  pid_alive "$pid" && { log "node $i still alive after ${STOP_TIMEOUT}s; KILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 1; }
  rm -f "$dir/kafka.pid"
  log "node $i stopped"
}

cmd_start_node() {  # start-node ID: restart one node on its existing storage, wait until it rejoined
  check_node_id "${1:-}"
  local i="$1" dir; dir="$(node_dir "$1")"
  [[ -f "$dir/data/meta.properties" ]] || die "node $i has no formatted storage; start the cluster first"
  if node_pid "$dir" >/dev/null; then log "node $i already running"; return 0; fi
  cluster_launch_node "$i"
  wait_node_ready "$dir" "$(node_port "$i")" "$START_TIMEOUT"
  wait_cluster_complete "$START_TIMEOUT"
}

cluster_main() {
  local sub="$1"; shift
  cluster_init
  case "$sub" in
    install)      cmd_install ;;
    start)        cmd_cluster_start ;;
    stop)         cmd_cluster_stop ;;
    restart)      cmd_cluster_stop; cmd_cluster_start ;;
    status)       cmd_cluster_status ;;
    kill-node)    cmd_kill_node "$@" ;;
    start-node)   cmd_start_node "$@" ;;
    topic-create) [[ $# -ge 1 ]] || die "usage: $PROG topic-create NAME [PARTITIONS] [RF]"
                  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cluster_bootstrap)" \
                    --create --if-not-exists --topic "$1" --partitions "${2:-1}" --replication-factor "${3:-$CLUSTER_RF}" ;;
    run-class)    [[ $# -ge 1 ]] || die "usage: $PROG run-class CLASS [ARGS...]"; run_class "$@" ;;
    bootstrap)    cluster_bootstrap ;;
    brokers)      cluster_live_brokers ;;
    paths)        echo "libs=$LIBS_DIR"; echo "cluster_dir=$CLUSTER_DIR"
                  local i; for (( i = 1; i <= BROKERS; i++ )); do
                    echo "node$i.run_dir=$(node_dir "$i")"; echo "node$i.log=$(node_dir "$i")/kafka.log"
                  done ;;
    "")           usage >&2; exit 2 ;;
    *)            log "unknown command: $sub"; usage >&2; exit 2 ;;
  esac
}

# ---------------------------------------------------------------- main
main() {
  local sub="" ; local -a rest=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --port) [[ $# -ge 2 ]] || die "--port needs a value"; PORT="$2"; PORT_FROM_USER="$2"; shift 2 ;;
      --port=*) PORT="${1#*=}"; PORT_FROM_USER="$PORT"; shift ;;
      --controller-port) [[ $# -ge 2 ]] || die "--controller-port needs a value"; CONTROLLER_PORT="$2"; shift 2 ;;
      --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
      --timeout) [[ $# -ge 2 ]] || die "--timeout needs a value"; START_TIMEOUT="$2"; shift 2 ;;
      --timeout=*) START_TIMEOUT="${1#*=}"; shift ;;
      *)
        if [[ -z "$sub" ]]; then
          sub="$1"; shift
          # run-class passes everything after the command through untouched
          if [[ "$sub" == run-class ]]; then rest=("$@"); break; fi
        else
          rest+=("$1"); shift
        fi ;;
    esac
  done
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "bad timeout: $START_TIMEOUT"
  if [[ "$BROKERS" != 1 ]]; then
    cluster_main "$sub" "${rest[@]}"
    return
  fi
  case "$sub" in
    install)      cmd_install ;;
    start)        cmd_start ;;
    stop)         cmd_stop ;;
    restart)      cmd_stop; cmd_start ;;
    status)       cmd_status ;;
    topic-create) cmd_topic_create "${rest[@]}" ;;
    run-class)    [[ ${#rest[@]} -ge 1 ]] || die "usage: $PROG run-class CLASS [ARGS...]"; run_class "${rest[@]}" ;;
    bootstrap)    resolve_ports; echo "127.0.0.1:$PORT" ;;
    paths)        resolve_ports
                  echo "libs=$LIBS_DIR"; echo "run_dir=$RUN_DIR"
                  echo "log=$RUN_DIR/kafka.log"; echo "pid_file=$RUN_DIR/kafka.pid" ;;
    "")           usage >&2; exit 2 ;;
    *)            log "unknown command: $sub"; usage >&2; exit 2 ;;
  esac
}

main "$@"
