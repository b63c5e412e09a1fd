#!/usr/bin/env bash
# Aggregation throughput: FLOps's fold and aggregator path, Flower's FedAvg paths and a memory-bandwidth probe,
# interleaved in one run on one machine. Prints markdown tables with ratios on stdout, progress on stderr.
#
#   bench/aggregation-throughput/run.sh
#
# Environment (all optional): SIZES="2500000:8 25000005:4" (parameters:learners), RUNS=3 (fresh processes per
# side and size), REPEATS=5 (timed repeats inside each process). Flower comes from the oracle venv
# (tools/python-venv.sh, pinned in libs/fl-engine/oracle/requirements.txt); the N-API candidate is compiled with
# gcc against /usr/include/node into ~/.cache/flops/bench when both exist, and skipped otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BENCH=bench/aggregation-throughput
SIZES=${SIZES:-"2500000:8 25000005:4"}
RUNS=${RUNS:-3}
REPEATS=${REPEATS:-5}
export PYTHONDONTWRITEBYTECODE=1

[[ -d node_modules/@swc-node/register ]] || { echo "node_modules is missing: run npm ci at the repo root first" >&2; exit 1; }
PYTHON=$(bash tools/python-venv.sh libs/fl-engine/oracle/requirements.txt)

napi=()
if command -v gcc >/dev/null && [[ -f /usr/include/node/node_api.h ]]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/flops/bench"
  mkdir -p "$cache"
  addon="$cache/fold-addon-$(sha256sum "$BENCH/fold-addon.c" | cut -c1-12).node"
  [[ -f "$addon" ]] || gcc -O3 -march=native -shared -fPIC -I/usr/include/node "$BENCH/fold-addon.c" -o "$addon"
  napi=(--napi "$addon")
else
  echo "no gcc or no /usr/include/node: the N-API candidate is skipped" >&2
fi

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "warm-up" >&2 # @swc-node/register compiles the TypeScript on first use and caches it
node -r @swc-node/register "$BENCH/flops.ts" --params 2500000 --learners 1 --repeats 1 >/dev/null

for r in $(seq "$RUNS"); do
  for size in $SIZES; do
    params=${size%%:*}
    learners=${size##*:}
    echo "run $r/$RUNS, $params parameters × $learners learners: flops" >&2
    node -r @swc-node/register "$BENCH/flops.ts" --params "$params" --learners "$learners" --repeats "$REPEATS" "${napi[@]}" >>"$OUT/flops.jsonl"
    echo "run $r/$RUNS, $params parameters × $learners learners: flower" >&2
    "$PYTHON" "$BENCH/flower.py" --params "$params" --learners "$learners" --repeats "$REPEATS" >>"$OUT/flower.jsonl"
  done
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$PYTHON" "$BENCH/report.py" "$OUT/flops.jsonl" "$OUT/flower.jsonl"
