"""FLT1, FLOps's tensor format (libs/tensor-codec/src/codec.ts), for numpy arrays.

    bytes 0-3   ASCII "FLT1"
    bytes 4-7   uint32 LE header length H
    bytes 8..   H bytes of UTF-8 JSON header {"v": 1, "meta": {...}, "tensors": [{name, dtype, shape, offset, byteLength}]}
    zero padding up to a multiple of 8
    data        each tensor as little-endian float32, in header order, each offset a multiple of 8
"""

from __future__ import annotations

import json
import struct
from typing import Any, Sequence

import numpy as np

MAGIC = b"FLT1"
VERSION = 1
ALIGNMENT = 8
_PREAMBLE = 8
_F32 = np.dtype("<f4")


class Flt1Error(ValueError):
    """The bytes are not a valid FLT1 document."""


def _align(position: int) -> int:
    return (position + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def encode(tensors: Sequence[tuple[str, np.ndarray]], meta: dict[str, Any] | None = None) -> bytearray:
    """Encodes (name, array) pairs and a JSON meta object. Arrays are cast to float32 (one copy each at most)."""
    arrays = [(name, np.ascontiguousarray(array, dtype=_F32)) for name, array in tensors]
    entries, length = [], 0
    for name, array in arrays:
        offset = _align(length)
        entries.append({"name": name, "dtype": "float32", "shape": list(array.shape), "offset": offset, "byteLength": array.nbytes})
        length = offset + array.nbytes
    header = json.dumps({"v": VERSION, "meta": meta or {}, "tensors": entries}, separators=(",", ":"), allow_nan=False).encode()
    data_start = _align(_PREAMBLE + len(header))
    out = bytearray(data_start + length)  # zero-filled, so padding is zero
    out[0:4] = MAGIC
    struct.pack_into("<I", out, 4, len(header))
    out[_PREAMBLE : _PREAMBLE + len(header)] = header
    view = memoryview(out)
    for entry, (_, array) in zip(entries, arrays):
        start = data_start + entry["offset"]
        view[start : start + array.nbytes] = array.reshape(-1).view(np.uint8)
    return out


def decode(buffer: bytes | bytearray | memoryview) -> tuple[list[tuple[str, np.ndarray]], dict[str, Any]]:
    """Decodes an FLT1 document. The arrays are views into `buffer` (writable when it is a bytearray): no copy."""
    view = memoryview(buffer)
    if len(view) < _PREAMBLE or bytes(view[0:4]) != MAGIC:
        raise Flt1Error("not an FLT1 document")
    (header_length,) = struct.unpack_from("<I", view, 4)
    header_end = _PREAMBLE + header_length
    if header_end > len(view):
        raise Flt1Error(f"FLT1 header length {header_length} runs past the end of the {len(view)}-byte input")
    try:
        header = json.loads(bytes(view[_PREAMBLE:header_end]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Flt1Error(f"FLT1 header is not valid JSON: {error}") from None
    if not isinstance(header, dict) or header.get("v") != VERSION or not isinstance(header.get("meta"), dict):
        raise Flt1Error("FLT1 header must be an object with v=1 and a meta object")
    data_start = _align(header_end)
    tensors, end = [], 0
    for entry in header.get("tensors", []):
        name, shape, offset, length = entry.get("name"), entry.get("shape"), entry.get("offset"), entry.get("byteLength")
        if entry.get("dtype") != "float32" or not isinstance(name, str) or not isinstance(shape, list):
            raise Flt1Error(f"FLT1 tensor {name!r}: only named float32 tensors with a shape are supported")
        count = int(np.prod(shape, dtype=np.int64))
        if length != count * 4 or offset < end or offset % ALIGNMENT or data_start + offset + length > len(view):
            raise Flt1Error(f"FLT1 tensor {name!r} lies outside the data section or disagrees with its shape")
        array = np.frombuffer(buffer, dtype=_F32, count=count, offset=data_start + offset).reshape(shape)
        tensors.append((name, array))
        end = offset + length
    if data_start + end != len(view):
        raise Flt1Error("FLT1 input has trailing bytes after the tensor data")
    return tensors, header["meta"]
