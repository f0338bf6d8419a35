"""Dynamic int8 quantization of the exported fp32 model: the project's one
quantizer, scripts/models/convert/int8.py, with the settings the shipped
model.int8.onnx was made with (symmetric int8 weights, one scale per output
column; the byte-identical result was checked). `npm run models:int8` uses the
same code with sherpa-onnx's settings (uint8 weights, one scale per tensor).

/usr/bin/python3 training/quantize.py models/voxfleet-en-char-ctc/model.onnx models/voxfleet-en-char-ctc/model.int8.onnx
"""
from __future__ import annotations

import os
import sys

import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "models"))
from convert.int8 import quantize_model  # noqa: E402


def quantize(src: str, dst: str) -> None:
    m, count = quantize_model(onnx.load(src), weight_type="int8", per_channel=True)
    onnx.save(m, dst)
    print(f"quantized {count} MatMuls → {dst}")


if __name__ == "__main__":
    quantize(sys.argv[1], sys.argv[2])
