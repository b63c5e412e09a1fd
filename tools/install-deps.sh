#!/usr/bin/env bash
# Install the npm dependencies exactly as locked, unless node_modules already matches the lock.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
stamp=node_modules/.flops-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
echo "installing npm dependencies (npm ci)..."
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
