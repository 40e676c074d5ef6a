# Shared helpers for the local environment scripts. Source it; do not run it.
# Everything listens on 127.0.0.1. Builds are cached under $HERALD_CACHE (outside the
# repo); runtime state, logs and the kubeconfig live under $HERALD_STATE.
set -euo pipefail

ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$ENV_DIR/../.." && pwd)"
# shellcheck source=versions.sh
. "$ENV_DIR/versions.sh"

HERALD_CACHE="${HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald}"
HERALD_STATE="${HERALD_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/herald}"
BIN_DIR="$HERALD_CACHE/bin"
LOG_DIR="$HERALD_STATE/logs"
RUN_DIR="$HERALD_STATE/run"
export KUBECONFIG_PATH="$HERALD_STATE/kubeconfig"

# Loopback ports. Override any of them through the environment.
MARIADB_PORT="${HERALD_MARIADB_PORT:-13306}"
KAFKA_PORT="${HERALD_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${HERALD_KAFKA_CONTROLLER_PORT:-19093}"
ETCD_PORT="${HERALD_ETCD_PORT:-12379}"
ETCD_PEER_PORT="${HERALD_ETCD_PEER_PORT:-12380}"
APISERVER_PORT="${HERALD_APISERVER_PORT:-16443}"
KCM_PORT="${HERALD_KCM_PORT:-10257}"
SCHEDULER_PORT="${HERALD_SCHEDULER_PORT:-10259}"
KWOK_PORT="${HERALD_KWOK_PORT:-10247}"

mkdir -p "$BIN_DIR" "$LOG_DIR" "$RUN_DIR"

_ts() { date +%H:%M:%S; }
log() { printf '[%s] %s\n' "$(_ts)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(_ts)" "$*" >&2; exit 1; }

need() { # need CMD HINT: fail with a message naming a missing prerequisite
  command -v "$1" >/dev/null 2>&1 || die "missing prerequisite '$1': $2"
}

# run_logged NAME CMD...: run a long step, its output in $LOG_DIR/NAME.log, printing a
# heartbeat every 30 s so a cold build is never silent. Fails with the log's tail.
run_logged() {
  local name="$1"; shift
  local logf="$LOG_DIR/$name.log" start=$SECONDS next=$((SECONDS + 30)) pid
  "$@" >"$logf" 2>&1 9>&- &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS >= next )) && kill -0 "$pid" 2>/dev/null; then
      log "  ... $name still running ($((SECONDS - start)) s, log: $logf)"
      next=$((SECONDS + 30))
    fi
  done
  if ! wait "$pid"; then
    tail -n 30 "$logf" >&2
    die "$name failed after $((SECONDS - start)) s (full log: $logf)"
  fi
  log "  $name done in $((SECONDS - start)) s"
}

# node_deps: the npm dependencies (npm ci, only when package-lock.json changed since the last
# install) and the types generated from proto/ and the CRDs, which a fresh clone lacks.
node_deps() {
  local lock_sum
  lock_sum="$(sha256sum package-lock.json | cut -c1-16)"
  if [[ "$(cat node_modules/.herald-lock 2>/dev/null)" != "$lock_sum" ]]; then
    log "installing npm dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >node_modules/.herald-lock
  fi
  log "generating types from proto/ and the CRDs"
  npm run --silent gen
}

pidfile() { echo "$RUN_DIR/$1.pid"; }

is_running() { # is_running NAME
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_daemon NAME CMD...: start CMD detached in its own session, logging to
# $LOG_DIR/NAME.log, unless it already runs.
start_daemon() {
  local name="$1"; shift
  if is_running "$name"; then log "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; fi
  # 9>&-: a daemon must not inherit up.sh's lock (fd 9), or it would hold it for its whole life.
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null 9>&- &
  echo $! >"$(pidfile "$name")"
  log "started $name (pid $!, log: $LOG_DIR/$name.log)"
}

# stop_daemon NAME: TERM, wait up to 20 s, then KILL.
stop_daemon() {
  local name="$1" f pid i
  f="$(pidfile "$name")"
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 20 s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
    log "stopped $name"
  fi
  rm -f "$f"
}

# wait_for NAME TIMEOUT_S CMD...: poll CMD until it succeeds, failing early if the process
# NAME died; on timeout show its log. WHAT=... names the condition in the messages.
wait_for() {
  local name="$1" timeout="$2" what="${WHAT:-$1}"; shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited during start-up (log: $LOG_DIR/$name.log)"
    fi
    (( SECONDS - start >= timeout )) && { tail -n 30 "$LOG_DIR/$name.log" >&2 || true; die "$what not ready after ${timeout} s (log: $LOG_DIR/$name.log)"; }
    sleep 0.5
  done
  log "$what ready in $((SECONDS - start)) s"
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
