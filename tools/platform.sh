#!/usr/bin/env bash
# Start or stop the long-running FLOps services (manager-api, project-orchestrator,
# builder-agent, ui-gateway) on this machine, with logs and pid files in .flops/platform/.
# They run compiled (`nx build` to dist/, reused from Nx's cache when nothing changed).
# Aggregators and learners are not started here: the orchestrator deploys them per project.
#   tools/platform.sh up | down | status
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${FLOPS_PLATFORM_DIR:-$ROOT/.flops/platform}"
SERVICES=(project-orchestrator builder-agent manager-api ui-gateway)
declare -A PORT_VAR=([manager-api]=FLOPS_MANAGER_PORT [project-orchestrator]=FLOPS_ORCHESTRATOR_PORT [builder-agent]=FLOPS_BUILDER_PORT [ui-gateway]=FLOPS_UI_PORT)
declare -A PORT_DEFAULT=([manager-api]=3000 [project-orchestrator]=3001 [builder-agent]=3002 [ui-gateway]=3003)

port_of() { local var=${PORT_VAR[$1]}; echo "${!var:-${PORT_DEFAULT[$1]}}"; }
running() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }
healthy() { curl -fsS -m 2 "http://127.0.0.1:$(port_of "$1")/health" >/dev/null 2>&1; }

up() {
  mkdir -p "$DIR"
  (cd "$ROOT" && NX_DAEMON=false npx nx run-many -t build --output-style=static >"$DIR/build.log" 2>&1) || {
    echo "error: the build failed; last lines of $DIR/build.log:" >&2
    tail -n 30 "$DIR/build.log" >&2
    exit 1
  }
  # shellcheck disable=SC1091
  [[ -f "$ROOT/.flops/infra/env" ]] && . "$ROOT/.flops/infra/env"
  for svc in "${SERVICES[@]}"; do
    [[ -f "$ROOT/apps/$svc/src/main.ts" ]] || continue
    if running "$svc" && healthy "$svc"; then echo "$svc already running"; continue; fi
    # Every stream redirected: nothing may keep the caller's stdout open (a pipe would never close).
    (cd "$ROOT" && exec env NO_COLOR=1 setsid node "dist/apps/$svc/main.cjs" >>"$DIR/$svc.log" 2>&1 </dev/null) &
    echo $! >"$DIR/$svc.pid"
  done
  for svc in "${SERVICES[@]}"; do
    [[ -f "$ROOT/apps/$svc/src/main.ts" ]] || continue
    for _ in $(seq 1 120); do healthy "$svc" && break; running "$svc" || break; sleep 0.5; done
    if ! healthy "$svc"; then
      echo "error: $svc did not start; last lines of $DIR/$svc.log:" >&2
      tail -n 20 "$DIR/$svc.log" >&2
      exit 1
    fi
    echo "$svc up on http://127.0.0.1:$(port_of "$svc") (log $DIR/$svc.log)"
  done
}

down() {
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then
      pid=$(cat "$DIR/$svc.pid"); kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      echo "$svc stopped"
    fi
    rm -f "$DIR/$svc.pid"
  done
}

status() {
  for svc in "${SERVICES[@]}"; do
    if running "$svc" && healthy "$svc"; then echo "$svc running :$(port_of "$svc")"; else echo "$svc stopped"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
