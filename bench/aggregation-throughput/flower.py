"""Flower side of the aggregation-throughput benchmark (see bench/README.md).

    <venv>/bin/python bench/aggregation-throughput/flower.py --params P --learners N [--repeats R]

One line of JSON per measurement on stdout, each with every repeat's seconds. N distinct updates of P float32
parameters (the same values as flops.ts, from ../aggregation-memory/flower.py), aggregated R times by:

  probe-copy       np.copyto of a 256 MiB float64 array: the machine's copy bandwidth, seen from NumPy
  numpy-fold       np.add(acc, x * w, out=acc) in float32, per update: the arithmetic of Flower's fastest
                   FedAvg path without the strategy around it (12 B/parameter moved, plus the temporary x * w)
  message-api      flwr.serverapp.strategy.FedAvg().aggregate_train(round, replies): Flower's current API
  fedavg-inplace   flwr.server.strategy.FedAvg() (inplace=True, its default): aggregate_fit(round, results, [])
  fedavg           flwr.server.strategy.FedAvg(inplace=False): aggregate_fit(round, results, [])

Flower's strategies get their inputs as a Flower server hands them over (FitRes with serialized Parameters, or
reply Messages with ArrayRecords), built before the clock starts; building them is not timed. Every Flower
path deserializes each update inside the call, which is part of what is timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "aggregation-memory"))
from flower import BenchClientProxy, fill_update, model_layout, num_samples  # noqa: E402

import flwr  # noqa: E402
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

logging.getLogger("flwr").setLevel(logging.ERROR)


def timed(repeats: int, work) -> list[float]:
    work()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=int, default=2_500_000)
    parser.add_argument("--learners", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    params, learners, repeats = args.params, args.learners, args.repeats
    common = {"params": params, "learners": learners, "updateBytes": params * 4, "flwr": flwr.__version__, "numpy": np.__version__}

    def emit(record):
        print(json.dumps({**common, **record}), flush=True)

    probe_bytes = 256 * 1024 * 1024
    source = np.ones(probe_bytes // 8)
    target = np.zeros(probe_bytes // 8)
    emit({"measure": "probe-copy", "bytesMoved": 2 * probe_bytes, "seconds": timed(repeats, lambda: np.copyto(target, source))})
    del source, target

    layout = model_layout(params)
    flats = []
    for k in range(1, learners + 1):
        flat = np.zeros(params, dtype=np.float32)
        fill_update(k, flat)
        flats.append(flat)
    weights = [num_samples(k) for k in range(1, learners + 1)]

    def arrays_of(flat):
        out, offset = [], 0
        for _, shape in layout:
            count = int(np.prod(shape))
            out.append(flat[offset : offset + count].reshape(shape))
            offset += count
        return out

    acc = np.zeros(params, dtype=np.float32)

    def numpy_fold():
        acc.fill(0)
        for flat, w in zip(flats, weights):
            np.add(acc, flat * np.float32(w), out=acc)

    emit({"measure": "numpy-fold", "bytesMovedPerUpdate": params * 12, "seconds": timed(repeats, numpy_fold)})

    # Flower's Message-API FedAvg: reply Messages carrying ArrayRecords, as a ServerApp receives them.
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.serverapp.strategy import FedAvg as MessageFedAvg
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    message_fedavg = MessageFedAvg()

    def replies():
        out = []
        for k, (flat, w) in enumerate(zip(flats, weights), start=1):
            instruction = Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=k, message_type="train")
            content = RecordDict({"arrays": ArrayRecord(arrays_of(flat)), "metrics": MetricRecord({"num-examples": w})})
            out.append(Message(content, reply_to=instruction))
        return out

    emit({"measure": "message-api", "seconds": timed_fresh(repeats, replies, lambda r: message_fedavg.aggregate_train(1, r))})

    def fit_results():
        return [
            (BenchClientProxy(str(k)), FitRes(status=Status(code=Code.OK, message=""), parameters=ndarrays_to_parameters(arrays_of(flat)), num_examples=w, metrics={}))
            for k, (flat, w) in enumerate(zip(flats, weights))
        ]

    for mode, strategy in (("fedavg-inplace", FedAvg()), ("fedavg", FedAvg(inplace=False))):
        emit({"measure": mode, "seconds": timed_fresh(repeats, fit_results, lambda r, s=strategy: s.aggregate_fit(1, r, []))})


def timed_fresh(repeats: int, make, work) -> list[float]:
    """Like timed, but every run gets inputs built beforehand (strategies may consume or modify them)."""
    work(make())
    seconds = []
    for _ in range(repeats):
        inputs = make()
        start = time.perf_counter()
        work(inputs)
        seconds.append(time.perf_counter() - start)
        del inputs
    return seconds


if __name__ == "__main__":
    main()
