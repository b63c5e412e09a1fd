"""Turns the JSON lines and result files written by run.sh into the markdown tables in bench/README.md.

    bench/.venv/bin/python bench/aggregation-memory/report.py RESULTS_DIR

For every N it takes the median over the repeats, checks that FLOps and every Flower path computed the
same FedAvg (element by element, against each other and against an exact float64 FedAvg recomputed here from
the shared generator), and prints ratios. Exits non-zero if a result is outside tolerance.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODES = {
    "fedavg": "`flwr.server.strategy.FedAvg(inplace=False)`: `parameters_to_ndarrays` for every result, then `aggregate()`",
    "fedavg-inplace": "`flwr.server.strategy.FedAvg()` default (`inplace=True`): `aggregate_inplace(results)`",
    "message-api": "`flwr.serverapp.strategy.FedAvg().aggregate_train(replies)` (Message API)",
}
MIB = 1024.0


def load_shared():
    spec = importlib.util.spec_from_file_location("flower_bench", HERE / "flower.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exact_fedavg(shared, learners: int, params: int) -> np.ndarray:
    """Σ n_k·v_k / Σ n_k in float64 from the same generator both sides use."""
    acc = np.zeros(params, dtype=np.float64)
    update = np.zeros(params, dtype=np.float32)
    total = 0
    for k in range(1, learners + 1):
        shared.fill_update(k, update)
        n = shared.num_samples(k)
        acc += n * update.astype(np.float64)
        total += n
    return acc / total


def median_runs(results: Path, name: str) -> dict:
    runs = [json.loads(p.read_text()) for p in sorted(results.glob(f"{name}-r*.json"))]
    if not runs:
        raise SystemExit(f"no runs named {name} in {results}")
    out = dict(runs[0])
    for key in ("baselineRssKiB", "peakRssKiB", "aggregateMs", "wallMs"):
        out[key] = statistics.median(r[key] for r in runs)
    out["peakRange"] = (min(r["peakRssKiB"] for r in runs), max(r["peakRssKiB"] for r in runs))
    out["repeats"] = len(runs)
    checks = {(r["checksum"], r["positionalChecksum"]) for r in runs}
    if len(checks) != 1:
        raise SystemExit(f"{name}: repeats disagree on the checksum: {checks}")
    return out


def mib(kib: float) -> str:
    return f"{kib / MIB:,.1f}"


def signed_mib(kib: float) -> str:
    return f"{kib / MIB:+,.1f}"


def main() -> None:
    results = Path(sys.argv[1])
    shared = load_shared()
    learner_counts = sorted({int(p.name.split("-")[1]) for p in results.glob("flops-*-r*.json")})
    params = json.loads(next(results.glob("flops-*-r*.json")).read_text())["params"]
    modes = [m for m in MODES if any(results.glob(f"flower_{m}-[0-9]*-r*.json"))]

    flops = {n: median_runs(results, f"flops-{n}") for n in learner_counts}
    flower = {m: {n: median_runs(results, f"flower_{m}-{n}") for n in learner_counts} for m in modes}

    # Correctness: element-wise, against each other and against the exact float64 FedAvg.
    ok = True
    diff = {}
    for n in learner_counts:
        exact = exact_fedavg(shared, n, params)
        ours = np.fromfile(results / f"flops-{n}.f32", dtype=np.float32)
        diff[("flops", n)] = float(np.max(np.abs(ours.astype(np.float64) - exact)))
        for m in modes:
            theirs = np.fromfile(results / f"flower_{m}-{n}.f32", dtype=np.float32)
            tol = (n + 2) * 2.0**-24  # first-order bound for float32 FedAvg of N values in [-1, 1)
            vs_flops = float(np.max(np.abs(theirs.astype(np.float64) - ours.astype(np.float64))))
            diff[(m, n)] = float(np.max(np.abs(theirs.astype(np.float64) - exact)))
            diff[(m, n, "flops")] = (vs_flops, tol)
            csum_gap = abs(flower[m][n]["checksum"] - flops[n]["checksum"])
            if vs_flops > tol or csum_gap > params * tol:
                ok = False
        if diff[("flops", n)] > 2.0**-24:
            ok = False

    first = learner_counts[0]
    f0 = flops[first]
    print(f"Model: {params:,} float32 parameters ({params * 4 / 1e6:.0f} MB) in {f0['tensors']} tensors. "
          f"Median of {f0['repeats']} fresh processes per cell. "
          f"Node {f0['node']}; Python {flower[modes[0]][first]['python']}, flwr {flower[modes[0]][first]['flwr']}, "
          f"numpy {flower[modes[0]][first]['numpy']}.")
    print()
    print(f"Baseline RSS before the first update: FLOps {mib(f0['baselineRssKiB'])} MiB (incl. its float64 sum), "
          f"Flower {mib(flower[modes[0]][first]['baselineRssKiB'])} MiB. Peak RSS in MiB; growth = peak(N) - peak(N={first}).")
    for m in modes:
        print()
        print(f"#### Flower path: {MODES[m]}")
        print()
        print(f"| N | FLOps peak RSS | Flower peak RSS | Flower/FLOps | FLOps growth from N={first} | "
              f"Flower growth from N={first} | aggregation time Flower/FLOps | result max abs diff Flower vs FLOps (tolerance) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in learner_counts:
            a, b = flops[n], flower[m][n]
            vs, tol = diff[(m, n, "flops")]
            print(
                f"| {n} | {mib(a['peakRssKiB'])} | {mib(b['peakRssKiB'])} | {b['peakRssKiB'] / a['peakRssKiB']:.2f}x | "
                f"{signed_mib(a['peakRssKiB'] - f0['peakRssKiB'])} | {signed_mib(b['peakRssKiB'] - flower[m][first]['peakRssKiB'])} | "
                f"{b['aggregateMs'] / a['aggregateMs']:.2f}x | {vs:.2e} ({tol:.1e}) {'ok' if vs <= tol else 'FAIL'} |"
            )
        last = learner_counts[-1]
        if last != first:
            per_flops = (flops[last]["peakRssKiB"] - f0["peakRssKiB"]) / (last - first) / MIB
            per_flower = (flower[m][last]["peakRssKiB"] - flower[m][first]["peakRssKiB"]) / (last - first) / MIB
            print()
            print(f"Peak RSS per extra learner, N={first}→{last}: FLOps {per_flops:.2f} MiB, Flower {per_flower:.2f} MiB "
                  f"(one update is {params * 4 / MIB / MIB:.2f} MiB).")

    print()
    print("#### Checksums and accuracy")
    print()
    print("Checksum = Σ result values (float64); max |err| = element-wise, against an exact float64 FedAvg of the same updates.")
    print()
    header = "| N | FLOps checksum | FLOps max abs err | " + " | ".join(f"{m} checksum | {m} max abs err" for m in modes) + " |"
    print(header)
    print("|---:|---:|---:|" + "---:|---:|" * len(modes))
    for n in learner_counts:
        cells = [f"{flops[n]['checksum']:.6f}", f"{diff[('flops', n)]:.1e}"]
        for m in modes:
            cells += [f"{flower[m][n]['checksum']:.6f}", f"{diff[(m, n)]:.1e}"]
        print(f"| {n} | " + " | ".join(cells) + " |")

    print()
    print("#### Absolute numbers (for reference; compare the ratios above)")
    print()
    print("| N | impl | baseline RSS MiB | peak RSS MiB (min-max over repeats) | aggregation ms | process wall ms |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in learner_counts:
        rows = [("FLOps", flops[n])] + [(f"Flower {m}", flower[m][n]) for m in modes]
        for label, r in rows:
            lo, hi = r["peakRange"]
            print(f"| {n} | {label} | {mib(r['baselineRssKiB'])} | {mib(r['peakRssKiB'])} ({mib(lo)}-{mib(hi)}) | "
                  f"{r['aggregateMs']:,.0f} | {r['wallMs']:,.0f} |")

    print()
    print("All results agree within tolerance." if ok else "SOME RESULTS ARE OUTSIDE TOLERANCE.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
