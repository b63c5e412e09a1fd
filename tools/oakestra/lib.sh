# shellcheck shell=bash
# Process supervision for tools/oakestra.sh: every component runs in its own session, its pid in
# $STATE/<svc>/pid and its output in $STATE/<svc>/log. Sourced, not run.

say() { printf '[oakestra] %s\n' "$*"; }
warn() { printf '[oakestra] WARNING: %s\n' "$*" >&2; }
die() { printf '[oakestra] ERROR: %s\n' "$*" >&2; exit 1; }

svc_dir() { printf '%s/%s' "$STATE" "$1"; }

# fail SVC MESSAGE: stop with the tail of the component's log.
fail() {
  local log
  log="$(svc_dir "$1")/log"
  printf '[oakestra] ERROR: %s: %s\n' "$1" "$2" >&2
  [[ -s $log ]] && { printf -- '---- last lines of %s\n' "$log" >&2; tail -n 25 "$log" >&2; }
  exit 1
}

alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat:0:1} != Z ]]
}

proc_start() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; cut -d' ' -f20 <<<"$s"; }

# The pid of SVC if its pid file names a live process started by `launch` (same start time, so a
# recycled pid is never taken for it).
svc_pid() {
  local d pid
  d="$(svc_dir "$1")"
  [[ -s $d/pid && -s $d/started ]] || return 1
  pid="$(<"$d/pid")"
  if alive "$pid" && [[ "$(proc_start "$pid")" == "$(<"$d/started")" ]]; then
    printf '%s' "$pid"
    return 0
  fi
  rm -f "$d/pid" "$d/started"
  return 1
}

# launch SVC DIR CMD...: start CMD in DIR, detached, in a new session; VAR=value words before CMD
# go to its environment (nothing else of ours leaks into it but PATH, HOME and LANG).
launch() {
  local svc=$1 dir=$2 d envs=()
  shift 2
  d="$(svc_dir "$svc")"
  mkdir -p "$d"
  rm -f "$d/pid" "$d/started"
  while [[ $1 == *=* && $1 != /* ]]; do envs+=("$1"); shift; done
  printf '==== %s starting: %s\n' "$(date -Is)" "$*" >>"$d/log"
  # The inner shell writes its pid (which exec hands to CMD) and closes every inherited descriptor
  # above 2, so no daemon holds a caller's pipe or lock open.
  # shellcheck disable=SC2016 # expanded by the inner shell
  (cd "$dir" && exec setsid -f env -i PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 \
    "${envs[@]}" bash -c 'echo $$ >"$0"
      for f in /proc/$$/fd/*; do f=${f##*/}; ((f > 2)) && eval "exec $f>&-"; done
      exec "$@"' "$d/pid" "$@" </dev/null >>"$d/log" 2>&1)
  for _ in $(seq 50); do
    [[ -s $d/pid ]] && proc_start "$(<"$d/pid")" >"$d/started" && return 0
    sleep 0.1
  done
  fail "$svc" "did not start"
}

# wait_for SVC TIMEOUT CHECK...: until CHECK succeeds; fails if SVC's process dies first.
wait_for() {
  local svc=$1 timeout=$2 deadline pid
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    pid="$(svc_pid "$svc")" || fail "$svc" "exited while starting"
    ((SECONDS < deadline)) || fail "$svc" "running (pid $pid) but not ready after ${timeout}s ($*)"
    sleep 0.5
  done
}

# ensure SVC TIMEOUT CHECK START_FN: start SVC with START_FN unless it already runs and passes CHECK.
ensure() {
  local svc=$1 timeout=$2 check=$3 start=$4 t0=$SECONDS pid
  if pid="$(svc_pid "$svc")"; then
    # shellcheck disable=SC2086 # CHECK is a command line
    if wait_quietly 10 $check; then
      say "$svc: running (pid $pid)"
      return 0
    fi
    warn "$svc: running (pid $pid) but failing its check ($check): restarting it"
    stop_svc "$svc"
  fi
  "$start"
  # shellcheck disable=SC2086
  wait_for "$svc" "$timeout" $check
  say "$svc: started in $((SECONDS - t0))s (pid $(svc_pid "$svc"))"
}

wait_quietly() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# stop_svc SVC: SIGTERM to its session, SIGKILL after 15 s.
stop_svc() {
  local svc=$1 pid
  pid="$(svc_pid "$svc")" || return 1
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    warn "$svc (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(svc_dir "$svc")/pid" "$(svc_dir "$svc")/started"
  say "$svc: stopped"
}

tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
http_ok() { curl -fsS -o /dev/null --max-time 3 "$1"; }
# http_answers URL: any HTTP status at all (the component is up, whatever it thinks of the path).
http_answers() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1")" != 000 ]]; }

apt_ensure() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "needs root to install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  mkdir -p "$STATE"
  flock /tmp/flops-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >>"$STATE/apt.log" 2>&1 || {
    flock /tmp/flops-apt.lock apt-get update -q >>"$STATE/apt.log" 2>&1
    flock /tmp/flops-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" >>"$STATE/apt.log" 2>&1 || die "apt-get install ${missing[*]} failed: see $STATE/apt.log"
  }
}
