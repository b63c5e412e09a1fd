#!/usr/bin/env bash
# tools/oakestra.sh: a real Oakestra v0.4.411 on this machine, from the pinned, unchanged sources
# (shared/third_party snapshots, or clones of the same commits): a root orchestrator, one cluster
# orchestrator and one worker node, every process native (no container images are needed).
#
# Usage: tools/oakestra.sh up|down|status|env|build
#   up      install what is missing (Debian packages, one-time builds cached in ~/.cache/flops),
#           start every part that is not already running, wait until the worker has joined the
#           cluster, write .flops/oakestra/env. Idempotent.
#   down    stop everything `up` started (worker containers first); data is kept.
#   status  one line per part; exits 3 if any is not running.
#   env     print .flops/oakestra/env (FLOPS_OAKESTRA_URL, user, password, ...).
#   build   only the installs and one-time builds of `up` (nothing is started).
#
# Parts and their ports (Oakestra's defaults, on 127.0.0.1 wherever the part lets us choose):
#   root:    system manager 10000 (+ gRPC 50052), root service manager 10099, root scheduler 10004,
#            resource abstractor 11011, jwt-generator 10011, Redis 6379, MongoDB stores 10007/10008
#   cluster: cluster manager 10100, cluster service manager 10110, cluster scheduler 10105,
#            resource abstractor 11012, Mosquitto 10003, Redis 6479, MongoDB stores 10107/10108
#   worker:  containerd (/run/containerd/containerd.sock), NetManager
#            (/etc/netmanager/netmanager.sock), NodeEngine (config /etc/oakestra/conf.json)
# The MongoDB stores are DocumentDB (PostgreSQL extension + wire gateway), see oakestra/documentdb.sh.
#
# Environment (optional):
#   FLOPS_OAKESTRA_DIR=<repo>/.flops/oakestra   logs, pids, configuration, worker app logs
#   FLOPS_CACHE_DIR=~/.cache/flops              builds and venvs go to $FLOPS_CACHE_DIR/oakestra
#   FLOPS_THIRD_PARTY_DIR                       where the source snapshots are (default: shared/third_party)
#   FLOPS_OAKESTRA_TIMEOUT=120                  seconds to wait for each part
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd -P)"
STATE="${FLOPS_OAKESTRA_DIR:-$ROOT/.flops/oakestra}"
[[ $STATE == /* ]] || STATE="$PWD/$STATE"
CACHE="${FLOPS_CACHE_DIR:-$HOME/.cache/flops}/oakestra"
TIMEOUT="${FLOPS_OAKESTRA_TIMEOUT:-120}"
# PostgreSQL data must be reachable by the `postgres` user, whatever the clone's permissions are.
PG_ROOT="/var/lib/flops-oakestra/$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
CTRD_ROOT="/var/lib/flops-oakestra/containerd"
H=127.0.0.1

# shellcheck source=tools/oakestra/lib.sh
. "$SCRIPT_DIR/oakestra/lib.sh"
# shellcheck source=tools/oakestra/build.sh
. "$SCRIPT_DIR/oakestra/build.sh"
# shellcheck source=tools/oakestra/documentdb.sh
. "$SCRIPT_DIR/oakestra/documentdb.sh"

ADMIN_USER=Admin
ADMIN_PASSWORD=Admin
CLUSTER_NAME=flopslocal
MONGO_HOST="$DOCDB_USER:$DOCDB_PASSWORD@$H" # goes into Oakestra's mongodb://<URL>:<PORT>/<db>

# ---------------------------------------------------------------------------------------------
# root orchestrator

root_up() {
  _redis() { launch redis-root "$(svc_dir redis-root)" redis-server --bind $H --port 6379 \
    --requirepass rootRedis --save '' --appendonly no; }
  _redis_ok() { redis-cli -h $H -p 6379 -a rootRedis --no-auth-warning ping | grep -q PONG; }
  ensure redis-root 30 _redis_ok _redis

  _jwt() { launch jwt-generator "$OAK_SRC/root_orchestrator/jwt-generator" JWT_GENERATOR_PORT=10011 \
    "$V_JWT/bin/gunicorn" --bind $H:10011 jwt_generator:app; }
  ensure jwt-generator "$TIMEOUT" "http_ok http://$H:10011/key" _jwt

  _ra_root() { launch ra-root "$OAK_SRC/resource-abstractor" RESOURCE_ABSTRACTOR_PORT=11011 \
    MONGO_URL="$MONGO_HOST" MONGO_PORT=10007 LOG_LEVEL=INFO \
    "$V_RA/bin/gunicorn" --bind $H:11011 --threads 8 resource_abstractor:app; }
  ensure ra-root "$TIMEOUT" "http_answers http://$H:11011/api/v1/candidates" _ra_root

  _rsm() { launch root-service-manager "$NET_SRC/root-service-manager/service-manager" MY_PORT=10099 \
    SYSTEM_MANAGER_URL=$H SYSTEM_MANAGER_PORT=10000 ROOT_MONGO_URL="$MONGO_HOST" ROOT_MONGO_PORT=10008 \
    JWT_GENERATOR_URL=$H JWT_GENERATOR_PORT=10011 "$V_RSM/bin/python" service_manager.py; }
  ensure root-service-manager "$TIMEOUT" "http_answers http://$H:10099/" _rsm

  _rsched() { launch root-scheduler "$STATE" ORCHESTRATION_PLANE=root API_PORT=10004 MANAGER_URL=$H \
    MANAGER_PORT=10000 RESOURCE_ABSTRACTOR_URL=$H RESOURCE_ABSTRACTOR_PORT=11011 \
    REDIS_ADDR="redis://:rootRedis@$H:6379" "$SCHEDULER_BIN"; }
  ensure root-scheduler "$TIMEOUT" "tcp_open 10004" _rsched

  _sm() { launch system-manager "$OAK_SRC/root_orchestrator/system-manager-python" MY_PORT=10000 \
    MY_PORT_GRPC=50052 ROOT_MONGO_URL="$MONGO_HOST" ROOT_MONGO_PORT=10007 LOG_LEVEL=INFO \
    ROOT_SCHEDULER_URL=$H ROOT_SCHEDULER_PORT=10004 RESOURCE_ABSTRACTOR_URL=$H RESOURCE_ABSTRACTOR_PORT=11011 \
    NET_PLUGIN_URL=$H NET_PLUGIN_PORT=10099 JWT_GENERATOR_URL=$H JWT_GENERATOR_PORT=10011 \
    "$V_SM/bin/gunicorn" --bind $H:10000 --timeout 120 system_manager:app; }
  ensure system-manager "$TIMEOUT" sm_login _sm
}

sm_token() {
  curl -fsS --max-time 10 -X POST "http://$H:10000/api/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$ADMIN_USER\",\"password\":\"$ADMIN_PASSWORD\"}" |
    sed -n 's/.*"token": *"\([^"]*\)".*/\1/p'
}
sm_login() { [[ -n "$(sm_token)" ]]; }

# ---------------------------------------------------------------------------------------------
# cluster orchestrator

cluster_up() {
  _redis() { launch redis-cluster "$(svc_dir redis-cluster)" redis-server --bind $H --port 6479 \
    --requirepass clusterRedis --save '' --appendonly no; }
  _redis_ok() { redis-cli -h $H -p 6479 -a clusterRedis --no-auth-warning ping | grep -q PONG; }
  ensure redis-cluster 30 _redis_ok _redis

  _mqtt() {
    local d
    d="$(svc_dir mqtt)"
    mkdir -p "$d"
    printf 'listener 10003 %s\nallow_anonymous true\npersistence false\nuser %s\n' $H "$(id -un)" >"$d/mosquitto.conf"
    launch mqtt "$d" mosquitto -c "$d/mosquitto.conf"
  }
  ensure mqtt 30 "tcp_open 10003" _mqtt

  _ra_cluster() { launch ra-cluster "$OAK_SRC/resource-abstractor" RESOURCE_ABSTRACTOR_PORT=11012 \
    MONGO_URL="$MONGO_HOST" MONGO_PORT=10107 LOG_LEVEL=INFO \
    "$V_RA/bin/gunicorn" --bind $H:11012 --threads 8 resource_abstractor:app; }
  ensure ra-cluster "$TIMEOUT" "http_answers http://$H:11012/api/v1/candidates" _ra_cluster

  _csched() { launch cluster-scheduler "$STATE" ORCHESTRATION_PLANE=cluster API_PORT=10105 MANAGER_URL=$H \
    MANAGER_PORT=10100 RESOURCE_ABSTRACTOR_URL=$H RESOURCE_ABSTRACTOR_PORT=11012 \
    REDIS_ADDR="redis://:clusterRedis@$H:6479" "$SCHEDULER_BIN"; }
  ensure cluster-scheduler "$TIMEOUT" "tcp_open 10105" _csched

  _csm() { launch cluster-service-manager "$NET_SRC/cluster-service-manager/service-manager" MY_PORT=10110 \
    MQTT_BROKER_URL=$H MQTT_BROKER_PORT=10003 ROOT_SERVICE_MANAGER_URL=$H ROOT_SERVICE_MANAGER_PORT=10099 \
    SYSTEM_MANAGER_URL=$H SYSTEM_MANAGER_PORT=10100 CLUSTER_MONGO_URL="$MONGO_HOST" CLUSTER_MONGO_PORT=10108 \
    "$V_CSM/bin/python" service_manager.py; }
  ensure cluster-service-manager "$TIMEOUT" "http_answers http://$H:10110/" _csm

  _cm() { launch cluster-manager "$OAK_SRC/cluster_orchestrator/cluster-manager" MY_PORT=10100 LOG_LEVEL=INFO \
    SYSTEM_MANAGER_URL=$H SYSTEM_MANAGER_PORT=10000 SYSTEM_MANAGER_GRPC_PORT=50052 \
    CLUSTER_SERVICE_MANAGER_ADDR=$H CLUSTER_SERVICE_MANAGER_PORT=10110 CLUSTER_MONGO_URL="$MONGO_HOST" \
    CLUSTER_MONGO_PORT=10107 CLUSTER_SCHEDULER_URL=$H CLUSTER_SCHEDULER_PORT=10105 MQTT_BROKER_URL=$H \
    MQTT_BROKER_PORT=10003 RESOURCE_ABSTRACTOR_URL=$H RESOURCE_ABSTRACTOR_PORT=11012 \
    CLUSTER_NAME=$CLUSTER_NAME CLUSTER_LOCATION=48.1351,11.5820,1000 \
    "$V_CM/bin/gunicorn" --bind $H:10100 --timeout 120 cluster_manager:app; }
  ensure cluster-manager "$TIMEOUT" "http_answers http://$H:10100/" _cm
}

# ---------------------------------------------------------------------------------------------
# worker node

worker_up() {
  apt_ensure containerd runc iptables
  # NodeEngine reads /etc/containerd/config.toml for the runtimes it may offer (and crashes without
  # one), so containerd gets its configuration from there too.
  _ctrd() {
    mkdir -p /etc/containerd "$CTRD_ROOT"
    cat >/etc/containerd/config.toml <<EOF
# Written by FLOps's tools/oakestra.sh for Oakestra's worker node.
version = 2
root = "$CTRD_ROOT"
state = "/run/flops-oakestra/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
EOF
    launch containerd "$STATE" containerd --config /etc/containerd/config.toml
  }
  ensure containerd 30 "ctr version" _ctrd

  mkdir -p /etc/netmanager /etc/oakestra "$STATE/applogs"
  cat >/etc/netmanager/netcfg.json <<EOF
{"NodePublicAddress": "$H", "NodePublicPort": "50103", "ClusterUrl": "$H", "ClusterMqttPort": "10003",
 "DefaultInterface": "", "Debug": false, "PublicIPNetworking": false, "MqttCert": "", "MqttKey": ""}
EOF
  cp "$NET_SRC/node-net-manager/config/tuncfg.json" /etc/netmanager/tuncfg.json
  _netmgr() { launch netmanager "$STATE" "$NETMANAGER_BIN"; }
  ensure netmanager 30 "test -S /etc/netmanager/netmanager.sock" _netmgr

  cat >/etc/oakestra/conf.json <<EOF
{"conf_version": "1.0", "cluster_address": "$H", "cluster_port": 10100, "cluster_ssl": false,
 "app_logs": "$STATE/applogs", "overlay_network": "custom:/etc/netmanager/netmanager.sock",
 "public_ip": false, "overlay_network_port": 0, "mqtt_cert_file": "", "mqtt_key_file": "", "addons": [],
 "virtualizations": [{"virutalizaiton_name": "containerd", "virutalizaiton_runtime": "docker",
   "virutalizaiton_active": true, "virutalizaiton_config": []}], "csi_drivers": []}
EOF
  _ne() { launch nodeengine "$STATE" "$NODEENGINED_BIN"; }
  ensure nodeengine "$TIMEOUT" worker_joined _ne
  host_from_containers
}

# Worker containers reach this machine at its end of NetManager's bridge (their default gateway).
# Services of this machine that listen on loopback only (FLOps's broker, registry, ...) are made
# reachable there: TCP to <bridge address>:<port> from the bridge goes to 127.0.0.1:<port>.
host_from_containers() {
  local addr
  addr="$(ip -4 -o addr show dev goProxyBridge 2>/dev/null | awk '{print $4}' | cut -d/ -f1)"
  [[ -n $addr ]] || fail netmanager "no goProxyBridge address after the worker joined"
  sysctl -qw net.ipv4.conf.goProxyBridge.route_localnet=1
  iptables -t nat -N FLOPS 2>/dev/null || iptables -t nat -F FLOPS
  iptables -t nat -A FLOPS -i goProxyBridge -d "$addr" -p tcp -j DNAT --to-destination 127.0.0.1
  iptables -t nat -C PREROUTING -j FLOPS 2>/dev/null || iptables -t nat -A PREROUTING -j FLOPS
  HOST_FROM_CONTAINERS=$addr
}

# The worker counts once the root knows an active cluster with at least one active node.
worker_joined() {
  local token
  token="$(sm_token)" && [[ -n $token ]] || return 1
  curl -fsS --max-time 5 "http://$H:10000/api/clusters/active" -H "Authorization: Bearer $token" |
    grep -Eq '"active_nodes": *[1-9]'
}

# ---------------------------------------------------------------------------------------------
# commands

PARTS=(pg-root gw-root pg-rootnet gw-rootnet pg-cluster gw-cluster pg-clusternet gw-clusternet
  redis-root jwt-generator ra-root root-service-manager root-scheduler system-manager
  redis-cluster mqtt ra-cluster cluster-scheduler cluster-service-manager cluster-manager
  containerd netmanager nodeengine)

write_env() {
  cat >"$STATE/env" <<EOF
# Written by tools/oakestra.sh up; load with: . $STATE/env
export FLOPS_OAKESTRA_URL=http://$H:10000
export FLOPS_OAKESTRA_USER=$ADMIN_USER
export FLOPS_OAKESTRA_PASSWORD=$ADMIN_PASSWORD
export FLOPS_OAKESTRA_NET_URL=http://$H:10099
export FLOPS_OAKESTRA_CLUSTER=$CLUSTER_NAME
export FLOPS_OAKESTRA_NODE=$(hostname)
# This machine as seen from inside the worker's containers (its loopback services answer there).
export FLOPS_OAKESTRA_HOST_ADDRESS=$HOST_FROM_CONTAINERS
EOF
}

# Everything `up` needs on disk: packages, sources, venvs, binaries, DocumentDB.
cmd_build() {
  local t0=$SECONDS
  apt_ensure redis-server mosquitto curl git ca-certificates openssl
  sources_ensure
  # The slow one-time builds run side by side.
  local pids=() p
  docdb_build & pids+=($!)
  go_ensure & pids+=($!)
  venvs_ensure >/dev/null & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || die "a build failed (see the messages above)"; done
  venvs_ensure # cached now: sets the V_* paths in this shell
  go_ensure
  docdb_install
  say "builds ready after $((SECONDS - t0))s"
}

cmd_up() {
  local t0=$SECONDS
  [[ $(id -u) == 0 ]] || die "the worker node (containerd, NetManager) needs root"
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 3600 9 || die "another tools/oakestra.sh is running on $STATE"
  cmd_build
  store_up root 10007 10207
  store_up rootnet 10008 10208
  store_up cluster 10107 10307
  store_up clusternet 10108 10308
  root_up
  cluster_up
  worker_up
  write_env
  say "up in $((SECONDS - t0))s: System Manager http://$H:10000 ($ADMIN_USER/$ADMIN_PASSWORD); env: $STATE/env"
}

# Worker containers are ours too: kill them before containerd goes.
stop_worker_tasks() {
  local c
  command -v ctr >/dev/null && ctr version >/dev/null 2>&1 || return 0
  for c in $(ctr -n oakestra containers ls -q 2>/dev/null); do
    ctr -n oakestra tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
    sleep 0.5
    ctr -n oakestra tasks rm -f "$c" >/dev/null 2>&1 || true
    ctr -n oakestra containers rm "$c" >/dev/null 2>&1 || true
    ctr -n oakestra snapshots rm "$c-snapshotter" >/dev/null 2>&1 || true
  done
}

cmd_down() {
  local i
  [[ -d $STATE ]] || { say "nothing to stop"; return 0; }
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "another tools/oakestra.sh is running on $STATE"
  local worker=0
  svc_pid netmanager >/dev/null && worker=1
  stop_svc nodeengine || true
  [[ $worker == 0 ]] || stop_worker_tasks
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
    [[ ${PARTS[i]} == nodeengine ]] && continue
    stop_svc "${PARTS[i]}" || true
  done
  if [[ $worker == 1 ]]; then
    # NetManager's bridge and tunnel (it recreates them when a NodeEngine registers), our NAT chain.
    ip link del goProxyBridge 2>/dev/null || true
    ip link del goProxyTun 2>/dev/null || true
    iptables -t nat -D PREROUTING -j FLOPS 2>/dev/null || true
    iptables -t nat -F FLOPS 2>/dev/null && iptables -t nat -X FLOPS 2>/dev/null || true
  fi
  say "down; data kept in $STATE and $PG_ROOT"
}

cmd_status() {
  local p pid rc=0
  for p in "${PARTS[@]}"; do
    if pid="$(svc_pid "$p")"; then
      printf '%-24s running  pid %s\n' "$p" "$pid"
    else
      printf '%-24s stopped\n' "$p"
      rc=3
    fi
  done
  if worker_joined; then echo "worker: joined cluster $CLUSTER_NAME (System Manager lists it active)"; else
    echo "worker: not joined"
    rc=3
  fi
  return $rc
}

case "${1:-}" in
  up) cmd_up ;;
  build) mkdir -p "$STATE" && cmd_build ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cat "$STATE/env" 2>/dev/null || die "no $STATE/env: run tools/oakestra.sh up" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
