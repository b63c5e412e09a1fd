#!/usr/bin/env bash
# Quick start: install what is missing, start the infrastructure and the FLOps services (built to
# dist/ by tools/platform.sh), then
# run one federated-learning project on the bundled example and print how it ended.
# Everything stays up afterwards (tools/platform.sh down; tools/infra.sh down to stop it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export NO_COLOR=1
bash tools/install-deps.sh
bash tools/infra.sh up
bash tools/platform.sh up
# shellcheck disable=SC1091
. .flops/infra/env
exec node -r @swc-node/register tools/demo.ts "$@"
