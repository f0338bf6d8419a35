"""ONNX converters: float16 (fp16.py) and dynamic int8 (int8.py)."""
from __future__ import annotations

import os

import onnx


def save(m: onnx.ModelProto, path: str) -> None:
    """Write the model in one piece (no external data), deterministically and atomically."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))
    os.replace(tmp, path)
