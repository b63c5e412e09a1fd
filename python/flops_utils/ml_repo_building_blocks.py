"""Helpers ML repos in the original FLOps layout import (`from flops_utils.ml_repo_building_blocks import load_dataset`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flops_utils import node_data

if TYPE_CHECKING:
    import datasets


def load_dataset() -> "datasets.Dataset":
    """This learner's data on its node, found by the project's data tags, as a Hugging Face
    `datasets.Dataset` with the dataset's own columns (e.g. "image" and "label" for digits).
    Raises `node_data.NoDataError`, saying where it looked, when the node has none."""
    import datasets  # imported here: repos that never load data need not pay for it

    return datasets.load_from_disk(str(node_data.partition_path(node_data.current())))
