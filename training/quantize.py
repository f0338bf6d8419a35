"""Dynamic int8 quantization of the exported fp32 model, written for this
project (Debian has no onnxruntime Python package to do it).

Every MatMul whose right operand is a weight initializer becomes
  DynamicQuantizeLinear(activations) → MatMulInteger(uint8 × int8) → Cast → × scale
with per-output-column symmetric int8 weights (zero point 0); onnxruntime fuses
this pattern into its DynamicQuantizeMatMul kernel. Everything else stays fp32.

/usr/bin/python3 training/quantize.py models/voxfleet-en-char-ctc/model.onnx models/voxfleet-en-char-ctc/model.int8.onnx
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize(src: str, dst: str) -> None:
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer if i.data_type == TensorProto.FLOAT}
    # Exports without constant folding feed MatMul a Transpose of the weight: fold it here.
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
        scale = np.maximum(np.abs(wf).max(axis=0), 1e-8) / 127.0  # per output column
        wq = np.clip(np.round(wf / scale), -127, 127).astype(np.int8)
        p = f"{node.name or w_name}_q{count}"
        count += 1
        g.initializer.extend([
            numpy_helper.from_array(wq, p + "_w"),
            numpy_helper.from_array(np.zeros(wf.shape[1], np.int8), p + "_wzp"),
            numpy_helper.from_array(scale.astype(np.float32), p + "_wscale"),
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
    used = {i for n in g.node for i in n.input}
    # Drop Transpose nodes whose outputs nothing reads any more, then unused initializers.
    live = [n for n in g.node if not (n.op_type == "Transpose" and not any(o in used for o in n.output))]
    del g.node[:]
    g.node.extend(live)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f"quantized {count} MatMuls → {dst}")


if __name__ == "__main__":
    quantize(sys.argv[1], sys.argv[2])
