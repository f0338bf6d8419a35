"""float32 -> float16 weights and compute for any backend's ONNX graph.

Every float tensor is classed by where it comes from:
  data   depends on a float graph input through float ops: computed in float16
  const  an initializer or Constant node: stored in float16 where data ops read it
  fp32   anything else, i.e. float values computed from integers and shapes only
         (Range/Shape arithmetic, length masks, positions): left in float32
Views of weights (Transpose/Reshape/... of an initializer) are folded into
initializers first. A node with a data input runs in float16; its other float inputs are cast to
float16 once each (constants are converted in the file instead). Ops named in
`keep_fp32` (e.g. ones onnxruntime's CPU provider has no float16 kernel for)
run in float32 with Casts around them; a few inputs that the ONNX spec types
float32 only (Resize/Upsample scales) stay float32.

keep_io=True keeps float32 graph inputs and outputs (a Cast after each input
and before each output); keep_io=False makes them float16 as well (the format
of models/voxfleet-en-char-ctc/model.fp16.onnx, which the engine feeds float16).
Constants are clamped to the float16 range (+-65504) before conversion.
Graphs with subgraphs (If/Loop/Scan) are refused.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
FP16_MAX = 65504.0
HALF_SUFFIX = "__fp16"
# inputs the ONNX spec types tensor(float) whatever the data type is
FP32_ONLY_INPUTS = {"Resize": {2}, "Upsample": {1}}


def _half(a: np.ndarray) -> np.ndarray:
    finite = np.isfinite(a)
    return np.where(finite, np.clip(a, -FP16_MAX, FP16_MAX), a).astype(np.float16)


def _infer_types(m: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference, for the element types. A model over protobuf's 2 GB (Parakeet TDT's fp32 encoder,
    2.4 GB of weights in encoder.weights) cannot be serialized for it, so there it runs with the data of
    the large initializers set aside: types and shapes do not depend on them (small ones, such as Reshape
    shapes, keep theirs)."""
    if m.ByteSize() < 2**31 - 1:
        return shape_inference.infer_shapes(m)
    aside = []
    for i in m.graph.initializer:
        if len(i.raw_data) > 1 << 20:
            aside.append((i, i.raw_data))
            i.ClearField("raw_data")
    try:
        return shape_inference.infer_shapes(m)
    finally:
        for i, raw in aside:
            i.raw_data = raw


def convert_model(m: onnx.ModelProto, keep_io: bool = True, keep_fp32: set[str] | frozenset = frozenset()) -> onnx.ModelProto:
    g = m.graph
    for n in g.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute):
            raise ValueError(f"node {n.name or n.op_type} ({n.op_type}) has a subgraph: not supported")
    _fold_weight_views(g)
    inferred = _infer_types(m)
    types: dict[str, int] = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[v.name] = v.type.tensor_type.elem_type
    for i in g.initializer:
        types[i.name] = i.data_type

    init_by_name = {i.name: i for i in g.initializer}
    graph_inputs = {v.name for v in g.input if v.name not in init_by_name}
    cls: dict[str, str] = {}
    const_nodes: dict[str, onnx.NodeProto] = {}
    for name in init_by_name:
        if types.get(name) == FLOAT:
            cls[name] = "const"
    for name in graph_inputs:
        if types.get(name) == FLOAT:
            cls[name] = "data"

    new_nodes: list[onnx.NodeProto] = []
    casts: dict[tuple[str, int], str] = {}
    const_uses: dict[str, set[str]] = {}  # const name -> {"half", "float"}

    def cast(value: str, to: int) -> str:
        key = (value, to)
        if key not in casts:
            out = f"{value}_to_{'fp16' if to == HALF else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [value], [out], to=to, name=out))
            casts[key] = out
        return casts[key]

    def as_half(value: str) -> str:
        c = cls.get(value)
        if c == "const":
            const_uses.setdefault(value, set()).add("half")
            return value + HALF_SUFFIX
        if c == "data" and not (value in graph_inputs and keep_io):
            return value
        return cast(value, HALF)  # an fp32 value, or a float32 graph input

    def as_float(value: str) -> str:
        c = cls.get(value)
        if c == "const":
            const_uses.setdefault(value, set()).add("float")
        elif c == "data" and not (value in graph_inputs and keep_io):
            return cast(value, FLOAT)
        return value

    for n in g.node:
        if n.op_type == "Constant" and any(a.name == "value" and a.t.data_type == FLOAT for a in n.attribute):
            cls[n.output[0]] = "const"
            const_nodes[n.output[0]] = n
            new_nodes.append(n)
            continue
        float_in = [(j, i) for j, i in enumerate(n.input) if i and types.get(i) == FLOAT]
        is_data = any(cls.get(i) == "data" for _, i in float_in)
        node = onnx.NodeProto()
        node.CopyFrom(n)
        if is_data and n.op_type not in keep_fp32:
            fp32_only = FP32_ONLY_INPUTS.get(n.op_type, set())
            for j, i in float_in:
                node.input[j] = as_float(i) if j in fp32_only else as_half(i)
            for a in node.attribute:
                if n.op_type == "Cast" and a.name == "to" and a.i == FLOAT:
                    a.i = HALF
            for o in n.output:
                if types.get(o) == FLOAT:
                    cls[o] = "data"
        else:
            for j, i in float_in:
                node.input[j] = as_float(i)
            for o in n.output:
                if types.get(o) == FLOAT:
                    cls[o] = "fp32"
        new_nodes.append(node)

    # constants read in float16: a float16 copy where float32 readers remain, else converted in place
    extra_inits: list[onnx.TensorProto] = []
    back: dict[str, str] = {}
    for name, uses in const_uses.items():
        if "half" not in uses:
            continue
        if name in init_by_name:
            arr = _half(numpy_helper.to_array(init_by_name[name]))
            if "float" in uses:
                extra_inits.append(numpy_helper.from_array(arr, name + HALF_SUFFIX))
            else:
                init_by_name[name].CopyFrom(numpy_helper.from_array(arr, name))
                back[name + HALF_SUFFIX] = name
        else:
            value = next(a for a in const_nodes[name].attribute if a.name == "value")
            arr = _half(numpy_helper.to_array(value.t))
            if "float" in uses:
                extra_inits.append(numpy_helper.from_array(arr, name + HALF_SUFFIX))
            else:
                value.t.CopyFrom(numpy_helper.from_array(arr, value.t.name))
                back[name + HALF_SUFFIX] = name
    for node in new_nodes:
        for j, i in enumerate(node.input):
            if i in back:
                node.input[j] = back[i]

    # graph outputs
    out_casts: list[onnx.NodeProto] = []
    for v in g.output:
        if cls.get(v.name) != "data":
            continue
        if keep_io:
            inner = v.name + "_fp16"
            for node in new_nodes:
                for j, o in enumerate(node.output):
                    if o == v.name:
                        node.output[j] = inner
                for j, i in enumerate(node.input):
                    if i == v.name:
                        node.input[j] = inner
            out_casts.append(helper.make_node("Cast", [inner], [v.name], to=FLOAT, name=v.name + "_to_fp32"))
        else:
            v.type.tensor_type.elem_type = HALF
    if not keep_io:
        for v in g.input:
            if v.name in graph_inputs and types.get(v.name) == FLOAT:
                v.type.tensor_type.elem_type = HALF

    del g.node[:]
    g.node.extend(new_nodes + out_casts)
    g.initializer.extend(extra_inits)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    _toposort(g)
    onnx.checker.check_model(m)
    return m


def _fold_weight_views(g: onnx.GraphProto) -> None:
    """Fold Transpose/Reshape/Squeeze/Unsqueeze/Identity of initializers into initializers
    (exports without constant folding feed MatMul a Transpose of the weight), so the
    weights themselves are stored in float16."""
    known = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    kept, folded = [], []
    for n in g.node:
        if n.op_type in ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity") and n.input and all(i in known for i in n.input if i):
            x = known[n.input[0]]
            if n.op_type == "Transpose":
                perm = next((list(a.ints) for a in n.attribute if a.name == "perm"), None)
                y = np.transpose(x, perm)
            elif n.op_type == "Reshape":
                shape = [x.shape[i] if v == 0 else v for i, v in enumerate(known[n.input[1]].tolist())]
                y = x.reshape(shape)
            elif n.op_type in ("Squeeze", "Unsqueeze"):
                axes = known[n.input[1]].tolist() if len(n.input) > 1 else next((list(a.ints) for a in n.attribute if a.name == "axes"), [])
                if n.op_type == "Squeeze":
                    y = np.squeeze(x, axis=tuple(axes)) if axes else np.squeeze(x)
                else:
                    y = x
                    for ax in sorted(a % (x.ndim + len(axes)) for a in axes):
                        y = np.expand_dims(y, ax)
            else:
                y = x
            known[n.output[0]] = y
            folded.append(numpy_helper.from_array(np.array(y, copy=True, order="C"), n.output[0]))
        else:
            kept.append(n)
    if not folded:
        return
    del g.node[:]
    g.node.extend(kept)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    inits = [i for i in list(g.initializer) + folded if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def _toposort(g: onnx.GraphProto) -> None:
    """Order nodes so every input is produced before it is read (the inserted Casts)."""
    produced = {i.name for i in g.initializer} | {v.name for v in g.input} | {""}
    pending = list(g.node)
    ordered = []
    while pending:
        rest = []
        for n in pending:
            if all(i in produced for i in n.input):
                ordered.append(n)
                produced.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise ValueError("graph has a cycle or reads an undefined value: " + ", ".join(n.name for n in rest[:5]))
        pending = rest
    del g.node[:]
    g.node.extend(ordered)
