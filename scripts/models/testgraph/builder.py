"""A small ONNX graph builder (onnx.helper underneath) with deterministic names,
so the same generator run writes byte-identical files."""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from convert import save

Dim = Union[int, str]

DTYPES = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "bool": TensorProto.BOOL,
}


class Graph:
    def __init__(self, name: str, opset: int) -> None:
        self.name = name
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._n = 0
        self._consts: dict[tuple, str] = {}

    def _fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def input(self, name: str, dtype: str, shape: Sequence[Dim]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], list(shape)))
        return name

    def output(self, value: str, name: str, dtype: str, shape: Sequence[Dim]) -> None:
        """Expose `value` as graph output `name` (through an Identity when the names differ)."""
        if value != name:
            self.nodes.append(helper.make_node("Identity", [value], [name], name=f"{name}_out"))
        self.outputs.append(helper.make_tensor_value_info(name, DTYPES[dtype], list(shape)))

    def weight(self, hint: str, array: np.ndarray) -> str:
        name = self._fresh(hint)
        self.inits.append(numpy_helper.from_array(np.array(array, copy=True, order="C"), name))
        return name

    def const(self, value, dtype: str = "float32") -> str:
        """A constant initializer, shared between uses of the same value."""
        arr = np.asarray(value, dtype=dtype)
        key = (dtype, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.weight("c", arr)
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], outputs: int = 1, **attrs) -> Union[str, list[str]]:
        hint = op_type.lower()
        outs = [self._fresh(hint) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self._fresh(op_type), **attrs))
        return outs[0] if outputs == 1 else outs

    # shorthands used by every generator
    def matmul(self, a: str, b: str) -> str:
        return self.op("MatMul", [a, b])

    def add(self, a: str, b: str) -> str:
        return self.op("Add", [a, b])

    def sub(self, a: str, b: str) -> str:
        return self.op("Sub", [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", [a, b])

    def div(self, a: str, b: str) -> str:
        return self.op("Div", [a, b])

    def cast(self, a: str, dtype: str) -> str:
        return self.op("Cast", [a], to=DTYPES[dtype])

    def unsqueeze(self, a: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", [a, self.const(list(axes), "int64")])

    def squeeze(self, a: str, axes: Sequence[int]) -> str:
        return self.op("Squeeze", [a, self.const(list(axes), "int64")])

    def reduce_sum(self, a: str, axes: Sequence[int], keepdims: int = 0) -> str:
        return self.op("ReduceSum", [a, self.const(list(axes), "int64")], keepdims=keepdims)

    def dim(self, a: str, axis: int) -> str:
        """Size of one axis as an int64 [1] tensor."""
        shape = self.op("Shape", [a])
        return self.op("Gather", [shape, self.const([axis], "int64")], axis=0)

    def model(self, metadata: dict[str, str], doc: str = "", check: bool = True) -> onnx.ModelProto:
        """The ModelProto; `check=False` skips onnx's checker, which refuses protos over 2 GB in memory
        (the full-size graphs: check the saved file instead, onnx.checker.check_model(path))."""
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="voxfleet-testgraph", producer_version="1")
        m.ir_version = 7 if self.opset <= 14 else 8
        m.doc_string = doc
        for k, v in metadata.items():
            m.metadata_props.add(key=k, value=str(v))
        if check:
            onnx.checker.check_model(m)
        return m


__all__ = ["Graph", "save", "floats", "DTYPES"]


def floats(values) -> str:
    """A metadata float list as sherpa-onnx reads it (comma separated)."""
    return ",".join(f"{float(v):.6g}" for v in values)


def save_external(m: onnx.ModelProto, path: str, location: str) -> None:
    """onnx.save with every tensor of >= 1 KiB in one external file `location` beside `path` (as the NeMo, FunASR and
    Whisper exports save models over protobuf's 2 GiB limit); a stale data file is removed first (onnx appends)."""
    tmp = path + ".tmp"
    data = os.path.join(os.path.dirname(path), location)
    if os.path.exists(data):
        os.remove(data)
    onnx.save(m, tmp, save_as_external_data=True, all_tensors_to_one_file=True, location=location, size_threshold=1024)
    os.replace(tmp, path)
