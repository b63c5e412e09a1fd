#!/usr/bin/env bash
# Aggregator memory vs number of learners: FLOps (WeightedAverage) and Flower (FedAvg), side by side, one run.
#
#   bench/aggregation-memory/run.sh
#
# Environment (all optional): LEARNERS="2 8 32 64"  PARAMS=2500000  REPEATS=5  MODES="fedavg fedavg-inplace message-api"
# Installs bench/.venv (Flower, pinned in requirements.txt) if it is missing. Prints markdown tables on stdout,
# progress on stderr. Every configuration runs in a fresh process. See bench/README.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BENCH=bench/aggregation-memory
VENV=bench/.venv
LEARNERS=${LEARNERS:-"2 8 32 64"}
PARAMS=${PARAMS:-2500000}
REPEATS=${REPEATS:-5}
MODES=${MODES:-"fedavg fedavg-inplace message-api"}
export PYTHONDONTWRITEBYTECODE=1 # report.py imports flower.py; leave no __pycache__ in the repo

if ! "$VENV/bin/python" -c 'import flwr' >/dev/null 2>&1; then
  echo "installing Flower into $VENV ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt"
fi
[[ -d node_modules/@swc-node/register ]] || { echo "node_modules is missing: run npm ci at the repo root first" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# Warm-up, not measured: @swc-node/register compiles the TypeScript on first use and caches it on disk, and a
# cold compile leaves ~15 MiB more in the Node process; after this every measured run starts from the same state.
echo "warm-up" >&2
node -r @swc-node/register "$BENCH/flops.ts" --learners 1 --params "$PARAMS" >/dev/null
"$VENV/bin/python" "$BENCH/flower.py" --learners 1 --params "$PARAMS" >/dev/null

# Repeats are the outer loop so that slow drift of the machine spreads over all configurations.
for r in $(seq "$REPEATS"); do
  for n in $LEARNERS; do
    echo "repeat $r/$REPEATS, N=$n: flops" >&2
    node -r @swc-node/register "$BENCH/flops.ts" --learners "$n" --params "$PARAMS" --out "$OUT/flops-$n.f32" \
      >"$OUT/flops-$n-r$r.json"
    for mode in $MODES; do
      echo "repeat $r/$REPEATS, N=$n: flower $mode" >&2
      "$VENV/bin/python" "$BENCH/flower.py" --learners "$n" --params "$PARAMS" --mode "$mode" \
        --out "$OUT/flower_$mode-$n.f32" >"$OUT/flower_$mode-$n-r$r.json"
    done
  done
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo
"$VENV/bin/python" "$BENCH/report.py" "$OUT"
