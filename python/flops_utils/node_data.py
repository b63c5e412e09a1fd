"""Where a learner's data is on its node (docs/ml-repo-contract.md, "Data on the node").

A node data directory holds one folder per data tag. A tag's folder is either a dataset saved with
`datasets.Dataset.save_to_disk` (this node's data for that tag), or, when one machine stands in for
several nodes (the mock data provider), `partition-<k>` folders of which learner k takes its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PARTITION_PREFIX = "partition-"
# Written by Dataset.save_to_disk: a folder with this file is a dataset.
DATASET_MARKER = "dataset_info.json"


class NoDataError(RuntimeError):
    """The node has no data for the project's data tags."""


@dataclass
class NodeDataContext:
    data_dir: str | None = None
    data_tags: list[str] = field(default_factory=list)
    learner_index: int = 0


_context: NodeDataContext | None = None


def configure(data_dir: str | None, data_tags: list[str], learner_index: int) -> None:
    """Set by the worker from what the learner was given; `load_dataset()` then needs no argument."""
    global _context
    _context = NodeDataContext(data_dir, list(data_tags), learner_index)


def current() -> NodeDataContext:
    """The configured context, else one from FLOPS_NODE_DATA_DIR, FLOPS_DATA_TAGS (comma-separated) and
    FLOPS_LEARNER_INDEX, for running a repo outside a learner."""
    if _context is not None:
        return _context
    tags = [t for t in os.environ.get("FLOPS_DATA_TAGS", "").split(",") if t]
    return NodeDataContext(os.environ.get("FLOPS_NODE_DATA_DIR"), tags, int(os.environ.get("FLOPS_LEARNER_INDEX", "0")))


def partition_path(context: NodeDataContext) -> Path:
    """The folder of this learner's data: the first data tag with data for it on this node."""
    if not context.data_tags:
        raise NoDataError("the project names no data tags, so this learner cannot find its data on the node")
    if not context.data_dir:
        raise NoDataError(f"no node data directory is set (FLOPS_NODE_DATA_DIR), so there is no data for the tags {context.data_tags}")
    root = Path(context.data_dir)
    looked = []
    for tag in context.data_tags:
        folder = root / tag
        partition = folder / f"{PARTITION_PREFIX}{context.learner_index}"
        if (partition / DATASET_MARKER).is_file():
            return partition
        if (folder / DATASET_MARKER).is_file():
            return folder
        looked.append(str(partition) if folder.is_dir() else str(folder))
    raise NoDataError(f"no data for the data tags {context.data_tags} on this node (learner {context.learner_index}); looked in: {', '.join(looked)}")
