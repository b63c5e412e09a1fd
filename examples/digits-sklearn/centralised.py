"""Centralised baseline: the same model trained on all learners' training data at once, scored on all
their test data (the union of what the learners evaluate on), for the given number of rounds.

    python centralised.py --data-dir DIR --tag digits --partitions 3 --rounds 5    prints {"accuracy": ..., "loss": ...}
"""

import argparse
import json

import numpy as np
from data_manager import DataManager
from flops_utils import node_data
from model_manager import ITERATIONS_PER_ROUND, ModelManager


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    args = parser.parse_args()
    splits = []
    for index in range(args.partitions):
        node_data.configure(args.data_dir, [args.tag], index)
        splits.append(DataManager().get_data())
    manager = ModelManager()
    manager.x_train = np.concatenate([train[0] for train, _ in splits])
    manager.y_train = np.concatenate([train[1] for train, _ in splits])
    manager.x_test = np.concatenate([test[0] for _, test in splits])
    manager.y_test = np.concatenate([test[1] for _, test in splits])
    manager.model.max_iter = ITERATIONS_PER_ROUND * args.rounds
    manager.fit_model()
    loss, accuracy, samples = manager.evaluate_model()
    print(json.dumps({"accuracy": accuracy, "loss": loss, "testSamples": samples}))


if __name__ == "__main__":
    main()
