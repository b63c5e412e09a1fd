"""The learner's Python worker: runs an ML repo's ModelManager on behalf of the learner (a Node process)
over stdin/stdout (libs/contracts/src/python-worker.ts is the other side).

Each message either way is a frame: a uint32 little-endian length, then an FLT1 document whose meta
holds the operation or its answer and whose tensors carry the model parameters, so arrays cross as
raw float32 bytes, never as JSON. Answers are {"ok": true, ...} or {"ok": false, "error", "traceback"}.
The user's prints go to stderr (the learner's log), because stdout carries the frames.

    python -m flops_utils.worker
"""

from __future__ import annotations

import importlib
import os
import random
import struct
import sys
import traceback
from typing import Any, BinaryIO

import numpy as np

from flops_utils import flt1, node_data

MODEL_MODULE = "model_manager"
MODEL_CLASS = "ModelManager"
_LENGTH = struct.Struct("<I")


class WorkerError(Exception):
    """The repo broke the contract (reported without a Python traceback: it would only show the worker)."""


def parameter_name(index: int) -> str:
    return f"param/{index}"


class Session:
    def __init__(self) -> None:
        self.manager: Any = None
        self.layout: list[tuple[tuple[int, ...], np.dtype]] | None = None

    def handle(self, meta: dict[str, Any], tensors: list[tuple[str, np.ndarray]]) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
        op = meta.get("op")
        if op == "load":
            return self.load(meta), []
        if self.manager is None:
            raise WorkerError(f"'{op}' before 'load'")
        if op == "get_weights":
            return {}, self.get_weights()
        if op == "set_weights":
            self.set_weights(tensors)
            return {}, []
        if op == "fit":
            samples = self.manager.fit_model()
            return {"numSamples": _count(samples, "fit_model()")}, []
        if op == "evaluate":
            return self.evaluate(), []
        raise WorkerError(f"unknown operation {op!r}")

    def load(self, meta: dict[str, Any]) -> dict[str, Any]:
        repo = meta["repoDir"]
        seed = int(meta.get("seed", 0))
        random.seed(seed)
        np.random.seed(seed % 2**32)
        node_data.configure(meta.get("dataDir"), meta.get("dataTags", []), int(meta.get("learnerIndex", 0)))
        os.chdir(repo)
        sys.path.insert(0, repo)
        module = importlib.import_module(MODEL_MODULE)
        if "torch" in sys.modules:  # the repo uses PyTorch: its initial weights follow the seed too
            sys.modules["torch"].manual_seed(seed)
        cls = getattr(module, MODEL_CLASS, None)
        if cls is None:
            raise WorkerError(f"{MODEL_MODULE}.py defines no class {MODEL_CLASS}")
        self.manager = cls()
        self.manager.set_model_data()
        return {"parameters": len(self.get_weights())}

    def get_weights(self) -> list[tuple[str, np.ndarray]]:
        params = self.manager.get_model_parameters()
        if not isinstance(params, (list, tuple)):
            raise WorkerError(f"get_model_parameters() must return a list of numpy arrays, not {type(params).__name__}")
        arrays = [np.asarray(p) for p in params]
        for i, array in enumerate(arrays):
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
                raise WorkerError(f"get_model_parameters()[{i}] has dtype {array.dtype}; parameters must be numeric arrays")
        # FLT1 carries float32; the dtypes are remembered so set_weights hands the model back what it gave.
        self.layout = [(a.shape, a.dtype) for a in arrays]
        return [(parameter_name(i), a) for i, a in enumerate(arrays)]

    def set_weights(self, tensors: list[tuple[str, np.ndarray]]) -> None:
        if self.layout is None:
            self.get_weights()
        assert self.layout is not None
        if len(tensors) != len(self.layout):
            raise WorkerError(f"the model has {len(self.layout)} parameter arrays, the update {len(tensors)}")
        params = []
        for i, ((name, array), (shape, dtype)) in enumerate(zip(tensors, self.layout)):
            if name != parameter_name(i) or tuple(array.shape) != tuple(shape):
                raise WorkerError(f"parameter {name} has shape {list(array.shape)}, the model's {parameter_name(i)} has {list(shape)}")
            params.append(array if array.dtype == dtype else array.astype(dtype))
        self.manager.set_model_parameters(params)

    def evaluate(self) -> dict[str, Any]:
        result = self.manager.evaluate_model()
        if not isinstance(result, (list, tuple)) or len(result) != 3:
            raise WorkerError("evaluate_model() must return (loss, accuracy, num_samples)")
        loss, accuracy, samples = result
        # JSON has no NaN: a diverged model reports null, which the learner drops from the metrics with a warning.
        finite = lambda x: float(x) if np.isfinite(float(x)) else None  # noqa: E731
        return {"loss": finite(loss), "accuracy": finite(accuracy), "numSamples": _count(samples, "evaluate_model()")}


def _count(value: Any, where: str) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise WorkerError(f"{where} must return a number of samples, not {value!r}") from None
    if count < 0 or count != value:
        raise WorkerError(f"{where} must return a whole, non-negative number of samples, not {value!r}")
    return count


def read_frame(stream: BinaryIO) -> bytearray | None:
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise EOFError("the learner closed the channel inside a frame")
    (length,) = _LENGTH.unpack(head)
    buffer = bytearray(length)  # writable, so the decoded arrays are writable views, not copies
    view, got = memoryview(buffer), 0
    while got < length:
        n = stream.readinto(view[got:])
        if not n:
            raise EOFError("the learner closed the channel inside a frame")
        got += n
    return buffer


def write_frame(stream: BinaryIO, document: bytearray) -> None:
    stream.write(_LENGTH.pack(len(document)))
    stream.write(document)
    stream.flush()


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    session = Session()
    while (frame := read_frame(requests)) is not None:
        tensors, meta = flt1.decode(frame)
        if meta.get("op") == "close":
            write_frame(replies, flt1.encode([], {"ok": True}))
            return
        try:
            answer, out = session.handle(meta, tensors)
            document = flt1.encode(out, {"ok": True, **answer})
        except Exception as error:  # the user's code may raise anything: report it, keep serving
            detail = "" if isinstance(error, WorkerError) else traceback.format_exc()
            document = flt1.encode([], {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": detail})
        write_frame(replies, document)


def main() -> None:
    # stdout carries frames: keep a private handle on it and send everything printed to stderr.
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
