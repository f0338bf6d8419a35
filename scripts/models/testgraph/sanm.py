"""Full-size SenseVoice-Small with seeded random weights: the architecture of
FunASR's SenseVoiceEncoderSmall as sherpa-onnx re-implements it for export
(scripts/sense-voice/rknn/torch_model.py:327-468, SenseVoiceSmall :540-590):
input 560 (80 x LFR 7), output size 512, 4 heads, linear units 2048, 50 SAN-M
blocks (the first 560 -> 512, without its attention residual) + after_norm,
20 tp blocks + tp_norm, FSMN memory kernel 11 (depthwise Conv1d, no bias,
sanm_shift 0), sinusoidal positions, 16 query embeddings of 560, CTC 512 -> 25055.
234 M parameters, the published size of SenseVoice-Small.

Same signature and metadata as the tiny sense-voice graph; the outputs are
random (a +4.5 bias on the blank logit keeps most frames blank, like a trained
CTC model), so it is for speed and memory, not for decodes."""
from __future__ import annotations

import math
import os

import numpy as np

from . import tokens as TK
from .builder import Graph, save
from .sense_voice import metadata

D_IN, D, HEADS, FF, BLOCKS, TP_BLOCKS, KERNEL = 560, 512, 4, 2048, 50, 20, 11
EPS = 1e-5
BLANK_BIAS = 4.5


class _Weights:
    def __init__(self, g: Graph, seed: int) -> None:
        self.g = g
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def normal(self, hint: str, shape: tuple, std: float) -> str:
        a = (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)
        self.count += a.size
        return self.g.weight(hint, a)

    def fixed(self, hint: str, a: np.ndarray) -> str:
        self.count += a.size
        return self.g.weight(hint, a.astype(np.float32))

    def linear(self, hint: str, x: str, n_in: int, n_out: int) -> str:
        w = self.normal(hint + "_w", (n_in, n_out), 1.0 / math.sqrt(n_in))
        b = self.fixed(hint + "_b", np.zeros(n_out, np.float32))
        return self.g.add(self.g.matmul(x, w), b)


def _layer_norm(w: _Weights, x: str, dim: int) -> str:
    """Decomposed LayerNorm (opset 13 has no LayerNormalization op), as torch exports it."""
    g = w.g
    mean = g.op("ReduceMean", [x], axes=[-1], keepdims=1)
    d = g.sub(x, mean)
    var = g.op("ReduceMean", [g.mul(d, d)], axes=[-1], keepdims=1)
    y = g.div(d, g.op("Sqrt", [g.add(var, g.const(EPS))]))
    gamma = w.fixed("ln_g", np.ones(dim, np.float32))
    beta = w.fixed("ln_b", np.zeros(dim, np.float32))
    return g.add(g.mul(y, gamma), beta)


def _sanm_layer(w: _Weights, x: str, n_in: int, mask3: str, bias4: str) -> str:
    g = w.g
    dk = D // HEADS
    h = _layer_norm(w, x, n_in)
    qkv = w.linear("qkv", h, n_in, 3 * D)
    q, k, v = g.op("Split", [qkv, g.const([D, D, D], "int64")], outputs=3, axis=-1)
    # FSMN memory on v: masked, depthwise conv over time, plus v, masked
    vm = g.mul(v, mask3)
    vt = g.op("Transpose", [vm], perm=[0, 2, 1])
    left = (KERNEL - 1) // 2
    vt = g.op("Pad", [vt, g.const([0, 0, left, 0, 0, KERNEL - 1 - left], "int64")])
    conv = g.op("Conv", [vt, w.normal("fsmn_w", (D, 1, KERNEL), 1.0 / math.sqrt(KERNEL))], group=D, kernel_shape=[KERNEL])
    fsmn = g.mul(g.add(g.op("Transpose", [conv], perm=[0, 2, 1]), vm), mask3)
    # attention
    split_heads = g.const([0, 0, HEADS, dk], "int64")
    qh = g.op("Transpose", [g.op("Reshape", [q, split_heads])], perm=[0, 2, 1, 3])
    kt = g.op("Transpose", [g.op("Reshape", [k, split_heads])], perm=[0, 2, 3, 1])
    vh = g.op("Transpose", [g.op("Reshape", [v, split_heads])], perm=[0, 2, 1, 3])
    scores = g.add(g.matmul(g.mul(qh, g.const(dk ** -0.5)), kt), bias4)
    ctx = g.matmul(g.op("Softmax", [scores], axis=-1), vh)
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.const([0, 0, D], "int64")])
    att = g.add(w.linear("att_out", ctx, D, D), fsmn)
    x = g.add(x, att) if n_in == D else att
    h = _layer_norm(w, x, D)
    ff = w.linear("ff2", g.op("Relu", [w.linear("ff1", h, D, FF)]), FF, D)
    return g.add(x, ff)


def full_sense_voice(out_dir: str) -> None:
    V = TK.SENSE_VOICE_VOCAB
    g = Graph("sense_voice_small_random", opset=13)
    w = _Weights(g, seed=20240717)
    x = g.input("x", "float32", ["N", "T", D_IN])
    x_length = g.input("x_length", "int32", ["N"])
    language = g.input("language", "int32", ["N"])
    text_norm = g.input("text_norm", "int32", ["N"])

    embed = w.normal("embed", (16, D_IN), 1.0)
    lang_q = g.unsqueeze(g.op("Gather", [embed, language], axis=0), [1])
    tn_q = g.unsqueeze(g.op("Gather", [embed, text_norm], axis=0), [1])
    ee = g.op("Gather", [embed, g.const([[1, 2]], "int64")], axis=0)             # [1,2,560]
    ee = g.op("Expand", [ee, g.op("Concat", [g.dim(x, 0), g.const([2, D_IN], "int64")], axis=0)])
    xs = g.op("Concat", [lang_q, ee, tn_q, x], axis=1)                          # [N,T+4,560]

    t4 = g.squeeze(g.dim(xs, 1), [0])
    rng = g.op("Range", [g.const(0, "int64"), t4, g.const(1, "int64")])
    lens = g.unsqueeze(g.cast(g.add(x_length, g.const(4, "int32")), "int64"), [1])
    mask = g.cast(g.op("Less", [g.unsqueeze(rng, [0]), lens]), "float32")     # [N,T4]
    mask3 = g.unsqueeze(mask, [2])
    bias4 = g.unsqueeze(g.mul(g.sub(mask, g.const(1.0)), g.const(10000.0)), [1, 2])

    # sinusoidal positions 1..T4 over depth 560 (torch_model.py:10-45)
    half = D_IN // 2
    inv = np.exp(np.arange(half, dtype=np.float32) * -(math.log(10000.0) / (half - 1))).astype(np.float32)
    pos = g.cast(g.add(rng, g.const(1, "int64")), "float32")
    scaled = g.mul(g.unsqueeze(pos, [1]), g.const(inv[None, :]))
    enc = g.op("Concat", [g.op("Sin", [scaled]), g.op("Cos", [scaled])], axis=1)
    h = g.add(g.mul(xs, g.const(D ** 0.5)), enc)

    h = _sanm_layer(w, h, D_IN, mask3, bias4)
    for _ in range(BLOCKS - 1):
        h = _sanm_layer(w, h, D, mask3, bias4)
    h = _layer_norm(w, h, D)
    for _ in range(TP_BLOCKS):
        h = _sanm_layer(w, h, D, mask3, bias4)
    h = _layer_norm(w, h, D)
    wc = w.normal("ctc_w", (D, V), 1.0 / math.sqrt(D))
    bc = np.zeros(V, np.float32)
    bc[0] = BLANK_BIAS
    logits = g.add(g.matmul(h, wc), w.fixed("ctc_b", bc))
    g.output(logits, "logits", "float32", ["N", "T", V])

    os.makedirs(out_dir, exist_ok=True)
    save(g.model(metadata(V), doc=f"{__doc__}\nparameters: {w.count}"), os.path.join(out_dir, "model.onnx"))
    TK.write_plain(os.path.join(out_dir, "tokens.txt"), TK.sense_voice()[0])
    print(f"sense-voice full: {w.count} parameters")
