"""Runs Flower's own strategy code for the engine's oracle tests (libs/fl-engine/src/oracle/*.oracle-spec.ts).

    <venv>/bin/python libs/fl-engine/oracle/flower_bridge.py

Speaks frames on stdin/stdout: a 4-byte little-endian length, then an FLT1 payload (the FLOps tensor format:
"FLT1", uint32 header length, JSON header {v, meta, tensors}, float32 data at 8-byte aligned offsets). Each
request is answered by one frame; a failure is answered with meta {"error": ...}.

Requests (meta.op):
  create   {session, api: "legacy"|"message", cls, kwargs, wrap?: {cls, kwargs}, numClients}
           tensors "initial/<name>": the initial global model, for strategies that take it at construction.
  round    {session, round, clients: [{numExamples, metrics}], evalLoss?, float64?}
           tensors "global/<name>" (the model the round starts from) and "client/<k>/<name>" (client k's result).
           Answers tensors "result/<name>" (cast to float32) and meta {"extra": {...}} (e.g. the DP clip norm).
           With float64, Flower gets the same values as float64 arrays and so computes in float64.
  dp-epsilon  {noiseMultiplier, samplingRate, steps, delta, orders?} -> meta {"epsilon", "order"} from
           Google's dp_accounting RdpAccountant.

Nothing here computes an aggregate: every number comes from flwr (or dp_accounting) itself.
"""

from __future__ import annotations

import json
import logging
import struct
import sys
from typing import Any

import numpy as np

import flwr  # noqa: E402
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.client_manager import SimpleClientManager  # noqa: E402
from flwr.server.client_proxy import ClientProxy  # noqa: E402

logging.getLogger("flwr").setLevel(logging.ERROR)  # after flwr's import, which sets its own level

MAGIC = b"FLT1"


# ---- FLT1 ---------------------------------------------------------------------------------------------------


def decode(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if payload[:4] != MAGIC:
        raise ValueError("not an FLT1 payload")
    (header_length,) = struct.unpack_from("<I", payload, 4)
    header = json.loads(payload[8 : 8 + header_length])
    data_start = (8 + header_length + 7) // 8 * 8
    tensors = {}
    for entry in header["tensors"]:
        start = data_start + entry["offset"]
        values = np.frombuffer(payload, dtype="<f4", count=entry["byteLength"] // 4, offset=start)
        tensors[entry["name"]] = values.reshape(entry["shape"]).copy()
    return header["meta"], tensors


def encode(meta: dict[str, Any], tensors: list[tuple[str, np.ndarray]]) -> bytes:
    entries = []
    chunks = []
    offset = 0
    for name, array in tensors:
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        offset = (offset + 7) // 8 * 8
        entries.append({"name": name, "dtype": "float32", "shape": list(np.shape(array)), "offset": offset, "byteLength": len(data)})
        chunks.append((offset, data))
        offset += len(data)
    header = json.dumps({"v": 1, "meta": meta, "tensors": entries}).encode()
    data_start = (8 + len(header) + 7) // 8 * 8
    out = bytearray(data_start + offset)
    out[0:4] = MAGIC
    struct.pack_into("<I", out, 4, len(header))
    out[8 : 8 + len(header)] = header
    for start, data in chunks:
        out[data_start + start : data_start + start + len(data)] = data
    return bytes(out)


def grouped(tensors: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """Tensors named "<prefix>/<name>", in the order they were sent."""
    return [array for name, array in tensors.items() if name.startswith(prefix + "/")]


def names(tensors: dict[str, np.ndarray], prefix: str) -> list[str]:
    return [name[len(prefix) + 1 :] for name in tensors if name.startswith(prefix + "/")]


# ---- Flower's side ------------------------------------------------------------------------------------------


class OracleClientProxy(ClientProxy):
    """Stands in for a connected client; the strategies only sample and count these."""

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


def message_grid(num_clients: int):
    """A Grid with `num_clients` connected nodes: what configure_train samples from."""
    from flwr.serverapp import Grid

    class OracleGrid(Grid):
        def set_run(self, run):  # pragma: no cover
            raise NotImplementedError

        @property
        def run(self):  # pragma: no cover
            raise NotImplementedError

        def create_message(self, *args, **kwargs):  # pragma: no cover
            raise NotImplementedError

        def get_node_ids(self):
            return list(range(1, num_clients + 1))

        def push_messages(self, messages):  # pragma: no cover
            raise NotImplementedError

        def pull_messages(self, message_ids):  # pragma: no cover
            raise NotImplementedError

        def send_and_receive(self, *args, **kwargs):  # pragma: no cover
            raise NotImplementedError

    return OracleGrid()


class Session:
    def __init__(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]):
        self.api = meta["api"]
        self.num_clients = int(meta["numClients"])
        self.eval_loss = 0.0
        kwargs = dict(meta.get("kwargs") or {})
        initial = [a.astype(np.float64 if meta.get("float64") else np.float32) for a in grouped(tensors, "initial")]
        if self.api == "legacy":
            import flwr.server.strategy as strategies

            if initial:
                kwargs["initial_parameters"] = ndarrays_to_parameters(initial)
            if meta["cls"] == "QFedAvg":
                kwargs["evaluate_fn"] = lambda server_round, ndarrays, config: (self.eval_loss, {})
            strategy = getattr(strategies, meta["cls"])(**kwargs)
            if meta.get("wrap"):
                strategy = getattr(strategies, meta["wrap"]["cls"])(strategy, **meta["wrap"]["kwargs"])
            self.manager = SimpleClientManager()
            self.proxies = [OracleClientProxy(str(k)) for k in range(self.num_clients)]
            for proxy in self.proxies:
                self.manager.register(proxy)
        else:
            import flwr.serverapp.strategy as strategies
            from flwr.supercore.task_identity import TaskIdentity

            # What a running ServerApp has set; Message() needs it to address instructions.
            TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
            strategy = getattr(strategies, meta["cls"])(**kwargs)
            if meta.get("wrap"):
                strategy = getattr(strategies, meta["wrap"]["cls"])(strategy, **meta["wrap"]["kwargs"])
            self.grid = message_grid(self.num_clients)
        self.strategy = strategy

    def round(self, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> tuple[list[np.ndarray], dict[str, Any]]:
        server_round = int(meta["round"])
        dtype = np.float64 if meta.get("float64") else np.float32
        global_model = [a.astype(dtype) for a in grouped(tensors, "global")]
        clients = meta["clients"]
        results = [[a.astype(dtype) for a in grouped(tensors, f"client/{k}")] for k in range(len(clients))]
        self.eval_loss = float(meta.get("evalLoss", 0.0))
        if self.api == "legacy":
            return self.legacy_round(server_round, global_model, clients, results)
        return self.message_round(server_round, global_model, names(tensors, "global"), clients, results)

    def legacy_round(self, server_round, global_model, clients, results):
        # As Flower's server does: configure the round on the current model, then aggregate the clients' results.
        self.strategy.configure_fit(server_round, ndarrays_to_parameters(global_model), self.manager)
        fit_results = [
            (
                self.proxies[k],
                FitRes(
                    status=Status(code=Code.OK, message=""),
                    parameters=ndarrays_to_parameters(arrays),
                    num_examples=int(client["numExamples"]),
                    metrics=dict(client.get("metrics") or {}),
                ),
            )
            for k, (client, arrays) in enumerate(zip(clients, results, strict=True))
        ]
        parameters, _ = self.strategy.aggregate_fit(server_round, fit_results, [])
        if parameters is None:
            raise RuntimeError("the strategy returned no parameters")
        return parameters_to_ndarrays(parameters), self.extra()

    def message_round(self, server_round, global_model, array_names, clients, results):
        from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

        def record(arrays):
            return ArrayRecord({name: Array(array) for name, array in zip(array_names, arrays, strict=True)})

        instructions = list(self.strategy.configure_train(server_round, record(global_model), ConfigRecord({}), self.grid))
        replies = []
        for k, (client, arrays) in enumerate(zip(clients, results, strict=True)):
            metrics = {"num-examples": int(client["numExamples"]), **(client.get("metrics") or {})}
            content = RecordDict({"arrays": record(arrays), "metrics": MetricRecord(metrics)})
            replies.append(Message(content, reply_to=instructions[k % len(instructions)]))
        arrays, _ = self.strategy.aggregate_train(server_round, replies)
        if arrays is None:
            raise RuntimeError("the strategy returned no arrays")
        return arrays.to_numpy_ndarrays(), self.extra()

    def extra(self) -> dict[str, Any]:
        clip = getattr(self.strategy, "clipping_norm", None)
        return {"clippingNorm": float(clip)} if clip is not None else {}


def dp_epsilon(meta: dict[str, Any]) -> dict[str, Any]:
    import dp_accounting

    orders = meta.get("orders")
    accountant = dp_accounting.rdp.RdpAccountant(orders) if orders else dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.GaussianDpEvent(float(meta["noiseMultiplier"]))
    rate = float(meta.get("samplingRate", 1.0))
    if rate < 1.0:
        event = dp_accounting.PoissonSampledDpEvent(rate, event)
    accountant.compose(event, int(meta.get("steps", 1)))
    epsilon, order = accountant.get_epsilon_and_optimal_order(float(meta["delta"]))
    return {"epsilon": float(epsilon), "order": float(order), "dpAccounting": dp_accounting.__name__}


# ---- the loop -----------------------------------------------------------------------------------------------


def read_frame() -> bytes | None:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        return None
    (length,) = struct.unpack("<I", head)
    return sys.stdin.buffer.read(length)


def write_frame(payload: bytes) -> None:
    sys.stdout.buffer.write(struct.pack("<I", len(payload)) + payload)
    sys.stdout.buffer.flush()


def main() -> None:
    sessions: dict[str, Session] = {}
    # Import everything up front, so that no request pays for it (scipy and flwr.serverapp take seconds).
    import dp_accounting  # noqa: F401
    import flwr.serverapp.strategy  # noqa: F401

    write_frame(encode({"ready": True, "flwr": flwr.__version__, "numpy": np.__version__}, []))
    while (frame := read_frame()) is not None:
        try:
            meta, tensors = decode(frame)
            op = meta["op"]
            if op == "create":
                sessions[meta["session"]] = Session(meta, tensors)
                answer = encode({"ok": True}, [])
            elif op == "round":
                result, extra = sessions[meta["session"]].round(meta, tensors)
                answer = encode({"extra": extra}, [(f"result/{k}", np.asarray(a)) for k, a in enumerate(result)])
            elif op == "dp-epsilon":
                answer = encode(dp_epsilon(meta), [])
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as error:  # noqa: BLE001 - every failure goes back to the test, which reports it
            answer = encode({"error": f"{type(error).__name__}: {error}"}, [])
        write_frame(answer)


if __name__ == "__main__":
    main()
