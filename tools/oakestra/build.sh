# shellcheck shell=bash
# One-time builds for tools/oakestra.sh, cached in $CACHE (~/.cache/flops/oakestra): the pinned
# source trees, one Python venv per component, the Go binaries, and DocumentDB (PostgreSQL
# extension + its wire gateway). Each result is keyed by what it is built from, so a warm `up`
# only checks stamps. Sourced, not run.

OAKESTRA_COMMIT=0e879834cd37f4584e55b7d9be371007ff2ed0e1 # v0.4.411
NET_COMMIT=1bdf5faecf21e21e76d345643b98c1ce5ddc107f      # oakestra-net v0.4.411
DOCUMENTDB_COMMIT=b2e220c47d85ec6fed1651f03968da2317f71c10
OAKESTRA_VERSION=v0.4.411
UV_VERSION=0.13.9
PG_MAJOR=15

OAK_SRC="$CACHE/src/oakestra-${OAKESTRA_COMMIT:0:8}"
NET_SRC="$CACHE/src/oakestra-net-${NET_COMMIT:0:8}"
DOCDB_SRC="$CACHE/src/documentdb-${DOCUMENTDB_COMMIT:0:8}"
BIN="$CACHE/bin"
DOCDB_BUILD="$CACHE/documentdb-${DOCUMENTDB_COMMIT:0:8}-pg$PG_MAJOR"

# The snapshots in shared/third_party (next to the clone, or FLOPS_THIRD_PARTY_DIR); a clone of the
# same commit when they are not there.
third_party_dir() {
  local d
  for d in "${FLOPS_THIRD_PARTY_DIR:-}" "$ROOT/../shared/third_party" "$ROOT/../../shared/third_party" /work/shared/third_party; do
    [[ -n $d && -d $d ]] && { printf '%s' "$d"; return 0; }
  done
  return 1
}

# fetch_source DEST NAME COMMIT REPO_URL
fetch_source() {
  local dest=$1 name=$2 commit=$3 url=$4 tp tmp
  [[ -f $dest/.complete ]] && return 0
  tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  if tp="$(third_party_dir)" && [[ -f $tp/$name-${commit:0:8}.tar.gz ]]; then
    tar -xzf "$tp/$name-${commit:0:8}.tar.gz" -C "$tmp" --strip-components=1
  else
    say "$name: no snapshot in shared/third_party, cloning $url at ${commit:0:8}"
    git -C "$tmp" init -q && git -C "$tmp" fetch -q --depth 1 "$url" "$commit" && git -C "$tmp" checkout -q FETCH_HEAD ||
      die "$name: cannot get commit $commit (no snapshot, no clone)"
    rm -rf "$tmp/.git"
  fi
  touch "$tmp/.complete"
  rm -rf "$dest" && mv "$tmp" "$dest"
}

sources_ensure() {
  mkdir -p "$CACHE/src"
  fetch_source "$OAK_SRC" oakestra "$OAKESTRA_COMMIT" https://github.com/oakestra/oakestra.git
  fetch_source "$NET_SRC" oakestra-net "$NET_COMMIT" https://github.com/oakestra/oakestra-net.git
  fetch_source "$DOCDB_SRC" documentdb "$DOCUMENTDB_COMMIT" https://github.com/microsoft/documentdb.git
}

# ---- Python: one venv per component, from its requirements.txt. The Dockerfiles' `git+` lines
# name Oakestra's own libraries at a branch; the same libraries come from the snapshot instead.
python_bin() {
  local p
  for p in "${FLOPS_OAKESTRA_PYTHON:-}" python3.11 python3.10 python3.12 python3; do
    [[ -n $p ]] && command -v "$p" >/dev/null && { command -v "$p"; return 0; }
  done
  die "no python3 found (set FLOPS_OAKESTRA_PYTHON)"
}

uv_bin() {
  local venv="$CACHE/tools/uv-$UV_VERSION"
  if [[ ! -x $venv/bin/uv ]]; then
    rm -rf "$venv"
    "$(python_bin)" -m venv "$venv" && "$venv/bin/pip" install -q "uv==$UV_VERSION" ||
      die "cannot install uv $UV_VERSION from PyPI"
  fi
  printf '%s' "$venv/bin/uv"
}

# venv_for NAME REQUIREMENTS_FILE [LOCAL_PACKAGE_DIR...]: prints the venv's path, creating it once.
venv_for() {
  local name=$1 req=$2 key venv tmp py
  shift 2
  py="$(python_bin)"
  key="$( { "$py" -V 2>&1; cat "$req"; printf '%s\n' "$@"; } | sha256sum | cut -c1-12)"
  venv="$CACHE/venv/$name-$key"
  if [[ ! -f $venv/.complete ]]; then
    rm -rf "$venv"
    mkdir -p "$CACHE/venv" "$STATE"
    {
      "$(uv_bin)" venv -q --python "$py" "$venv" &&
        grep -v '^git+' "$req" >"$venv/requirements.txt" &&
        "$(uv_bin)" pip install -q --compile-bytecode --python "$venv/bin/python" -r "$venv/requirements.txt" "$@"
    } >>"$STATE/build-venv-$name.log" 2>&1 || die "venv $name: install failed, see $STATE/build-venv-$name.log"
    touch "$venv/.complete"
  fi
  printf '%s' "$venv"
}

venvs_ensure() {
  local libs=("$OAK_SRC/libraries/resource_abstractor_client" "$OAK_SRC/libraries/oakestra_utils_library")
  V_JWT="$(venv_for jwt-generator "$OAK_SRC/root_orchestrator/jwt-generator/requirements.txt")"
  V_SM="$(venv_for system-manager "$OAK_SRC/root_orchestrator/system-manager-python/requirements.txt" "${libs[@]}")"
  # gunicorn (as the other Flask parts use) lets it listen on loopback; its Dockerfile runs Flask's
  # own server on all interfaces.
  V_RA="$(venv_for resource-abstractor "$OAK_SRC/resource-abstractor/requirements.txt" gunicorn==22.0.0)"
  V_CM="$(venv_for cluster-manager "$OAK_SRC/cluster_orchestrator/cluster-manager/requirements.txt" "${libs[@]}")"
  V_RSM="$(venv_for root-service-manager "$NET_SRC/root-service-manager/service-manager/requirements.txt")"
  V_CSM="$(venv_for cluster-service-manager "$NET_SRC/cluster-service-manager/service-manager/requirements.txt")"
}

# ---- Go: the scheduler (root and cluster), NodeEngine's daemon, NetManager.
find_go() {
  local g
  for g in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n $g && -x $g ]] && { printf '%s' "$g"; return 0; }
  done
  die "Go is needed to build Oakestra's scheduler, NodeEngine and NetManager"
}

# go_build OUT DIR PKG [LDFLAGS]
go_build() {
  local out=$1 dir=$2 pkg=$3 ldflags=${4:-}
  [[ -x $out ]] && return 0
  mkdir -p "$BIN" "$STATE"
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod "$(find_go)" build -trimpath -buildvcs=false \
    -ldflags="$ldflags" -o "$out.tmp.$$" "$pkg") >>"$STATE/build-go.log" 2>&1 ||
    die "go build $pkg in $dir failed, see $STATE/build-go.log"
  mv -f "$out.tmp.$$" "$out"
}

go_ensure() {
  SCHEDULER_BIN="$BIN/scheduler-${OAKESTRA_COMMIT:0:8}"
  NODEENGINED_BIN="$BIN/nodeengined-${OAKESTRA_COMMIT:0:8}"
  NETMANAGER_BIN="$BIN/NetManager-${NET_COMMIT:0:8}"
  go_build "$SCHEDULER_BIN" "$OAK_SRC/scheduler" ./cmd
  go_build "$NODEENGINED_BIN" "$OAK_SRC/go_node_engine" ./internal/daemon/nodeengined.go \
    "-X 'go_node_engine/cmd.Version=$OAKESTRA_VERSION'"
  go_build "$NETMANAGER_BIN" "$NET_SRC/node-net-manager" ./NetManager.go \
    "-X 'NetManager/cmd.Version=$OAKESTRA_VERSION'"
}
