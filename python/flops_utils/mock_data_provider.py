"""Mock data provider: splits a dataset that ships inside a package into N tagged partitions on a node
data directory, as if N nodes each held their own data (docs/ml-repo-contract.md, "Data on the node").

    python -m flops_utils.mock_data_provider --data-dir DIR --tag digits --partitions 3 \
        [--dataset digits] [--split iid | --split dirichlet --alpha 0.5] [--seed 0]

writes DIR/<tag>/partition-<k> (k = 0..N-1, each a `datasets.Dataset.save_to_disk` folder) and
DIR/<tag>/split.json (how many samples of each label each partition got). The same arguments always
give the same partitions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from flops_utils.node_data import PARTITION_PREFIX

SPLIT_FILE = "split.json"


def _digits() -> "datasets.Dataset":  # noqa: F821
    import datasets
    from sklearn.datasets import load_digits

    bunch = load_digits()
    features = datasets.Features(
        {"image": datasets.Array2D(shape=(8, 8), dtype="uint8"), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])}
    )
    return datasets.Dataset.from_dict({"image": bunch.images.astype(np.uint8), "label": bunch.target.astype(np.int64)}, features=features)


def _iris() -> "datasets.Dataset":  # noqa: F821
    import datasets
    from sklearn.datasets import load_iris

    bunch = load_iris()
    features = datasets.Features(
        {"features": datasets.Sequence(datasets.Value("float32"), length=4), "label": datasets.ClassLabel(names=list(bunch.target_names))}
    )
    return datasets.Dataset.from_dict({"features": bunch.data.astype(np.float32), "label": bunch.target.astype(np.int64)}, features=features)


# Datasets that ship inside packages installed with flops_utils (scikit-learn), so nothing is downloaded.
DATASETS: dict[str, Callable[[], "datasets.Dataset"]] = {"digits": _digits, "iris": _iris}  # noqa: F821


def iid_split(num_samples: int, partitions: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random permutation cut into near-equal contiguous shards (sizes differ by at most one)."""
    return [np.sort(part) for part in np.array_split(rng.permutation(num_samples), partitions)]


def dirichlet_split(labels: np.ndarray, partitions: int, alpha: float, rng: np.random.Generator, min_size: int = 1) -> list[np.ndarray]:
    """Non-IID by label: each label's samples are shared among partitions in proportions drawn from
    Dirichlet(alpha); small alpha gives each partition few labels. Redrawn until every partition has
    at least `min_size` samples."""
    if alpha <= 0:
        raise ValueError("alpha must be positive")
    if partitions * min_size > len(labels):
        raise ValueError(f"{len(labels)} samples cannot give {partitions} partitions of at least {min_size}")
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(partitions)]
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            shares = rng.dirichlet(np.full(partitions, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for k, chunk in enumerate(np.split(members, cuts)):
                parts[k].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.array(p, dtype=np.int64)) for p in parts]
    raise ValueError(f"Dirichlet({alpha}) left a partition with fewer than {min_size} samples in 1000 draws; raise alpha")


def provide(data_dir: str, tag: str, partitions: int, dataset: str = "digits", split: str = "iid", alpha: float = 0.5, seed: int = 0) -> dict:
    """Writes the partitions and returns the split summary (also written to split.json)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    import datasets

    datasets.disable_progress_bars()
    data = DATASETS[dataset]()
    labels = np.asarray(data["label"])
    rng = np.random.default_rng(seed)
    if split == "iid":
        indices = iid_split(len(data), partitions, rng)
    elif split == "dirichlet":
        indices = dirichlet_split(labels, partitions, alpha, rng)
    else:
        raise ValueError(f"unknown split {split!r}; use iid or dirichlet")
    folder = Path(data_dir) / tag
    # A tag's folder is the provider's alone: stale partitions from an earlier, larger split must not linger.
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    summary = {"dataset": dataset, "split": split, "alpha": alpha if split == "dirichlet" else None, "seed": seed, "partitions": []}
    for k, part in enumerate(indices):
        data.select(part).save_to_disk(str(folder / f"{PARTITION_PREFIX}{k}"))
        counts = np.bincount(labels[part], minlength=int(labels.max()) + 1)
        summary["partitions"].append({"partition": k, "samples": int(len(part)), "labels": counts.tolist()})
    (folder / SPLIT_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flops_utils.mock_data_provider", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="the node data directory (the learners' FLOPS_NODE_DATA_DIR)")
    parser.add_argument("--tag", required=True, help="the data tag the partitions are found by")
    parser.add_argument("--partitions", type=int, required=True, help="how many partitions (one per learner)")
    parser.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    parser.add_argument("--split", default="iid", choices=["iid", "dirichlet"])
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (dirichlet split only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        summary = provide(args.data_dir, args.tag, args.partitions, args.dataset, args.split, args.alpha, args.seed)
    except ValueError as error:
        print(f"mock_data_provider: {error}", file=sys.stderr)
        return 2
    for p in summary["partitions"]:
        print(f"{args.tag}/{PARTITION_PREFIX}{p['partition']}: {p['samples']} samples, per label {p['labels']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
