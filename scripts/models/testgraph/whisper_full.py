"""Whisper base (multilingual), and large-v3-turbo (full_turbo), in sherpa-onnx's export layout with seeded random weights: the real
architecture and sizes (openai-whisper model.py dims for base: n_mels 80, n_audio_ctx 1500, 512 wide,
8 heads, 6 encoder and 6 decoder layers, n_vocab 51865, n_text_ctx 448), the export's wrappers
(export-onnx.py AudioEncoderTensorCache: the encoder also computes every decoder layer's cross K/V;
TextDecoderTensorCache: self caches of 448 rows written at `offset`, logits from the token embedding):

  base-encoder.onnx: mel [n_audio, 80, T] -> conv 3 (GELU) -> conv 3 stride 2 (GELU) -> + sinusoids[:T/2]
    -> 6 x (LN, 8-head self attention, LN, MLP 2048 GELU) -> LN -> per text layer cross K (no bias), V
  base-decoder.onnx: token embedding + learned positions [offset, offset + n) -> 6 x (LN, masked self
    attention over the cache rows [0, offset + n), LN, cross attention, LN, MLP) -> LN -> x @ embedding^T

Weights are random (no learning): the decode is a random token stream up to the token budget, which is
what a benchmark of the decoding loop needs; the numbers of parameters are base's (about 74 M).
"""
from __future__ import annotations

import math
import os

import numpy as np
import onnx

from convert.int8 import quantize_model

from . import whisper as W
from .builder import Graph, save, save_external

NAME, D, HEADS, FF, ENC_LAYERS, DEC_LAYERS = "base", 512, 8, 2048, 6, 6
HD = D // HEADS

# large-v3-turbo (openai-whisper's dims for "turbo": 1280 wide, 20 heads, 32 encoder and 4 decoder layers) with
# large-v3's 128 mel bins, 51866 tokens and ids (whisper.V3); about 809 M parameters, so the fp32 encoder keeps its
# weights in turbo-encoder.weights as the real export does (protobuf's 2 GiB limit)
TURBO = {"NAME": "turbo", "D": 1280, "HEADS": 20, "FF": 5120, "ENC_LAYERS": 32, "DEC_LAYERS": 4, "HD": 64}


class _W:
    def __init__(self, g: Graph, seed: int) -> None:
        self.g = g
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def normal(self, hint: str, shape: tuple, std: float) -> str:
        a = (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)
        self.count += a.size
        return self.g.weight(hint, a)

    def zeros(self, hint: str, n: int) -> str:
        self.count += n
        return self.g.weight(hint, np.zeros(n, np.float32))

    def linear(self, hint: str, x: str, n_in: int, n_out: int, bias: bool = True) -> str:
        y = self.g.matmul(x, self.normal(hint + "_w", (n_in, n_out), 1.0 / math.sqrt(n_in)))
        return self.g.add(y, self.zeros(hint + "_b", n_out)) if bias else y

    def ln(self, x: str) -> str:
        self.count += 2 * D
        return self.g.op("LayerNormalization", [x, self.g.weight("ln_g", np.ones(D, np.float32)), self.g.weight("ln_b", np.zeros(D, np.float32))], axis=-1, epsilon=1e-5)


def gelu(g: Graph, x: str) -> str:
    return g.mul(g.mul(x, g.const(0.5)), g.add(g.op("Erf", [g.mul(x, g.const(1 / math.sqrt(2)))]), g.const(1.0)))


def heads(g: Graph, x: str) -> str:
    """[N, S, D] -> [N, H, S, hd]"""
    return g.op("Transpose", [g.op("Reshape", [x, g.const([0, 0, HEADS, HD], "int64")])], perm=[0, 2, 1, 3])


def attention(g: Graph, q: str, k: str, v: str, mask: str | None) -> str:
    s = g.mul(g.matmul(heads(g, q), g.op("Transpose", [heads(g, k)], perm=[0, 1, 3, 2])), g.const(1 / math.sqrt(HD)))
    if mask is not None:
        s = g.add(s, mask)
    o = g.matmul(g.op("Softmax", [s], axis=-1), heads(g, v))
    return g.op("Reshape", [g.op("Transpose", [o], perm=[0, 2, 1, 3]), g.const([0, 0, D], "int64")])


def sinusoids(length: int, channels: int) -> np.ndarray:
    inc = np.log(10000) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def metadata() -> dict[str, str]:
    m = W.metadata()
    m.update({"model_type": f"whisper-{NAME}", "n_audio_state": str(D), "n_audio_head": str(HEADS), "n_audio_layer": str(ENC_LAYERS),
              "n_text_state": str(D), "n_text_head": str(HEADS), "n_text_layer": str(DEC_LAYERS)})
    return m


def encoder() -> tuple[onnx.ModelProto, int]:
    g = Graph(f"whisper_{NAME}_encoder", opset=W.OPSET)
    w = _W(g, 20)
    mel = g.input("mel", "float32", ["n_audio", W.N_MELS, "T"])
    x = g.op("Conv", [mel, w.normal("conv1_w", (D, W.N_MELS, 3), 1 / math.sqrt(3 * W.N_MELS)), w.zeros("conv1_b", D)], kernel_shape=[3], pads=[1, 1])
    x = gelu(g, x)
    x = g.op("Conv", [x, w.normal("conv2_w", (D, D, 3), 1 / math.sqrt(3 * D)), w.zeros("conv2_b", D)], kernel_shape=[3], pads=[1, 1], strides=[2])
    x = g.op("Transpose", [gelu(g, x)], perm=[0, 2, 1])                  # [N, T', D]
    pos = g.weight("positional_embedding", sinusoids(W.N_AUDIO_CTX, D))
    x = g.add(x, g.op("Slice", [pos, g.const([0], "int64"), g.dim(x, 1), g.const([0], "int64")]))
    for _ in range(ENC_LAYERS):
        h = w.ln(x)
        a = attention(g, w.linear("q", h, D, D), w.linear("k", h, D, D, bias=False), w.linear("v", h, D, D), None)
        x = g.add(x, w.linear("out", a, D, D))
        x = g.add(x, w.linear("fc2", gelu(g, w.linear("fc1", w.ln(x), D, FF)), FF, D))
    x = w.ln(x)
    ks = [g.unsqueeze(w.linear("cross_k", x, D, D, bias=False), [0]) for _ in range(DEC_LAYERS)]
    vs = [g.unsqueeze(w.linear("cross_v", x, D, D), [0]) for _ in range(DEC_LAYERS)]
    g.output(g.op("Concat", ks, axis=0), "n_layer_cross_k", "float32", [DEC_LAYERS, "n_audio", "T_2", D])
    g.output(g.op("Concat", vs, axis=0), "n_layer_cross_v", "float32", [DEC_LAYERS, "n_audio", "T_2", D])
    # over 2 GB for turbo: checked once saved (full)
    return g.model(metadata(), doc=f"VoxFleet full-size Whisper {NAME} encoder test graph (random weights, sherpa-onnx layout)", check=False), w.count


def decoder() -> tuple[onnx.ModelProto, int]:
    g = Graph(f"whisper_{NAME}_decoder", opset=W.OPSET)
    w = _W(g, 21)
    tokens = g.input("tokens", "int64", ["n_audio", "n_tokens"])
    kin = g.input("in_n_layer_self_k_cache", "float32", [DEC_LAYERS, "n_audio", W.N_TEXT_CTX, D])
    vin = g.input("in_n_layer_self_v_cache", "float32", [DEC_LAYERS, "n_audio", W.N_TEXT_CTX, D])
    ck = g.input("n_layer_cross_k", "float32", [DEC_LAYERS, "n_audio", "T", D])
    cv = g.input("n_layer_cross_v", "float32", [DEC_LAYERS, "n_audio", "T", D])
    offset = g.input("offset", "int64", [1])
    emb = w.normal("token_embedding", (W.N_VOCAB, D), 0.02)
    n = g.dim(tokens, 1)
    end = g.add(offset, n)
    pos = w.normal("positional_embedding", (W.N_TEXT_CTX, D), 0.01)
    x = g.add(g.op("Gather", [emb, tokens], axis=0), g.op("Slice", [pos, offset, end, g.const([0], "int64")]))
    # causal mask of the new positions over the cache rows [0, offset + n)
    qpos = g.unsqueeze(g.add(g.op("Range", [g.const(0, "int64"), g.squeeze(n, [0]), g.const(1, "int64")]), offset), [1])
    kpos = g.unsqueeze(g.op("Range", [g.const(0, "int64"), g.squeeze(end, [0]), g.const(1, "int64")]), [0])
    mask = g.op("Where", [g.op("Greater", [kpos, qpos]), g.const(-1e9), g.const(0.0)])
    layer = lambda t, i: g.squeeze(g.op("Slice", [t, g.const([i], "int64"), g.const([i + 1], "int64"), g.const([0], "int64")]), [0])  # noqa: E731

    def write(cache: str, rows: str) -> str:
        head = g.op("Slice", [cache, g.const([0], "int64"), offset, g.const([1], "int64")])
        tail = g.op("Slice", [cache, end, g.const([W.N_TEXT_CTX], "int64"), g.const([1], "int64")])
        return g.op("Concat", [head, rows, tail], axis=1)

    new_k, new_v = [], []
    for i in range(DEC_LAYERS):
        h = w.ln(x)
        q = w.linear("q", h, D, D)
        kc = write(layer(kin, i), w.linear("k", h, D, D, bias=False))
        vc = write(layer(vin, i), w.linear("v", h, D, D))
        new_k.append(g.unsqueeze(kc, [0]))
        new_v.append(g.unsqueeze(vc, [0]))
        upto = lambda t: g.op("Slice", [t, g.const([0], "int64"), end, g.const([1], "int64")])  # noqa: E731
        x = g.add(x, w.linear("out", attention(g, q, upto(kc), upto(vc), mask), D, D))
        h = w.ln(x)
        x = g.add(x, w.linear("cross_out", attention(g, w.linear("cross_q", h, D, D), layer(ck, i), layer(cv, i), None), D, D))
        x = g.add(x, w.linear("fc2", gelu(g, w.linear("fc1", w.ln(x), D, FF)), FF, D))
    x = w.ln(x)
    logits = g.matmul(x, g.op("Transpose", [emb], perm=[1, 0]))
    g.output(logits, "logits", "float32", ["n_audio", "n_tokens", W.N_VOCAB])
    g.output(g.op("Concat", new_k, axis=0), "out_n_layer_self_k_cache", "float32", [DEC_LAYERS, "n_audio", W.N_TEXT_CTX, D])
    g.output(g.op("Concat", new_v, axis=0), "out_n_layer_self_v_cache", "float32", [DEC_LAYERS, "n_audio", W.N_TEXT_CTX, D])
    return g.model({}, doc=f"VoxFleet full-size Whisper {NAME} decoder test graph (random weights, sherpa-onnx layout)", check=False), w.count


def full(out: str) -> int:
    toks, _ = W.vocabulary()
    W.write_tokens(os.path.join(out, f"{NAME}-tokens.txt"), toks)
    n = 0
    total = 0
    for part, build in (("encoder", encoder), ("decoder", decoder)):
        m, count = build()
        total += count
        path = os.path.join(out, f"{NAME}-{part}.onnx")
        if m.ByteSize() < 2**31 - 2**26:
            onnx.checker.check_model(m)
            save(m, path)
            q, k = quantize_model(m, "int8", per_channel=False)
        else:  # too large for one protobuf: external data, checked and quantized from the saved file
            save_external(m, path, f"{NAME}-{part}.weights")
            del m
            onnx.checker.check_model(path)
            q, k = quantize_model(onnx.load(path), "int8", per_channel=False)
        save(q, os.path.join(out, f"{NAME}-{part}.int8.onnx"))
        n += k
        del q
    print(f"whisper {NAME} full: {total} parameters")
    return n


def full_turbo(out: str) -> int:
    """large-v3-turbo's sizes and large-v3's ids (files turbo-*), as whisper.tiny_v3 does for the tiny graphs."""
    g, wg = globals(), vars(W)
    saved, wsaved = {k: g[k] for k in TURBO}, {k: wg[k] for k in W.V3}
    g.update(TURBO)
    wg.update(W.V3)
    try:
        return full(out)
    finally:
        g.update(saved)
        wg.update(wsaved)
