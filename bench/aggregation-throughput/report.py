"""Tables for bench/aggregation-throughput/run.sh: reads the JSON lines of flops.ts and flower.py.

For each process and measurement the best of its timed repeats is taken (on a shared machine the best repeat is
the one least disturbed), then the median over the processes. GB/s of update data = learners · 4 B · parameters
per second; bytes moved count what the operation must read and write per parameter (see each row).
"""

import json
import statistics
import sys
from collections import defaultdict


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    flops, flower = load(sys.argv[1]), load(sys.argv[2])
    cells = defaultdict(list)  # (side, params, measure) -> [record]
    for side, records in (("FLOps", flops), ("Flower", flower)):
        for r in records:
            cells[(side, r["params"], r["measure"])].append(r)

    def rate(side, params, measure, moved=False):
        """Median over processes of the best repeat: GB/s of update data (or of bytes moved)."""
        runs = cells.get((side, params, measure))
        if not runs:
            return None
        values = []
        for r in runs:
            best = min(r["seconds"])
            if measure == "probe-copy":
                values.append(r["bytesMoved"] / best / 1e9)
            elif moved:
                values.append(r["learners"] * r["bytesMovedPerUpdate"] / best / 1e9)
            else:
                values.append(r["learners"] * r["updateBytes"] / best / 1e9)
        return statistics.median(values)

    def fmt(x, digits=2):
        return "n/a" if x is None else f"{x:.{digits}f}"

    sizes = sorted({p for (_, p, _) in cells})
    first = flops[0]
    print(f"Node {first['node']}; flwr {flower[0]['flwr']}, numpy {flower[0]['numpy']}. Median over {len(cells[('FLOps', sizes[0], 'probe-copy')])} processes per side of each process's best of its repeats.")
    print()
    for params in sizes:
        learners = cells[("FLOps", params, "probe-copy")][0]["learners"]
        mb = params * 4 / 1e6
        print(f"#### {params:,} parameters ({mb:.0f} MB per update), {learners} learners")
        print()
        probe_node = rate("FLOps", params, "probe-copy")
        probe_numpy = rate("Flower", params, "probe-copy")
        print(f"Memory-bandwidth probe (copy of 256 MiB, read + write): Node `TypedArray.set` {fmt(probe_node, 1)} GB/s, NumPy `copyto` {fmt(probe_numpy, 1)} GB/s.")
        print()
        flower_paths = {m: rate("Flower", params, m) for m in ("message-api", "fedavg-inplace", "fedavg")}
        fastest_name = max((m for m in flower_paths if flower_paths[m] is not None), key=lambda m: flower_paths[m])
        fastest = flower_paths[fastest_name]
        print("| what | update data GB/s | bytes moved / parameter | moved GB/s | ÷ Flower's fastest FedAvg path | moved ÷ copy probe |")
        print("|---|---:|---:|---:|---:|---:|")
        rows = [
            ("FLOps", "kernel:wasm-simd", "fold kernel, WebAssembly SIMD, update in the kernel's upload buffer (**shipped**)", 20),
            ("FLOps", "engine-accept", "aggregator path: decode FLT1 + check (layout, finite) + fold, `AggregationEngine`", 24),
            ("FLOps", "engine-upload", "the same + writing the upload's bytes into the buffer (the network's one copy)", 32),
            ("FLOps", "kernel:wasm-simd-staged", "fold kernel, WebAssembly SIMD, update in ordinary memory (staged)", 20),
            ("FLOps", "kernel:napi", "candidate: N-API addon in C, gcc -O3 -march=native", 20),
            ("FLOps", "kernel:scalar", "candidate: plain JavaScript loop", 20),
            ("FLOps", "kernel:workers-2", "candidate: 2 worker threads over shared memory, JavaScript", 20),
            ("FLOps", "weighted-average", "`WeightedAverage.add` (apps/aggregator/src/domain), decoded FLT1", 24),
            ("Flower", "numpy-fold", "NumPy `np.add(acc, x*w, out=acc)`, float32 (no strategy around it)", 12),
            ("Flower", "message-api", "Flower `serverapp.strategy.FedAvg.aggregate_train` (Message API)", None),
            ("Flower", "fedavg-inplace", "Flower `server.strategy.FedAvg()` default, `aggregate_inplace`", None),
            ("Flower", "fedavg", "Flower `server.strategy.FedAvg(inplace=False)`", None),
        ]
        for side, measure, label, per_param in rows:
            update_rate = rate(side, params, measure)
            if update_rate is None:
                continue
            moved = rate(side, params, measure, moved=True) if per_param else None
            probe = probe_node if side == "FLOps" else probe_numpy
            versus = fmt(update_rate / fastest) + "×"
            print(f"| {label} | {fmt(update_rate)} | {per_param or '–'} | {fmt(moved, 1) if moved else '–'} | {versus} | {fmt(moved / probe) + '×' if moved and probe else '–'} |")
        print()
        print(f"Flower's fastest FedAvg path here: `{fastest_name}` ({fmt(fastest)} GB/s of update data, {params * 4 / fastest / 1e6:.2f} ms per update).")
        print()


if __name__ == "__main__":
    main()
