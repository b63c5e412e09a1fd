#!/usr/bin/env bash
# Install the npm dependencies exactly as locked, unless node_modules already matches the lock;
# and Debian's chromium, the real browser the web UI's e2e tests drive (playwright-core cannot
# download its own here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v chromium >/dev/null 2>&1 && [[ "${FLOPS_SKIP_CHROMIUM:-}" != 1 ]]; then
  if [[ "$(id -u)" == 0 ]]; then sudo=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "error: chromium is missing and installing it needs root: apt-get install chromium (or FLOPS_SKIP_CHROMIUM=1)" >&2
    exit 1
  fi
  echo "installing chromium (apt-get)..."
  mkdir -p .flops
  # One apt at a time on a shared machine; update the package lists only when the plain install fails.
  apt() { "${sudo[@]}" flock /tmp/flops-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>.flops/apt-chromium.log 2>&1; }
  apt install -y -q --no-install-recommends chromium || { apt update -q && apt install -y -q --no-install-recommends chromium; } || {
    echo "error: apt-get install chromium failed, see .flops/apt-chromium.log" >&2
    exit 1
  }
fi

stamp=node_modules/.flops-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
echo "installing npm dependencies (npm ci)..."
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
