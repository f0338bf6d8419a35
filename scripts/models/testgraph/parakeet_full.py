"""Full-size Parakeet TDT 0.6B with seeded random weights: the architecture of NVIDIA's
parakeet-tdt-0.6b-v2 (NeMo FastConformer XL + RNN-T prediction net + TDT joint), in the
files, signatures and metadata of sherpa-onnx's export (as the tiny parakeet-tdt graphs):

  encoder: dw_striding subsampling x8 (Conv2d 1->256 k3 s2, then twice depthwise k3 s2 +
    pointwise 256->256, ReLU after each stage; Linear 256*16 -> 1024), x sqrt(1024), relative
    sinusoidal positions over 2T-1 offsets, 24 conformer layers of d_model 1024, 8 heads,
    feed-forward 4096 (half-step macaron, Swish), relative-position self-attention with
    pos_bias_u / pos_bias_v and NeMo's rel_shift, convolution module (pointwise 1024->2048 +
    GLU, depthwise kernel 9, BatchNorm, Swish, pointwise 1024->1024), LayerNorm after each
    layer; keys past a row's length masked (-10000), conv inputs past it zeroed;
  decoder: Embedding 1025 x 640, two LSTM layers of 640 (one step per call, states in and out);
  joiner: Linear 1024->640 (encoder) + Linear 640->640 (prediction), ReLU, Linear 640->1030.

Random weights (std 1/sqrt(fan_in); LayerNorm / BatchNorm at identity; a +2.0 bias on the
blank logit: about 4 tokens per second of speech, as English speech has, measured on a 1-layer
build), so it is for speed and memory, not for decodes. encoder.onnx keeps its weights in encoder.weights (2.4 GB) as the export does."""
from __future__ import annotations

import math
import os

import numpy as np
import onnx

from convert.int8 import quantize_model

from . import parakeet_tdt as P
from .builder import Graph, save, save_external

D, HEADS, FF, LAYERS, KERNEL = 1024, 8, 4096, 24, 9
SUB_CH = 256
BLANK_BIAS = 2.0


class _W:
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

    def linear(self, hint: str, x: str, n_in: int, n_out: int, bias: bool = True) -> str:
        y = self.g.matmul(x, self.normal(hint + "_w", (n_in, n_out), 1.0 / math.sqrt(n_in)))
        return self.g.add(y, self.fixed(hint + "_b", np.zeros(n_out, np.float32))) if bias else y

    def layer_norm(self, x: str, dim: int) -> str:
        return self.g.op("LayerNormalization", [x, self.fixed("ln_g", np.ones(dim, np.float32)), self.fixed("ln_b", np.zeros(dim, np.float32))],
                         axis=-1, epsilon=1e-5)


def _swish(g: Graph, x: str) -> str:
    return g.mul(x, g.op("Sigmoid", [x]))


def _ff(w: _W, x: str) -> str:
    return w.linear("ff2", _swish(w.g, w.linear("ff1", w.layer_norm(x, D), D, FF)), FF, D)


def _rel_attention(w: _W, x: str, pos: str, bias: str) -> str:
    """NeMo RelPositionMultiHeadAttention: (q+u)k^T + rel_shift((q+v)p^T), scaled, masked."""
    g = w.g
    dk = D // HEADS
    h = w.layer_norm(x, D)
    heads = g.const([0, 0, HEADS, dk], "int64")
    split = lambda t: g.op("Reshape", [t, heads])  # noqa: E731  [N,T,H,dk]
    q = split(w.linear("q", h, D, D))
    k = g.op("Transpose", [split(w.linear("k", h, D, D))], perm=[0, 2, 3, 1])          # [N,H,dk,T]
    v = g.op("Transpose", [split(w.linear("v", h, D, D))], perm=[0, 2, 1, 3])          # [N,H,T,dk]
    p = g.op("Transpose", [g.op("Reshape", [w.linear("pos", pos, D, D, bias=False), g.const([1, -1, HEADS, dk], "int64")])], perm=[0, 2, 3, 1])   # [1,H,dk,P]
    qu = g.op("Transpose", [g.add(q, w.normal("pos_bias_u", (HEADS, dk), 0.02))], perm=[0, 2, 1, 3])
    qv = g.op("Transpose", [g.add(q, w.normal("pos_bias_v", (HEADS, dk), 0.02))], perm=[0, 2, 1, 3])
    ac = g.matmul(qu, k)                                                                  # [N,H,T,T]
    bd = g.matmul(qv, p)                                                                  # [N,H,T,2T-1]
    # rel_shift: pad one zero column on the left, view as [.., P+1, T], drop the first row, view back
    shape = g.op("Shape", [bd])
    n_h_t = g.op("Slice", [shape, g.const([0], "int64"), g.const([3], "int64")])
    t = g.op("Slice", [shape, g.const([2], "int64"), g.const([3], "int64")])
    plen = g.op("Slice", [shape, g.const([3], "int64"), g.const([4], "int64")])
    bd = g.op("Pad", [bd, g.const([0, 0, 0, 1, 0, 0, 0, 0], "int64")])
    nh = g.op("Slice", [shape, g.const([0], "int64"), g.const([2], "int64")])
    bd = g.op("Reshape", [bd, g.op("Concat", [nh, g.add(plen, g.const([1], "int64")), t], axis=0)])
    bd = g.op("Slice", [bd, g.const([1], "int64"), g.const([2**62], "int64"), g.const([2], "int64")])
    bd = g.op("Reshape", [bd, g.op("Concat", [n_h_t, plen], axis=0)])
    bd = g.op("Slice", [bd, g.const([0], "int64"), t, g.const([3], "int64")])
    scores = g.add(g.mul(g.add(ac, bd), g.const(dk ** -0.5)), bias)
    ctx = g.matmul(g.op("Softmax", [scores], axis=-1), v)                                # [N,H,T,dk]
    ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), g.const([0, 0, D], "int64")])
    return w.linear("att_out", ctx, D, D)


def _conv_module(w: _W, x: str, mask3: str) -> str:
    g = w.g
    h = w.linear("pw1", w.layer_norm(x, D), D, 2 * D)
    a, b = g.op("Split", [h, g.const([D, D], "int64")], outputs=2, axis=-1)
    h = g.mul(g.mul(a, g.op("Sigmoid", [b])), mask3)                                   # GLU, padding zeroed
    h = g.op("Transpose", [h], perm=[0, 2, 1])                                           # [N,D,T]
    h = g.op("Conv", [h, w.normal("dw_w", (D, 1, KERNEL), 1.0 / math.sqrt(KERNEL)), w.fixed("dw_b", np.zeros(D, np.float32))],
             group=D, kernel_shape=[KERNEL], pads=[KERNEL // 2, KERNEL // 2])
    ones, zeros = np.ones(D, np.float32), np.zeros(D, np.float32)
    h = g.op("BatchNormalization", [h, w.fixed("bn_g", ones), w.fixed("bn_b", zeros), w.fixed("bn_m", zeros), w.fixed("bn_v", ones)], epsilon=1e-5)
    h = _swish(g, g.op("Transpose", [h], perm=[0, 2, 1]))
    return w.linear("pw2", h, D, D)


def encoder() -> tuple[onnx.ModelProto, int]:
    g = Graph("parakeet_tdt_0.6b_encoder_random", opset=P.OPSET)
    w = _W(g, seed=6)
    a_in = g.input("audio_signal", "float32", ["audio_signal_dynamic_axes_1", P.FEAT, "audio_signal_dynamic_axes_2"])
    length = g.input("length", "int64", ["length_dynamic_axes_1"])

    x = g.unsqueeze(g.op("Transpose", [a_in], perm=[0, 2, 1]), [1])                   # [N,1,T,128]
    conv = lambda x, c_in, c_out, k, s, group: g.op(  # noqa: E731
        "Conv", [x, w.normal("sub_w", (c_out, c_in // group, k, k), 1.0 / math.sqrt(c_in // group * k * k)), w.fixed("sub_b", np.zeros(c_out, np.float32))],
        kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4 if k > 1 else [0, 0, 0, 0], group=group)
    x = g.op("Relu", [conv(x, 1, SUB_CH, 3, 2, 1)])
    for _ in range(2):
        x = g.op("Relu", [conv(conv(x, SUB_CH, SUB_CH, 3, 2, SUB_CH), SUB_CH, SUB_CH, 1, 1, 1)])
    x = g.op("Transpose", [x], perm=[0, 2, 1, 3])                                        # [N,T',256,16]
    x = g.op("Reshape", [x, g.const([0, 0, SUB_CH * (P.FEAT // 8)], "int64")])
    x = g.mul(w.linear("sub_out", x, SUB_CH * (P.FEAT // 8), D), g.const(math.sqrt(D)))

    enc_len = P.half_ceil(g, P.half_ceil(g, P.half_ceil(g, length)))
    t = g.squeeze(g.dim(x, 1), [0])
    rng = g.op("Range", [g.const(0, "int64"), t, g.const(1, "int64")])
    valid = g.cast(g.op("Less", [g.unsqueeze(rng, [0]), g.unsqueeze(enc_len, [1])]), "float32")   # [N,T']
    mask3 = g.unsqueeze(valid, [2])
    bias = g.unsqueeze(g.mul(g.sub(valid, g.const(1.0)), g.const(10000.0)), [1, 2])     # [N,1,1,T']
    # relative positions T'-1 .. -(T'-1), sinusoidal over 1024 (sin, cos interleaved)
    offs = g.cast(g.op("Range", [g.sub(t, g.const(1, "int64")), g.sub(g.const(0, "int64"), t), g.const(-1, "int64")]), "float32")
    div = np.exp(np.arange(0, D, 2, dtype=np.float32) * -(math.log(10000.0) / D)).astype(np.float32)
    ang = g.mul(g.unsqueeze(offs, [1]), g.const(div[None, :]))                          # [P,512]
    pe = g.op("Concat", [g.unsqueeze(g.op("Sin", [ang]), [2]), g.unsqueeze(g.op("Cos", [ang]), [2])], axis=2)
    pos = g.unsqueeze(g.op("Reshape", [pe, g.const([-1, D], "int64")]), [0])           # [1,P,1024]

    for _ in range(LAYERS):
        x = g.add(x, g.mul(_ff(w, x), g.const(0.5)))
        x = g.add(x, _rel_attention(w, x, pos, bias))
        x = g.add(x, _conv_module(w, x, mask3))
        x = g.add(x, g.mul(_ff(w, x), g.const(0.5)))
        x = w.layer_norm(x, D)
    g.output(g.op("Transpose", [x], perm=[0, 2, 1]), "outputs", "float32", ["Transposeoutputs_dim_0", D, "Transposeoutputs_dim_2"])
    g.output(enc_len, "encoded_lengths", "int64", ["length_dynamic_axes_1"])
    return g.model(P.metadata(1024), f"{__doc__}\nencoder parameters: {w.count}", check=False), w.count


def decoder() -> tuple[onnx.ModelProto, int]:
    H, L, V1 = P.PRED_HIDDEN, P.PRED_LAYERS, 1025
    g = Graph("parakeet_tdt_0.6b_decoder_random", opset=P.OPSET)
    w = _W(g, seed=7)
    targets = g.input("targets", "int32", ["targets_dynamic_axes_1", "targets_dynamic_axes_2"])
    target_length = g.input("target_length", "int32", ["target_length_dynamic_axes_1"])
    h = g.input("states.1", "float32", [L, "states.1_dim_1", H])
    c = g.input("onnx::Slice_3", "float32", [L, 1, H])
    emb = g.op("Gather", [w.normal("embed", (V1, H), 1.0), g.cast(targets, "int64")], axis=0)   # [N,U,H]
    y = g.op("Transpose", [emb], perm=[1, 0, 2])                                          # [U,N,H]
    hs, cs = [], []
    for layer in range(L):
        s = lambda v: g.op("Slice", [v, g.const([layer], "int64"), g.const([layer + 1], "int64"), g.const([0], "int64")])  # noqa: E731
        std = 1.0 / math.sqrt(H)
        out = g.op("LSTM", [y, w.normal("lstm_w", (1, 4 * H, H), std), w.normal("lstm_r", (1, 4 * H, H), std), w.fixed("lstm_b", np.zeros((1, 8 * H), np.float32)),
                            "", s(h), s(c)], outputs=3, hidden_size=H)
        y = g.squeeze(out[0], [1])                                                        # [U,N,H]
        hs.append(out[1])
        cs.append(out[2])
    g.output(g.op("Transpose", [y], perm=[1, 2, 0]), "outputs", "float32", ["targets_dynamic_axes_1", H, "targets_dynamic_axes_2"])
    g.output(target_length, "prednet_lengths", "int32", ["target_length_dynamic_axes_1"])
    g.output(g.op("Concat", hs, axis=0), "states", "float32", [L, "states_dynamic_axes_1", H])
    g.output(g.op("Concat", cs, axis=0), "162", "float32", [L, "Concat162_dim_1", H])
    return g.model({}, "Parakeet TDT 0.6B decoder, random weights", check=False), w.count


def joiner() -> tuple[onnx.ModelProto, int]:
    H, width = P.PRED_HIDDEN, 1025 + P.DURATIONS
    g = Graph("parakeet_tdt_0.6b_joiner_random", opset=P.OPSET)
    w = _W(g, seed=8)
    e = g.input("encoder_outputs", "float32", ["encoder_outputs_dynamic_axes_1", D, "encoder_outputs_dynamic_axes_2"])
    d = g.input("decoder_outputs", "float32", ["decoder_outputs_dynamic_axes_1", H, "decoder_outputs_dynamic_axes_2"])
    fe = g.unsqueeze(w.linear("enc", g.op("Transpose", [e], perm=[0, 2, 1]), D, H), [2])   # [N,T,1,H]
    fd = g.unsqueeze(w.linear("pred", g.op("Transpose", [d], perm=[0, 2, 1]), H, H), [1])  # [N,1,U,H]
    wo = w.normal("out_w", (H, width), 1.0 / math.sqrt(H))
    bo = np.zeros(width, np.float32)
    bo[1024] = BLANK_BIAS
    out = g.add(g.matmul(g.op("Relu", [g.add(fe, fd)]), wo), w.fixed("out_b", bo))
    g.output(out, "outputs", "float32", ["Addoutputs_dim_0", "Addoutputs_dim_1", "Addoutputs_dim_2", width])
    return g.model({}, "Parakeet TDT 0.6B joiner, random weights", check=False), w.count


def full(out_dir: str) -> int:
    os.makedirs(out_dir, exist_ok=True)
    tok, _, _ = P.vocabulary()
    n = 0
    total = 0
    for name, build, wt in (("decoder", decoder, "int8"), ("joiner", joiner, "int8")):
        m, count = build()
        total += count
        save(m, os.path.join(out_dir, f"{name}.onnx"))
        q, k = quantize_model(m, wt, per_channel=False)
        n += k
        save(q, os.path.join(out_dir, f"{name}.int8.onnx"))
        del m, q
    m, count = encoder()
    total += count
    path = os.path.join(out_dir, "encoder.onnx")
    save_external(m, path, "encoder.weights")
    del m
    onnx.checker.check_model(path)
    q, k = quantize_model(onnx.load(path), "uint8", per_channel=False)
    n += k
    save(q, os.path.join(out_dir, "encoder.int8.onnx"))
    del q
    P.TK.write_plain(os.path.join(out_dir, "tokens.txt"), tok)
    print(f"parakeet-tdt full: {total} parameters")
    return n
