"""Dynamic int8 quantization of MatMul weights, written for this project (Debian
has no onnxruntime Python package, so onnxruntime.quantization is not at hand).

Every MatMul whose right operand is a 2-D float initializer (or a Transpose of
one: exports without constant folding) becomes
  DynamicQuantizeLinear(activations) -> MatMulInteger(uint8 x W8) -> Cast -> x (a_scale * w_scale)
which onnxruntime fuses into its DynamicQuantizeMatMul kernel. Everything else
stays float32, inputs and outputs included.

Weights:
  uint8 (default): asymmetric, zero point from [min(0, w), max(0, w)], the scheme of
         onnxruntime's quantize_dynamic(weight_type=QuantType.QUInt8), which is how
         sherpa-onnx quantizes its exports (contract §2, §7)
  int8:  symmetric, zero point 0
per_channel: one scale (and zero point) per output column instead of one per tensor.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _quantize_weight(w: np.ndarray, weight_type: str, per_channel: bool):
    axis = 0 if per_channel else None
    if weight_type == "int8":
        scale = np.maximum(np.abs(w).max(axis=axis), 1e-8) / 127.0
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        zp = np.zeros(np.shape(scale), np.int8)
    elif weight_type == "uint8":
        lo = np.minimum(w.min(axis=axis), 0.0)
        hi = np.maximum(w.max(axis=axis), 0.0)
        scale = np.maximum(hi - lo, 1e-8) / 255.0
        zp = np.clip(np.round(-lo / scale), 0, 255)
        q = np.clip(np.round(w / scale) + zp, 0, 255).astype(np.uint8)
        zp = zp.astype(np.uint8)
    else:
        raise ValueError(f"weight type {weight_type!r}: expected uint8 or int8")
    return q, np.asarray(scale, np.float32), np.asarray(zp)


def quantize_model(m: onnx.ModelProto, weight_type: str = "uint8", per_channel: bool = False) -> tuple[onnx.ModelProto, int]:
    """Quantize in place; returns (model, number of MatMuls quantized)."""
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer if i.data_type == TensorProto.FLOAT}
    for node in g.node:
        if node.op_type == "Transpose" and node.input[0] in inits:
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            inits[node.output[0]] = np.transpose(inits[node.input[0]], perm)
    new_nodes = []
    count = 0
    for node in g.node:
        w_name = node.input[1] if node.op_type == "MatMul" and len(node.input) == 2 else None
        wf = inits.get(w_name) if w_name else None
        if wf is None or wf.ndim != 2:
            new_nodes.append(node)
            continue
        wq, scale, zp = _quantize_weight(wf, weight_type, per_channel)
        p = f"{node.name or w_name}_q{count}"
        count += 1
        g.initializer.extend([
            numpy_helper.from_array(wq, p + "_w"),
            numpy_helper.from_array(zp, p + "_wzp"),
            numpy_helper.from_array(scale, p + "_wscale"),
        ])
        a = node.input[0]
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [p + "_a", p + "_ascale", p + "_azp"], name=p + "_dq"),
            helper.make_node("MatMulInteger", [p + "_a", p + "_w", p + "_azp", p + "_wzp"], [p + "_i32"], name=p + "_mm"),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT, name=p + "_cast"),
            helper.make_node("Mul", [p + "_ascale", p + "_wscale"], [p + "_s"], name=p + "_smul"),
            helper.make_node("Mul", [p + "_f", p + "_s"], [node.output[0]], name=p + "_out"),
        ]
    del g.node[:]
    g.node.extend(new_nodes)
    # drop Transposes nothing reads any more, then unused initializers
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [n for n in g.node if not (n.op_type == "Transpose" and not any(o in used for o in n.output))]
    del g.node[:]
    g.node.extend(live)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
    if count and opset < 10:
        raise ValueError(f"opset {opset}: DynamicQuantizeLinear and MatMulInteger need opset 10 or newer")
    onnx.checker.check_model(m)
    return m, count
