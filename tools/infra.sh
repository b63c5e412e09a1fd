#!/usr/bin/env bash
# tools/infra.sh: the local infrastructure FLOps needs (MQTT broker, OCI registry, MongoDB-wire DB,
# MLflow tracking server),
# installed when missing and run on 127.0.0.1 only, with data in <repo>/.flops/infra/ (git-ignored).
#
# Usage: tools/infra.sh up|down|status|env
#   up      install what is missing, start every service that is not already running and healthy,
#           wait until each really answers, write .flops/infra/env and print a summary.
#   down    stop the services this script started (found through their pid files); data is kept.
#   status  one line per service: running/stopped, address, pid. Exits 3 if any is not running.
#   env     print .flops/infra/env (use: `. .flops/infra/env` or `eval "$(tools/infra.sh env)"`).
#
# Environment (all optional):
#   FLOPS_MQTT_PORT=1883          Mosquitto listener port
#   FLOPS_REGISTRY_PORT=5000      CNCF Distribution (docker-registry) port
#   FLOPS_MONGO_PORT=27017        FerretDB port
#   FLOPS_MLFLOW_PORT=5500        MLflow tracking server port
#   FLOPS_SKIP_MLFLOW=1           do not install or start MLflow (FLOPS_MLFLOW_URL is then not written)
#   MONGO_URL                     an existing MongoDB to use instead of starting FerretDB (a value
#                                 equal to mongodb://127.0.0.1:$FLOPS_MONGO_PORT/, e.g. one that
#                                 came from sourcing our own env file, still means "ours")
#   FLOPS_INFRA_DIR=<repo>/.flops/infra   where config, data, logs and pid files go
#   FLOPS_CACHE_DIR=~/.cache/flops        shared cache (the built FerretDB binary lives in bin/)
#   FLOPS_INFRA_TIMEOUT=60        seconds to wait for each service to answer
#   FLOPS_FERRETDB_DEBUG_ADDR=-   FerretDB's HTTP debug/metrics listener ('-' = off, else host:port)
#
# Layout: .flops/infra/<svc>/{<svc>.log,<svc>.pid,<svc>.port,config,data}, svc = mosquitto,
# registry, ferretdb, mlflow (its SQLite store in data/, artifacts in artifacts/); .flops/infra/env
# is written by `up`. MLflow comes from PyPI into a venv cached by tools/python-venv.sh.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"

INFRA_DIR="${FLOPS_INFRA_DIR:-$ROOT/.flops/infra}"
[[ "$INFRA_DIR" == /* ]] || INFRA_DIR="$PWD/$INFRA_DIR"
INFRA_DIR="${INFRA_DIR%/}"
CACHE_DIR="${FLOPS_CACHE_DIR:-${HOME:-/tmp/flops-$(id -u)}/.cache/flops}"
[[ "$CACHE_DIR" == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
ENV_FILE="$INFRA_DIR/env"

MQTT_PORT="${FLOPS_MQTT_PORT:-1883}"
REGISTRY_PORT="${FLOPS_REGISTRY_PORT:-5000}"
MONGO_PORT="${FLOPS_MONGO_PORT:-27017}"
MLFLOW_PORT="${FLOPS_MLFLOW_PORT:-5500}"
SKIP_MLFLOW="${FLOPS_SKIP_MLFLOW:-}"
TIMEOUT="${FLOPS_INFRA_TIMEOUT:-60}"
FERRETDB_DEBUG_ADDR="${FLOPS_FERRETDB_DEBUG_ADDR:--}"

FERRETDB_MODULE="github.com/FerretDB/FerretDB"
FERRETDB_VERSION="v1.24.0"
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb-$FERRETDB_VERSION"

HOST=127.0.0.1
MANAGED_MONGO_URL="mongodb://$HOST:$MONGO_PORT/"

# ---------------------------------------------------------------------------------------------
# helpers

log() { printf '[infra] %s\n' "$*"; }
warn() { printf '[infra] WARNING: %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# die_svc SVC MESSAGE: fail naming the service and pointing at (the tail of) its log.
die_svc() {
  local svc=$1 msg=$2 logf
  logf="$(svc_log "$svc")"
  printf '[infra] ERROR: %s: %s\n[infra] see its log: %s\n' "$svc" "$msg" "$logf" >&2
  if [[ -s "$logf" ]]; then
    printf '[infra] ---- last lines of %s ----\n' "$logf" >&2
    tail -n 20 "$logf" >&2 || true
    printf '[infra] ----\n' >&2
  fi
  exit 1
}

check_port() {
  local name=$1 value=$2
  if [[ ! "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$name must be a TCP port number (1-65535), got '$value'"
  fi
}

svc_dir() { printf '%s/%s' "$INFRA_DIR" "$1"; }
svc_log() { printf '%s/%s/%s.log' "$INFRA_DIR" "$1" "$1"; }
svc_pidfile() { printf '%s/%s/%s.pid' "$INFRA_DIR" "$1" "$1"; }
svc_portfile() { printf '%s/%s/%s.port' "$INFRA_DIR" "$1" "$1"; }

# Something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() {
  # shellcheck disable=SC2016 # $0/$1 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# The process exists and is not a zombie (an orphaned daemon that exited stays a zombie until
# pid 1 reaps it, which some init processes only do every few seconds).
proc_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
  fi
}

proc_cmdline() {
  if [[ -r "/proc/$1/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null
  else
    ps -ww -o args= -p "$1" 2>/dev/null
  fi
}

# Prints the pid of SVC if its pid file names a live process that is really ours (its command
# line mentions this stack's directory for SVC, so a recycled pid is never mistaken for it).
# A stale pid file is removed.
svc_pid() {
  local svc=$1 pidfile pid
  pidfile="$(svc_pidfile "$svc")"
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && proc_alive "$pid" && [[ "$(proc_cmdline "$pid")" == *"$(svc_dir "$svc")/"* ]]; then
    printf '%s' "$pid"
    return 0
  fi
  if [[ -w "$(dirname "$pidfile")" ]]; then
    rm -f "$pidfile" "$(svc_portfile "$svc")"
    log "$svc: removed stale pid file (pid ${pid:-?} is gone or not ours)" >&2
  fi
  return 1
}

# launch SVC CMD...: start CMD in its own session, immune to the caller's SIGHUP/SIGINT, output
# appended to the service's log. The process writes its own pid file right before exec'ing CMD,
# so the pid is right whether or not setsid had to fork.
launch() {
  local svc=$1 pidfile logf i
  shift
  pidfile="$(svc_pidfile "$svc")"
  logf="$(svc_log "$svc")"
  rm -f "$pidfile"
  printf '==== %s infra.sh starting %s: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$svc" "$*" >>"$logf"
  # 8>&- 9>&-: the daemons must not inherit our lock files' descriptors (they would hold the lock).
  # shellcheck disable=SC2016 # $$, $0 and $@ are expanded by the inner bash
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logf" 2>&1 8>&- 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die_svc "$svc" "process did not start (no pid file $pidfile)"
}

# stop_svc SVC: SIGTERM, wait up to 15 s, then SIGKILL.
stop_svc() {
  local svc=$1 pid i t0=$SECONDS
  if ! pid="$(svc_pid "$svc")"; then
    return 1
  fi
  # The process group: a server that runs workers as children (MLflow's uvicorn) leaves none behind.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    proc_alive "$pid" || break
    sleep 0.1
  done
  if proc_alive "$pid"; then
    warn "$svc (pid $pid) did not stop after SIGTERM in 15 s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$(svc_pidfile "$svc")" "$(svc_portfile "$svc")"
  log "$svc: stopped (pid $pid) in $((SECONDS - t0))s"
}

# wait_healthy SVC PORT CHECK_FN: poll CHECK_FN PORT until it succeeds; fail if the process
# exits or FLOPS_INFRA_TIMEOUT seconds pass.
wait_healthy() {
  local svc=$1 port=$2 check=$3 pid deadline
  pid="$(tr -dc '0-9' <"$(svc_pidfile "$svc")")"
  deadline=$((SECONDS + TIMEOUT))
  until "$check" "$port"; do
    if ! proc_alive "$pid"; then
      rm -f "$(svc_pidfile "$svc")" "$(svc_portfile "$svc")"
      die_svc "$svc" "exited during startup (pid $pid) before answering on $HOST:$port"
    fi
    if ((SECONDS >= deadline)); then
      die_svc "$svc" "started (pid $pid) but did not answer on $HOST:$port within ${TIMEOUT}s (FLOPS_INFRA_TIMEOUT)"
    fi
    sleep 0.3
  done
}

# ensure_svc SVC PORT PORT_VAR CHECK_FN START_FN: the idempotent core of `up` for one service.
ensure_svc() {
  local svc=$1 port=$2 port_var=$3 check=$4 start=$5 pid old_port t0 i
  mkdir -p "$(svc_dir "$svc")"
  if pid="$(svc_pid "$svc")"; then
    old_port="$(cat "$(svc_portfile "$svc")" 2>/dev/null || true)"
    if [[ "$old_port" != "$port" ]]; then
      log "$svc: running (pid $pid) on port ${old_port:-?}, but $port_var=$port: restarting it"
      stop_svc "$svc"
    else
      # Ours and on the right port: give it a few seconds (it may still be starting).
      for ((i = 0; i < 20; i++)); do
        if "$check" "$port"; then
          log "$svc: already running and healthy (pid $pid, $HOST:$port)"
          return 0
        fi
        sleep 0.5
      done
      warn "$svc: running (pid $pid) but not answering on $HOST:$port, restarting it"
      stop_svc "$svc"
    fi
  fi
  if tcp_open "$port"; then
    die_svc "$svc" "port $HOST:$port is already in use by a process this script did not start (another FLOps checkout, or a system service?). Stop it, or choose another port with $port_var=<port>."
  fi
  t0=$SECONDS
  "$start" "$port"
  printf '%s\n' "$port" >"$(svc_portfile "$svc")"
  wait_healthy "$svc" "$port" "$check"
  log "$svc: started (pid $(cat "$(svc_pidfile "$svc")"), $HOST:$port) in $((SECONDS - t0))s"
}

# apt_install PKG...: install Debian packages; `apt-get update` only when the plain install fails.
apt_install() {
  local sudo=() aptlog="$INFRA_DIR/apt.log"
  command -v apt-get >/dev/null 2>&1 || die "cannot install $* (no apt-get here): install it yourself"
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "need root (or password-less sudo) to apt-get install $*: install it yourself"
    fi
  fi
  mkdir -p "$INFRA_DIR"
  log "installing $* with apt-get (log: $aptlog)"
  if ! flock /tmp/flops-apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$aptlog" 2>&1; then
    log "apt-get install failed, running apt-get update first"
    flock /tmp/flops-apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$aptlog" 2>&1 ||
      die "apt-get update failed, see $aptlog"
    flock /tmp/flops-apt.lock "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$aptlog" 2>&1 ||
      die "apt-get install $* failed, see $aptlog"
  fi
}

mosquitto_bin() {
  command -v mosquitto 2>/dev/null || { [[ -x /usr/sbin/mosquitto ]] && echo /usr/sbin/mosquitto; }
}

# ---------------------------------------------------------------------------------------------
# 1. Mosquitto (MQTT broker)

mqtt_has_clients() { command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1; }

# Health: a real publish/subscribe round trip through a retained message (no subscribe race),
# cleared afterwards; only a TCP connect if mosquitto-clients is not installed.
mqtt_check() {
  local port=$1 topic out
  if ! mqtt_has_clients; then
    tcp_open "$port"
    return
  fi
  topic="flops/infra/health/$$-$RANDOM"
  timeout 5 mosquitto_pub -h "$HOST" -p "$port" -q 1 -r -t "$topic" -m ok >/dev/null 2>&1 || return 1
  out="$(timeout 5 mosquitto_sub -h "$HOST" -p "$port" -q 1 -t "$topic" -C 1 -W 3 2>/dev/null || true)"
  timeout 5 mosquitto_pub -h "$HOST" -p "$port" -q 1 -r -n -t "$topic" >/dev/null 2>&1 || true
  [[ "$out" == ok ]]
}

mqtt_start() {
  local port=$1 dir bin
  dir="$(svc_dir mosquitto)"
  bin="$(mosquitto_bin)"
  mkdir -p "$dir/data"
  # `user`: mosquitto started as root otherwise drops to user "mosquitto", which cannot write here.
  cat >"$dir/mosquitto.conf" <<EOF
# Written by tools/infra.sh on every start; edits are lost.
listener $port $HOST
allow_anonymous true
persistence true
persistence_location $dir/data/
log_dest file $dir/mosquitto.log
log_timestamp_format %Y-%m-%dT%H:%M:%S
max_queued_messages 10000
message_size_limit 0
user $(id -un)
EOF
  launch mosquitto "$bin" -c "$dir/mosquitto.conf"
}

mqtt_up() {
  if [[ -z "$(mosquitto_bin)" ]]; then
    apt_install mosquitto
    [[ -n "$(mosquitto_bin)" ]] || die "mosquitto: still no mosquitto binary after installing the package"
  fi
  if ! mqtt_has_clients; then
    # Optional: only for the pub/sub round-trip health check.
    (apt_install mosquitto-clients) || warn "mosquitto-clients not installed: MQTT health check is a plain TCP connect"
  fi
  ensure_svc mosquitto "$MQTT_PORT" FLOPS_MQTT_PORT mqtt_check mqtt_start
}

# ---------------------------------------------------------------------------------------------
# 2. CNCF Distribution registry (Debian's docker-registry)

REGISTRY_BIN=/usr/bin/docker-registry

registry_check() {
  local out
  out="$(curl -fsS --max-time 3 "http://$HOST:$1/v2/" 2>/dev/null)" || return 1
  [[ "$(tr -d '[:space:]' <<<"$out")" == '{}' ]]
}

registry_start() {
  local port=$1 dir secret
  dir="$(svc_dir registry)"
  mkdir -p "$dir/data"
  # A stable secret, so upload sessions survive restarts (and the registry does not warn).
  [[ -s "$dir/http-secret" ]] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/http-secret"
  secret="$(cat "$dir/http-secret")"
  # Our own config: Debian's /etc/docker/registry/config.yml turns on htpasswd auth.
  cat >"$dir/config.yml" <<EOF
# Written by tools/infra.sh on every start; edits are lost.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $HOST:$port
  secret: $secret
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  launch registry "$REGISTRY_BIN" serve "$dir/config.yml"
}

registry_up() {
  [[ -x "$REGISTRY_BIN" ]] || apt_install docker-registry
  [[ -x "$REGISTRY_BIN" ]] || die "registry: $REGISTRY_BIN still missing after installing docker-registry"
  command -v curl >/dev/null 2>&1 || apt_install curl
  ensure_svc registry "$REGISTRY_PORT" FLOPS_REGISTRY_PORT registry_check registry_start
}

# ---------------------------------------------------------------------------------------------
# 3. MongoDB-wire database: FerretDB (SQLite backend), or the user's own MONGO_URL

mongo_is_external() {
  [[ -n "${MONGO_URL:-}" && "${MONGO_URL%/}" != "${MANAGED_MONGO_URL%/}" ]]
}

# 0 = answered, 1 = did not, 3 = cannot tell (no node or no `mongodb` driver installed).
mongo_ping_node() {
  command -v node >/dev/null 2>&1 || return 3
  (cd "$ROOT" && node "$SCRIPT_DIR/wait-for-mongo.js" "$1" --quiet 2>/dev/null) || return $?
}

# Health: a real MongoDB wire round trip (`ping`) with tools/wait-for-mongo.js (the Node driver
# from node_modules, or a raw OP_MSG without it); a TCP connect only if there is no node at all.
# (`ferretdb ping` is no help: in v1.24 it needs --setup-username and --test-enable-new-auth.)
mongo_check() {
  local port=$1 rc=0
  mongo_ping_node "mongodb://$HOST:$port/" || rc=$?
  [[ $rc == 3 ]] || return "$rc"
  tcp_open "$port"
}

find_go() {
  local g
  for g in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "${HOME:-/nonexistent}/go/bin/go" /usr/lib/go/bin/go; do
    [[ -n "$g" && -x "$g" ]] && { printf '%s' "$g"; return 0; }
  done
  return 1
}

ferretdb_binary_ok() {
  [[ -x "$FERRETDB_BIN" ]] || return 1
  # Captured first: `grep -q` stopping early would SIGPIPE the binary and fail the pipeline (pipefail).
  local reported
  reported=$("$FERRETDB_BIN" --version 2>/dev/null || true)
  grep -qx "version: $FERRETDB_VERSION" <<<"$reported"
}

# Build FerretDB from the module proxy's source once per machine (cached in $FLOPS_CACHE_DIR/bin).
# build/version/version.txt is not in the module zip and is //go:embed'ed by build/version; without
# it the binary panics at start, so we copy the (read-only) module source and write it ourselves.
ferretdb_build() {
  local go tmp json moddir blog t0 t1 t2
  mkdir -p "$CACHE_DIR/bin" "$(svc_dir ferretdb)"
  exec 8>"$CACHE_DIR/bin/.ferretdb-build.lock"
  flock -w 1800 8 || die "ferretdb: timed out waiting for another build ($CACHE_DIR/bin/.ferretdb-build.lock)"
  if ferretdb_binary_ok; then exec 8>&-; return 0; fi # built meanwhile by another `up`
  go="$(find_go)" || die "ferretdb: Go (>= 1.22) is needed to build FerretDB $FERRETDB_VERSION and was not found (put it on PATH), or set MONGO_URL to an existing MongoDB"
  blog="$(svc_dir ferretdb)/build.log"
  : >"$blog"
  log "ferretdb: building $FERRETDB_MODULE@$FERRETDB_VERSION with $("$go" version | cut -d' ' -f3) (one-time, cached in $FERRETDB_BIN; log: $blog)"
  tmp="$(mktemp -d "$CACHE_DIR/ferretdb-build.XXXXXX")"
  # shellcheck disable=SC2064 # expand $tmp now
  trap "chmod -R u+w '$tmp' 2>/dev/null; rm -rf '$tmp'" EXIT
  t0=$SECONDS
  json="$(cd "$tmp" && GOFLAGS=-mod=mod GO111MODULE=on "$go" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" 2>>"$blog")" || {
    printf '%s\n' "$json" >>"$blog"
    die_svc ferretdb "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed (see $blog)"
  }
  moddir="$(sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
  [[ -n "$moddir" && -d "$moddir" ]] || die "ferretdb: no module directory in go mod download output: $json"
  cp -R "$moddir/." "$tmp/src"
  chmod -R u+w "$tmp/src"
  printf '%s\n' "$FERRETDB_VERSION" >"$tmp/src/build/version/version.txt"
  t1=$SECONDS
  # No build tags needed: the SQLite backend is in by default (ferretdb_no_sqlite would remove it),
  # and it is pure Go (modernc.org/sqlite), hence CGO_ENABLED=0. GOFLAGS is reset so a user's
  # -mod=vendor etc. cannot interfere; -buildvcs=false because the copy is not a git checkout.
  if ! (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS='' GO111MODULE=on "$go" build -trimpath -buildvcs=false \
    -o "$tmp/ferretdb" ./cmd/ferretdb) >>"$blog" 2>&1; then
    tail -n 30 "$blog" >&2
    die "ferretdb: go build failed, see $blog"
  fi
  t2=$SECONDS
  # Captured first: `grep -q` stopping early would SIGPIPE the binary and fail the pipeline (pipefail).
  local reported
  reported=$("$tmp/ferretdb" --version 2>&1 || true)
  grep -qx "version: $FERRETDB_VERSION" <<<"$reported" ||
    die "ferretdb: the built binary does not report version $FERRETDB_VERSION: $(head -3 <<<"$reported")"
  mv -f "$tmp/ferretdb" "$FERRETDB_BIN"
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  log "ferretdb: built in $((t2 - t0))s (source download+copy $((t1 - t0))s, go build incl. dependency downloads $((t2 - t1))s)"
}

mongo_start() {
  local port=$1 dir v unset_env=()
  dir="$(svc_dir ferretdb)"
  for v in $(compgen -e); do
    [[ $v == FERRETDB_* ]] && unset_env+=(-u "$v")
  done
  mkdir -p "$dir/data" "$dir/state"
  # --state-dir: by default FerretDB writes state.json into its cwd.
  # --debug-addr: by default an HTTP debug/metrics listener on 127.0.0.1:8088 (would collide
  #   between two stacks); '-' turns it off, FLOPS_FERRETDB_DEBUG_ADDR=host:port turns it on.
  # --telemetry=disable: no reporting to beacon.ferretdb.com (there is no network here anyway).
  # env -u FERRETDB_*: FerretDB reads every flag from FERRETDB_<FLAG> too; only our flags count.
  launch ferretdb env "${unset_env[@]}" DO_NOT_TRACK=1 \
    "$FERRETDB_BIN" \
    --handler=sqlite \
    --sqlite-url="file:$dir/data/" \
    --state-dir="$dir/state" \
    --listen-addr="$HOST:$port" \
    --debug-addr="$FERRETDB_DEBUG_ADDR" \
    --telemetry=disable \
    --log-level=info
}

mongo_up() {
  if mongo_is_external; then
    local rc=0
    mongo_ping_node "$MONGO_URL" || rc=$?
    case $rc in
      0) log "mongo: using MONGO_URL from the environment (answers ping); FerretDB not started" ;;
      3) log "mongo: using MONGO_URL from the environment (not checked: no node/mongodb driver); FerretDB not started" ;;
      *) warn "mongo: MONGO_URL from the environment does not answer ping right now; using it anyway, FerretDB not started" ;;
    esac
    return 0
  fi
  mkdir -p "$(svc_dir ferretdb)"
  if ! svc_pid ferretdb >/dev/null && ! ferretdb_binary_ok; then
    ferretdb_build
  fi
  ensure_svc ferretdb "$MONGO_PORT" FLOPS_MONGO_PORT mongo_check mongo_start
}

# ---------------------------------------------------------------------------------------------
# 4. MLflow tracking server: pinned in tools/mlflow/requirements.txt, installed once into a venv
#    cached by tools/python-venv.sh (the one venv mechanism), SQLite backend store and a local
#    artifact store served by the server itself (--serve-artifacts), on loopback.

MLFLOW_REQUIREMENTS="$SCRIPT_DIR/mlflow/requirements.txt"

mlflow_check() {
  local out
  out="$(curl -fsS --max-time 3 "http://$HOST:$1/health" 2>/dev/null)" || return 1
  [[ "$out" == OK* ]]
}

mlflow_python() {
  bash "$SCRIPT_DIR/python-venv.sh" "$MLFLOW_REQUIREMENTS"
}

mlflow_start() {
  local port=$1 dir python
  dir="$(svc_dir mlflow)"
  mkdir -p "$dir/data" "$dir/artifacts"
  python="$(mlflow_python)" || die_svc mlflow "could not create its venv (tools/python-venv.sh $MLFLOW_REQUIREMENTS)"
  # One worker: a small tracking server; the SQLite store is migrated on the first start.
  launch mlflow "$python" -m mlflow server \
    --host "$HOST" --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$dir/data/mlflow.db" \
    --serve-artifacts --artifacts-destination "$dir/artifacts"
}

mlflow_up() {
  [[ "$SKIP_MLFLOW" == 1 ]] && { log "mlflow: skipped (FLOPS_SKIP_MLFLOW=1)"; return 0; }
  command -v curl >/dev/null 2>&1 || apt_install curl
  if ! svc_pid mlflow >/dev/null; then
    # Installs on the first run only (minutes); later runs find the cached venv at once.
    mlflow_python >/dev/null || die "mlflow: tools/python-venv.sh $MLFLOW_REQUIREMENTS failed"
  fi
  # Its first start migrates the SQLite schema: give it more time than the others.
  local TIMEOUT=$((TIMEOUT > 180 ? TIMEOUT : 180))
  ensure_svc mlflow "$MLFLOW_PORT" FLOPS_MLFLOW_PORT mlflow_check mlflow_start
}

# ---------------------------------------------------------------------------------------------
# 5. Container tools: podman runs components (FLOPS_DRIVER=podman) with runc (crun refuses hosts
#    with hybrid cgroups); skopeo inspects and copies images; busybox-static makes the driver
#    tests' probe image. Nothing is started: podman is daemonless, and the driver passes
#    --tls-verify=false, ulimits and the runtime per call, so no global containers config changes.

container_tools_up() {
  local missing=() pair
  for pair in podman:podman skopeo:skopeo runc:runc busybox:busybox-static; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${pair%%:*}" ]] || missing+=("${pair#*:}")
  done
  [[ ${#missing[@]} == 0 ]] || apt_install "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# commands

SERVICES=(mosquitto registry ferretdb mlflow)

write_env() {
  local mongo_url=$MANAGED_MONGO_URL tmp
  mongo_is_external && mongo_url=$MONGO_URL
  tmp="$ENV_FILE.tmp.$$"
  {
    printf '# Written by tools/infra.sh up; load with: . %s\n' "$ENV_FILE"
    printf 'export FLOPS_MQTT_URL=%q\n' "mqtt://$HOST:$MQTT_PORT"
    printf 'export FLOPS_REGISTRY_URL=%q\n' "http://$HOST:$REGISTRY_PORT"
    printf 'export MONGO_URL=%q\n' "$mongo_url"
    [[ "$SKIP_MLFLOW" == 1 ]] || printf 'export FLOPS_MLFLOW_URL=%q\n' "http://$HOST:$MLFLOW_PORT"
  } >"$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

take_lock() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.lock"
  flock -w 1800 9 || die "timed out waiting for another tools/infra.sh up/down on $INFRA_DIR"
}

cmd_up() {
  local t0=$SECONDS
  check_port FLOPS_MQTT_PORT "$MQTT_PORT"
  check_port FLOPS_REGISTRY_PORT "$REGISTRY_PORT"
  check_port FLOPS_MONGO_PORT "$MONGO_PORT"
  check_port FLOPS_MLFLOW_PORT "$MLFLOW_PORT"
  [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "FLOPS_INFRA_TIMEOUT must be a number of seconds, got '$TIMEOUT'"
  take_lock
  mqtt_up
  registry_up
  mongo_up
  mlflow_up
  container_tools_up
  write_env
  log "all up in $((SECONDS - t0))s; data/logs in $INFRA_DIR"
  log "  MQTT      mqtt://$HOST:$MQTT_PORT       log $(svc_log mosquitto)"
  log "  registry  http://$HOST:$REGISTRY_PORT       log $(svc_log registry)"
  if mongo_is_external; then
    log "  mongo     (external MONGO_URL from the environment)"
  else
    log "  mongo     $MANAGED_MONGO_URL  log $(svc_log ferretdb)  (FerretDB $FERRETDB_VERSION, SQLite)"
  fi
  [[ "$SKIP_MLFLOW" == 1 ]] || log "  MLflow    http://$HOST:$MLFLOW_PORT       log $(svc_log mlflow)"
  log "load the environment with: . $ENV_FILE"
}

cmd_down() {
  local svc
  if [[ ! -d "$INFRA_DIR" ]]; then
    log "nothing to stop ($INFRA_DIR does not exist)"
    return 0
  fi
  take_lock
  for svc in mlflow ferretdb registry mosquitto; do
    stop_svc "$svc" || log "$svc: not running"
  done
  log "data kept in $INFRA_DIR"
}

cmd_status() {
  local svc pid port state rc=0 addr
  for svc in "${SERVICES[@]}"; do
    case $svc in
      mosquitto) port=$MQTT_PORT ;;
      registry) port=$REGISTRY_PORT ;;
      ferretdb) port=$MONGO_PORT ;;
      mlflow) port=$MLFLOW_PORT ;;
    esac
    if pid="$(svc_pid "$svc" 2>/dev/null)"; then
      port="$(cat "$(svc_portfile "$svc")" 2>/dev/null || echo "$port")"
      state=running
      case $svc in
        mosquitto) tcp_open "$port" || state="running(not-answering)" ;;
        registry) registry_check "$port" || state="running(not-answering)" ;;
        ferretdb) mongo_check "$port" || state="running(not-answering)" ;;
        mlflow) mlflow_check "$port" || state="running(not-answering)" ;;
      esac
      [[ $state == running ]] || rc=3
      addr="$HOST:$port"
      printf '%-10s %-24s %-17s pid %s\n' "$svc" "$state" "$addr" "$pid"
    elif [[ $svc == mlflow && "$SKIP_MLFLOW" == 1 ]]; then
      printf '%-10s %-24s %s\n' "$svc" "skipped" "FLOPS_SKIP_MLFLOW=1"
    elif [[ $svc == ferretdb ]] && mongo_is_external; then
      printf '%-10s %-24s %s\n' "$svc" "external" "MONGO_URL is set, FerretDB not used"
    else
      printf '%-10s %-24s %-17s\n' "$svc" stopped "$HOST:$port"
      rc=3
    fi
  done
  return $rc
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE yet: run tools/infra.sh up first"
  cat "$ENV_FILE"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
