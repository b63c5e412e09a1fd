"""Flower side of the aggregation-memory benchmark (see bench/README.md).

    bench/.venv/bin/python bench/aggregation-memory/flower.py --learners N --params P \
        [--mode fedavg|fedavg-inplace|message-api] [--out result.f32]

Feeds N learner updates of a P-parameter model to Flower's own FedAvg code, the way a Flower server hands
them to the strategy: every client's result, serialized by Flower, is collected first, then aggregated.

  fedavg          flwr.server.strategy.FedAvg(inplace=False).aggregate_fit(round, results, failures):
                  parameters_to_ndarrays for every result, then flwr.server.strategy.aggregate.aggregate().
  fedavg-inplace  the same strategy with its default inplace=True: aggregate_inplace(results), which
                  deserializes one result at a time but still receives all of them at once.
  message-api     flwr.serverapp.strategy.FedAvg().aggregate_train(round, replies), the Message-API strategy:
                  every reply's ArrayRecord held at once, then aggregate_arrayrecords().

Prints one JSON line on stdout. The model layout, the pseudo-random values and the sample counts are defined
identically in flops.ts, so the two results can be compared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402

import flwr  # noqa: E402
from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Parameters,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_proxy import ClientProxy  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402

MODES = ("fedavg", "fedavg-inplace", "message-api")

# ---- shared definitions (mirrored exactly in flops.ts) ------------------------------------------------------


def model_layout(params: int) -> list[tuple[str, tuple[int, ...]]]:
    """A small CNN; fc1's width H is the smallest >= 256 that makes the total exactly `params`."""
    convs = [
        ("conv1.weight", (32, 3, 5, 5)),
        ("conv1.bias", (32,)),
        ("conv2.weight", (64, 32, 5, 5)),
        ("conv2.bias", (64,)),
    ]
    fixed = sum(int(np.prod(shape)) for _, shape in convs) + 10  # + fc2.bias
    for h in range(256, 4097):
        rest = params - fixed - h - 10 * h  # fc1.bias, fc2.weight
        if rest > 0 and rest % h == 0:
            return convs + [
                ("fc1.weight", (h, rest // h)),
                ("fc1.bias", (h,)),
                ("fc2.weight", (10, h)),
                ("fc2.bias", (10,)),
            ]
    raise SystemExit(f"no small-CNN layout has exactly {params} parameters; try a nearby value")


def num_samples(k: int) -> int:
    """Learner k's sample count (its FedAvg weight)."""
    return 100 + (k * 7919) % 900


_CHUNK = 1 << 16


def fill_update(k: int, out: np.ndarray) -> None:
    """lowbias32((i + k*0x9E3779B9) mod 2^32) mapped to a multiple of 2^-23 in [-1, 1); float32-exact."""
    seed = np.uint32((k * 0x9E3779B9) & 0xFFFFFFFF)
    for start in range(0, out.size, _CHUNK):
        x = np.arange(start, min(start + _CHUNK, out.size), dtype=np.uint32)
        x += seed  # wraps mod 2^32
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
        out[start : start + x.size] = (x >> np.uint32(8)).astype(np.float64) / 8388608.0 - 1.0


# ---- the benchmark ------------------------------------------------------------------------------------------


class BenchClientProxy(ClientProxy):
    """Stands in for the connection a result came from; FedAvg.aggregate_fit never calls it."""

    def get_properties(self, ins, timeout, group_id):  # pragma: no cover
        raise NotImplementedError

    def get_parameters(self, ins, timeout, group_id):  # pragma: no cover
        raise NotImplementedError

    def fit(self, ins, timeout, group_id):  # pragma: no cover
        raise NotImplementedError

    def evaluate(self, ins, timeout, group_id):  # pragma: no cover
        raise NotImplementedError

    def reconnect(self, ins, timeout, group_id):  # pragma: no cover
        raise NotImplementedError


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, required=True)
    parser.add_argument("--params", type=int, default=2_500_000)
    parser.add_argument("--mode", choices=MODES, default="fedavg")
    parser.add_argument("--out")
    args = parser.parse_args()
    logging.getLogger("flwr").setLevel(logging.ERROR)  # keep stdout to the JSON line

    layout = model_layout(args.params)
    # The learner's side, reused for every learner: in a real deployment this lives in the learner's process.
    scratch = np.zeros(args.params, dtype=np.float32)
    learner_arrays = []
    offset = 0
    for _, shape in layout:
        count = int(np.prod(shape))
        learner_arrays.append(scratch[offset : offset + count].reshape(shape))
        offset += count

    if args.mode == "message-api":
        from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
        from flwr.serverapp.strategy import FedAvg as MessageFedAvg
        from flwr.supercore.task_identity import TaskIdentity

        # What a running ServerApp has set; Message() needs it to address instructions.
        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
        strategy = MessageFedAvg()
    else:
        strategy = FedAvg(inplace=args.mode == "fedavg-inplace")

    baseline_rss = rss_kib()
    baseline_max_rss = max_rss_kib()

    # The server collects every learner's result before it calls the strategy.
    results: list = []
    generate_s = 0.0
    for k in range(1, args.learners + 1):
        t = time.perf_counter()
        fill_update(k, scratch)
        n = num_samples(k)
        if args.mode == "message-api":
            instruction = Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=k, message_type="train")
            content = RecordDict(
                {"arrays": ArrayRecord(learner_arrays), "metrics": MetricRecord({"num-examples": n})}
            )
            results.append(Message(content, reply_to=instruction))
        else:
            fit_res = FitRes(
                status=Status(code=Code.OK, message=""),
                parameters=ndarrays_to_parameters(learner_arrays),
                num_examples=n,
                metrics={},
            )
            results.append((BenchClientProxy(str(k)), fit_res))
        generate_s += time.perf_counter() - t

    t = time.perf_counter()
    if args.mode == "message-api":
        arrays, _ = strategy.aggregate_train(1, results)
    else:
        parameters, _ = strategy.aggregate_fit(1, results, [])
    aggregate_s = time.perf_counter() - t
    peak_rss = max_rss_kib()  # read before anything below allocates
    wall_s = time.perf_counter() - STARTED

    if args.mode == "message-api":
        result = arrays.to_numpy_ndarrays()
    else:
        assert isinstance(parameters, Parameters)
        result = parameters_to_ndarrays(parameters)
    assert [a.shape for a in result] == [shape for _, shape in layout]
    flat = np.concatenate([a.ravel() for a in result])
    positions = (np.arange(flat.size, dtype=np.int64) % 1009 + 1).astype(np.float64)
    checksum = float(np.sum(flat, dtype=np.float64))
    positional = float(np.dot(flat.astype(np.float64), positions))
    if args.out:
        flat.astype(np.float32).tofile(args.out)

    print(
        json.dumps(
            {
                "impl": "flower",
                "mode": args.mode,
                "learners": args.learners,
                "params": args.params,
                "tensors": len(layout),
                "resultDtype": str(result[0].dtype),
                "totalWeight": sum(num_samples(k) for k in range(1, args.learners + 1)),
                "baselineRssKiB": baseline_rss,
                "baselineMaxRssKiB": baseline_max_rss,
                "peakRssKiB": peak_rss,
                "aggregationRssKiB": peak_rss - baseline_rss,
                "aggregateMs": round(aggregate_s * 1000, 1),
                "generateMs": round(generate_s * 1000, 1),
                "wallMs": round(wall_s * 1000, 1),
                "checksum": checksum,
                "positionalChecksum": positional,
                "flwr": flwr.__version__,
                "numpy": np.__version__,
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
