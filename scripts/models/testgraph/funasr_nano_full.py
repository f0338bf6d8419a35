"""Full-size Fun-ASR-Nano with seeded random weights, in the sherpa-onnx LLM export's files and
signatures (funasr_nano_llm.py has the tiny graphs and the I/O): for speed and memory, not for decodes.

- encoder_adaptor.onnx: SenseVoiceEncoderSmall (560 -> 512, 50 SAN-M blocks + 20 tp blocks, 4 heads,
  ff 2048, FSMN kernel 11: sanm.py's layers) and an adaptor (512 -> 2048 ReLU -> 1024, then 2
  transformer blocks of 1024, 8 heads, ff 2048) -> encoder_out [1,T,1024].
- embedding.onnx: Qwen3-0.6B's token embedding 151936 x 1024.
- llm.fp32.onnx + llm.fp32.data: Qwen3-0.6B (28 layers, hidden 1024, 16 query heads and 8 KV heads of
  128, q/k RMSNorm, RoPE theta 1e6 at cache_position, SwiGLU 3072, final RMSNorm, lm_head 1024 x
  151936) over the fixed 512-row KV cache: keys stored after RoPE, the new rows returned as deltas,
  attention over cache rows [0, cache_position[0]) + the new rows, masked by attention_mask and
  causality (a large negative bias, never -inf, so a fully masked row stays finite).
Only the fp32 build (no int8 / fp16 files at this size)."""
from __future__ import annotations

import math
import os

import numpy as np
import onnx

from . import funasr_nano_llm as N
from .builder import Graph, save, save_external
from .sanm import BLOCKS, D, D_IN, TP_BLOCKS, _layer_norm, _sanm_layer, _Weights

HID, LAYERS, QH, KVH, HD, FF, THETA = 1024, 28, 16, 8, 128, 3072, 1_000_000.0
ADAPT_FF, ADAPT_BLOCKS, ADAPT_HEADS = 2048, 2, 8
EPS = 1e-6
NEG = -1e9


def _block(w: _Weights, x: str, d: int, heads: int, ff: int) -> str:
    """A pre-norm transformer block (the adaptor's), no mask (batch 1, all rows valid)."""
    g = w.g
    dk = d // heads
    h = _layer_norm(w, x, d)
    split = g.const([0, 0, heads, dk], "int64")
    q = g.op("Transpose", [g.op("Reshape", [w.linear("aq", h, d, d), split])], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [w.linear("ak", h, d, d), split])], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [w.linear("av", h, d, d), split])], perm=[0, 2, 1, 3])
    att = g.matmul(g.op("Softmax", [g.matmul(g.mul(q, g.const(dk ** -0.5)), k)], axis=-1), v)
    att = g.op("Reshape", [g.op("Transpose", [att], perm=[0, 2, 1, 3]), g.const([0, 0, d], "int64")])
    x = g.add(x, w.linear("ao", att, d, d))
    h = _layer_norm(w, x, d)
    return g.add(x, w.linear("af2", g.op("Relu", [w.linear("af1", h, d, ff)]), ff, d))


def encoder() -> tuple[onnx.ModelProto, int]:
    g = Graph("funasr_nano_encoder_adaptor_random", opset=17)
    w = _Weights(g, seed=20251230)
    x = g.input("x", "float32", [1, "T", D_IN])
    t = g.squeeze(g.dim(x, 1), [0])
    rng = g.op("Range", [g.const(0, "int64"), t, g.const(1, "int64")])
    mask3 = g.unsqueeze(g.op("Add", [g.mul(g.cast(g.unsqueeze(rng, [0]), "float32"), g.const(0.0)), g.const(1.0)]), [2])  # ones [1,T,1]
    bias4 = g.const(np.zeros((1, 1, 1, 1), np.float32))
    half = D_IN // 2
    inv = np.exp(np.arange(half, dtype=np.float32) * -(math.log(10000.0) / (half - 1))).astype(np.float32)
    scaled = g.mul(g.unsqueeze(g.cast(g.add(rng, g.const(1, "int64")), "float32"), [1]), g.const(inv[None, :]))
    h = g.add(g.mul(x, g.const(D ** 0.5)), g.op("Concat", [g.op("Sin", [scaled]), g.op("Cos", [scaled])], axis=1))
    h = _sanm_layer(w, h, D_IN, mask3, bias4)
    for _ in range(BLOCKS - 1):
        h = _sanm_layer(w, h, D, mask3, bias4)
    h = _layer_norm(w, h, D)
    for _ in range(TP_BLOCKS):
        h = _sanm_layer(w, h, D, mask3, bias4)
    h = _layer_norm(w, h, D)
    h = w.linear("ad2", g.op("Relu", [w.linear("ad1", h, D, ADAPT_FF)]), ADAPT_FF, HID)
    for _ in range(ADAPT_BLOCKS):
        h = _block(w, h, HID, ADAPT_HEADS, ADAPT_FF)
    g.output(h, "encoder_out", "float32", [1, "T", HID])
    meta = N.encoder_metadata() | {"llm_dim": str(HID), "comment": "voxfleet full-size random test graph of FunAudioLLM/Fun-ASR-Nano-2512 encoder + adaptor"}
    return g.model(meta, __doc__, check=False), w.count


def _rms(w: _Weights, x: str, dim: int) -> str:
    g = w.g
    ms = g.op("ReduceMean", [g.mul(x, x)], axes=[-1], keepdims=1)
    y = g.div(x, g.op("Sqrt", [g.add(ms, g.const(EPS))]))
    return g.mul(y, w.fixed("rms_g", np.ones(dim, np.float32)))


def _rope(g: Graph, x: str, cos: str, sin: str) -> str:
    """x [B,S,H,128] rotated (rotate_half), cos/sin [S,1,128]."""
    a = g.op("Slice", [x, g.const([0], "int64"), g.const([HD // 2], "int64"), g.const([3], "int64")])
    b = g.op("Slice", [x, g.const([HD // 2], "int64"), g.const([HD], "int64"), g.const([3], "int64")])
    rot = g.op("Concat", [g.mul(b, g.const(-1.0)), a], axis=3)
    return g.add(g.mul(x, cos), g.mul(rot, sin))


def llm() -> tuple[onnx.ModelProto, int]:
    g = Graph("funasr_nano_llm_random", opset=17)
    w = _Weights(g, seed=20251231)
    emb = g.input("inputs_embeds", "float32", ["batch", "seq", HID])
    mask = g.input("attention_mask", "int64", ["batch", "total_len"])
    cpos = g.input("cache_position", "int64", ["seq"])
    caches = [(g.input(f"cache_key_{i}", "float32", ["batch", N.MAX_TOTAL_LEN, KVH, HD]),
               g.input(f"cache_value_{i}", "float32", ["batch", N.MAX_TOTAL_LEN, KVH, HD])) for i in range(LAYERS)]
    pos0 = g.op("Slice", [cpos, g.const([0], "int64"), g.const([1], "int64")])
    S, M = g.dim(emb, 1), g.dim(mask, 1)
    kidx = g.op("Range", [g.const(0, "int64"), g.squeeze(M, [0]), g.const(1, "int64")])
    causal = g.op("LessOrEqual", [g.unsqueeze(kidx, [0]), g.unsqueeze(cpos, [1])])                     # [S,M]
    vis = g.op("And", [g.unsqueeze(g.cast(mask, "bool"), [1]), g.unsqueeze(causal, [0])])               # [B,S,M]
    bias = g.unsqueeze(g.op("Where", [vis, g.const(0.0), g.const(NEG)]), [1])                             # [B,1,S,M]
    inv = (1.0 / THETA ** (np.arange(0, HD, 2, dtype=np.float64) / HD)).astype(np.float32)
    ang = g.mul(g.unsqueeze(g.cast(cpos, "float32"), [1]), g.const(np.concatenate([inv, inv])[None, :]))  # [S,128]
    cos = g.unsqueeze(g.op("Cos", [ang]), [1])
    sin = g.unsqueeze(g.op("Sin", [ang]), [1])
    x = emb
    deltas = []
    for i, (ck, cv) in enumerate(caches):
        h = _rms(w, x, HID)
        q = g.op("Reshape", [g.matmul(h, w.normal("q", (HID, QH * HD), HID ** -0.5)), g.const([0, 0, QH, HD], "int64")])
        k = g.op("Reshape", [g.matmul(h, w.normal("k", (HID, KVH * HD), HID ** -0.5)), g.const([0, 0, KVH, HD], "int64")])
        v = g.op("Reshape", [g.matmul(h, w.normal("v", (HID, KVH * HD), HID ** -0.5)), g.const([0, 0, KVH, HD], "int64")])
        q = _rope(g, _rms(w, q, HD), cos, sin)
        k = _rope(g, _rms(w, k, HD), cos, sin)
        deltas.append((k, v))
        kf = g.op("Concat", [g.op("Slice", [ck, g.const([0], "int64"), pos0, g.const([1], "int64")]), k], axis=1)  # [B,M,8,128]
        vf = g.op("Concat", [g.op("Slice", [cv, g.const([0], "int64"), pos0, g.const([1], "int64")]), v], axis=1)
        # GQA: each KV head serves 2 query heads
        def heads(t: str) -> str:
            t = g.op("Transpose", [t], perm=[0, 2, 1, 3])                                                  # [B,8,M,128]
            t = g.unsqueeze(t, [2])
            t = g.op("Expand", [t, g.op("Concat", [g.dim(t, 0), g.const([KVH, QH // KVH], "int64"), g.dim(t, 3), g.const([HD], "int64")], axis=0)])
            return g.op("Reshape", [t, g.op("Concat", [g.dim(t, 0), g.const([QH], "int64"), g.dim(t, 3), g.const([HD], "int64")], axis=0)])
        qh = g.op("Transpose", [q], perm=[0, 2, 1, 3])                                                     # [B,16,S,128]
        sc = g.add(g.matmul(g.mul(qh, g.const(HD ** -0.5)), g.op("Transpose", [heads(kf)], perm=[0, 1, 3, 2])), bias)
        att = g.matmul(g.op("Softmax", [sc], axis=-1), heads(vf))
        att = g.op("Reshape", [g.op("Transpose", [att], perm=[0, 2, 1, 3]), g.const([0, 0, QH * HD], "int64")])
        x = g.add(x, g.matmul(att, w.normal("o", (QH * HD, HID), (QH * HD) ** -0.5)))
        h = _rms(w, x, HID)
        gate = g.matmul(h, w.normal("gate", (HID, FF), HID ** -0.5))
        up = g.matmul(h, w.normal("up", (HID, FF), HID ** -0.5))
        act = g.mul(g.mul(gate, g.op("Sigmoid", [gate])), up)
        x = g.add(x, g.matmul(act, w.normal("down", (FF, HID), FF ** -0.5)))
    logits = g.matmul(_rms(w, x, HID), w.normal("lm_head", (HID, N.VOCAB), HID ** -0.5))
    g.output(logits, "logits", "float32", ["batch", "seq", N.VOCAB])
    for i, (k, v) in enumerate(deltas):
        g.output(k, f"key_delta_{i}", "float32", ["batch", "seq", KVH, HD])
        g.output(v, f"value_delta_{i}", "float32", ["batch", "seq", KVH, HD])
    meta = N.llm_metadata("fp32") | {"hidden_size": str(HID), "num_layers": str(LAYERS), "num_kv_heads": str(KVH), "head_dim": str(HD)}
    return g.model(meta, __doc__, check=False), w.count


def full(out_dir: str) -> int:
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    m, n = encoder()
    total += n
    save(m, os.path.join(out_dir, "encoder_adaptor.onnx"))  # one file, as the export's 888 MB one
    del m
    g = Graph("funasr_nano_embedding_random", opset=17)
    table = (np.random.default_rng(20251229).standard_normal((N.VOCAB, HID), dtype=np.float32) * np.float32(0.02)).astype(np.float32)
    total += table.size
    ids = g.input("input_ids", "int64", ["batch", "seq"])
    g.output(g.op("Gather", [g.weight("embed_tokens", table), ids], axis=0), "embeddings", "float32", ["batch", "seq", HID])
    del table
    save(g.model({"model_type": "embedding_layer", "vocab_size": str(N.VOCAB), "hidden_size": str(HID)}, __doc__), os.path.join(out_dir, "embedding.onnx"))
    del g
    m, n = llm()
    total += n
    save_external(m, os.path.join(out_dir, "llm.fp32.onnx"), "llm.fp32.data")
    del m
    for f in ("encoder_adaptor.onnx", "llm.fp32.onnx"):
        onnx.checker.check_model(os.path.join(out_dir, f))
    N.write_tokenizer(out_dir, N.tokenizer_json())
    print(f"funasr-nano full: {total} parameters")
    return 0
