"""Fun-ASR-Nano as sherpa-onnx runs its LLM export (Wasser1462/FunASR-nano-onnx;
shared/docs/model-contracts.md §4): three graphs and the Qwen3 tokenizer.

  encoder_adaptor[.int8].onnx  x f32 [1,T,560] (only T dynamic) -> encoder_out f32 [1,T,H]
  embedding[.int8].onnx        input_ids i64 [B,S] -> embeddings f32 [B,S,H]
  llm.fp32.onnx + llm.fp32.data (external data), llm.int8.onnx, llm.fp16.onnx
      inputs_embeds f32 [B,S,H], attention_mask i64 [B,past+S], cache_position i64 [S],
      cache_key_i / cache_value_i [B,512,KVH,HD] (float16 in the fp16 build) for each layer
      -> logits f32 [B,S,V], key_delta_i / value_delta_i [B,S,KVH,HD]
  Qwen3-0.6B/tokenizer.json, vocab.json, merges.txt, tokenizer_config.json (from fixtures/qwen3-tokenizer)

Tiny graphs (H 16, 2 layers, 2 KV heads of 4, the real vocabulary 151936, max_total_len 512):
the encoder marks every LFR row as audio and writes its index t and a bucket b (0-7 from the
loudness and tilt scores with wide margins, 8 for silence, as the CTC test graphs bucket frames);
the embedding gives the generated pieces (16 words and CJK characters that no prompt holds) a
flag and a value k+1, every text token a text flag, plus small noise. Each layer's key and value
are its rows' first 8 channels (layer 1 doubled), attention is a masked sum over the visible rows
(attention_mask AND causal), so a wrong cache row, mask or cache_position changes the sums:
  layer 0: A = audio rows, G = generated pieces, K = sum of their values, X = text tokens;
  layer 1: b of the audio row at index 4G (keys carry t; one row matches or none).
Next token = stop when 4G >= A (<|im_end|> when A is even, <|endoftext|> when odd), else
piece[(b + G(G+1)/2 + K + X + R) mod 16], R = the query's distance from its sequence's first visible
row (relative, like RoPE: padding and joins leave it alone; sherpa-onnx's empty row after the prompt
shows in it). All of it is integer arithmetic in float (exact in fp16
too), the chosen logit 24 above a smooth part of at most 0.3: float noise cannot flip an argmax.
The `loop` build never stops: piece[G mod 3] forever (for the repetition guard and the budget)."""
from __future__ import annotations

import gzip
import json
import os
import shutil

import numpy as np
import onnx

from convert.int8 import quantize_model

from . import common as C
from .builder import Graph, save, save_external

H = 16
LAYERS = 2
KVH = 2
HD = 4
VOCAB = 151936
MAX_TOTAL_LEN = 512
ENDOFTEXT = 151643
IM_END = 151645
# the generated pieces: one Qwen token each, in no prompt (the instruction is Chinese, the scaffold ChatML)
PIECES = ["Ġhello", "Ġworld", "Ġgreen", "Ġriver", "Ġseven", "Ġcloud", "Ġstone", "Ġmusic",
          "天", "气", "山", "水", "猫", "狗", "春", "风"]
STEP = 4  # audio rows per generated token

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TOKENIZER_FIXTURE = os.path.join(REPO, "fixtures", "qwen3-tokenizer")


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE pieces are spelt with it)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json() -> dict:
    with gzip.open(os.path.join(TOKENIZER_FIXTURE, "tokenizer.json.gz"), "rt", encoding="utf-8") as f:
        return json.load(f)


def piece_ids(tj: dict) -> list[int]:
    vocab = tj["model"]["vocab"]
    b2u = _bytes_to_unicode()
    out = []
    for p in PIECES:
        spelt = p if p.startswith("Ġ") else "".join(b2u[b] for b in p.encode("utf-8"))
        out.append(vocab[spelt])
    return out


def write_tokenizer(out_dir: str, tj: dict) -> None:
    """Qwen3-0.6B/ as the export ships it: tokenizer.json, vocab.json, merges.txt (sherpa-onnx reads all three)."""
    d = os.path.join(out_dir, "Qwen3-0.6B")
    os.makedirs(d, exist_ok=True)
    with gzip.open(os.path.join(TOKENIZER_FIXTURE, "tokenizer.json.gz"), "rb") as f, open(os.path.join(d, "tokenizer.json"), "wb") as g:
        shutil.copyfileobj(f, g)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(tj["model"]["vocab"], f, ensure_ascii=False, separators=(",", ":"))
    merges = tj["model"]["merges"]
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write((m if isinstance(m, str) else " ".join(m)) + "\n")
    shutil.copy(os.path.join(TOKENIZER_FIXTURE, "tokenizer_config.json"), os.path.join(d, "tokenizer_config.json"))


# ------------------------------------------------------------------ encoder_adaptor

def encoder_metadata() -> dict[str, str]:
    """FN scripts/export_encoder_adaptor_onnx.py:196-207."""
    return {
        "lfr_window_size": str(C.LFR_M), "lfr_window_shift": str(C.LFR_N), "normalize_samples": "0",
        "model_type": "sense_voice_encoder_adaptor", "version": "1", "model_author": "FunAudioLLM",
        "encoder_output_size": "512", "llm_dim": str(H),
        "comment": "voxfleet tiny test graph of FunAudioLLM/Fun-ASR-Nano-2512 encoder + adaptor",
        "url": "https://huggingface.co/FunAudioLLM/Fun-ASR-Nano-2512",
    }


def encoder() -> onnx.ModelProto:
    g = Graph("funasr_nano_encoder_adaptor_tiny", opset=17)
    x = g.input("x", "float32", [1, "T", 560])
    neg_mean, inv_stddev = C.cmvn()
    w = C.score_weights()
    wf = (w * inv_stddev[:, None]).astype(np.float32)
    bias = (neg_mean * inv_stddev) @ w
    p0, tilt, _m, _p3, p = C.scores(g, x, wf, bias)
    b = g.add(g.mul(C.bucket(g, p0, C.P0_EDGES), g.const(2, "int64")), g.cast(C.ge(g, tilt, 0.0), "int64"))
    b = C.pick(g, C.ge(g, p0, C.BLANK_EDGE), b, 8)                          # [1,T] int64
    t = g.squeeze(g.dim(x, 1), [0])
    idx = g.unsqueeze(g.cast(g.op("Range", [g.const(0, "int64"), t, g.const(1, "int64")]), "float32"), [0])  # [1,T]
    ones = g.op("Add", [g.mul(idx, g.const(0.0)), g.const(1.0)])
    cols = [g.unsqueeze(v, [2]) for v in (ones, idx, g.cast(b, "float32"))]
    zeros5 = g.op("Expand", [g.const(np.zeros((1, 1, 5), np.float32)), g.op("Concat", [g.const([1], "int64"), g.dim(x, 1), g.const([5], "int64")], axis=0)])
    smooth = g.mul(g.op("Tanh", [p]), g.const(0.05))                         # [1,T,4]
    zeros4 = g.op("Expand", [g.const(np.zeros((1, 1, 4), np.float32)), g.op("Concat", [g.const([1], "int64"), g.dim(x, 1), g.const([4], "int64")], axis=0)])
    out = g.op("Concat", [*cols, zeros5, smooth, zeros4], axis=2)           # 3 + 5 + 4 + 4 = 16
    g.output(out, "encoder_out", "float32", [1, "T", H])
    return g.model(encoder_metadata(), doc=__doc__)


# ------------------------------------------------------------------ embedding

def embedding_table(pieces: list[int]) -> np.ndarray:
    rng = np.random.default_rng(20251230)
    e = np.zeros((VOCAB, H), np.float32)
    e[:, 5] = 1.0                                                            # text flag
    e[:, 6:16] = rng.uniform(-0.1, 0.1, size=(VOCAB, 10)).astype(np.float32)
    for k, pid in enumerate(pieces):
        e[pid, 3] = 1.0
        e[pid, 4] = float(k + 1)
    return e


def embedding(table: np.ndarray) -> onnx.ModelProto:
    g = Graph("funasr_nano_embedding_tiny", opset=17)
    ids = g.input("input_ids", "int64", ["batch", "seq"])
    out = g.op("Gather", [g.weight("embed_tokens", table), ids], axis=0)
    g.output(out, "embeddings", "float32", ["batch", "seq", H])
    return g.model({"model_type": "embedding_layer", "vocab_size": str(VOCAB), "hidden_size": str(H)}, doc=__doc__)


# ------------------------------------------------------------------ llm

def llm_metadata(quant: str) -> dict[str, str]:
    """FN export_llm_onnx.py:679-689 (+ quantization_type)."""
    return {
        "model_type": "qwen3_causallm_unified_prefill_decode_kv_delta", "version": "1", "hidden_size": str(H),
        "vocab_size": str(VOCAB), "num_layers": str(LAYERS), "max_total_len": str(MAX_TOTAL_LEN), "io_dtype": "float32",
        "num_kv_heads": str(KVH), "head_dim": str(HD), "quantization_type": quant,
    }


def llm(pieces: list[int], cache_dtype: str, quant: str, loop: bool = False) -> onnx.ModelProto:
    g = Graph("funasr_nano_llm_tiny" + ("_loop" if loop else ""), opset=17)
    emb = g.input("inputs_embeds", "float32", ["batch", "seq", H])
    mask = g.input("attention_mask", "int64", ["batch", "total_len"])
    cpos = g.input("cache_position", "int64", ["seq"])
    caches = []
    for i in range(LAYERS):
        caches.append((g.input(f"cache_key_{i}", cache_dtype, ["batch", MAX_TOTAL_LEN, KVH, HD]),
                       g.input(f"cache_value_{i}", cache_dtype, ["batch", MAX_TOTAL_LEN, KVH, HD])))
    pos0 = g.op("Slice", [cpos, g.const([0], "int64"), g.const([1], "int64")])        # [1]
    S = g.dim(emb, 1)
    M = g.dim(mask, 1)
    B = g.dim(emb, 0)
    # vis [B,S,M]: attention_mask AND key index <= pos0 + query index
    kidx = g.op("Range", [g.const(0, "int64"), g.squeeze(M, [0]), g.const(1, "int64")])
    qpos = g.add(g.op("Range", [g.const(0, "int64"), g.squeeze(S, [0]), g.const(1, "int64")]), pos0)
    causal = g.cast(g.op("LessOrEqual", [g.unsqueeze(kidx, [0]), g.unsqueeze(qpos, [1])]), "float32")  # [S,M]
    vis = g.mul(g.unsqueeze(g.cast(mask, "float32"), [1]), g.unsqueeze(causal, [0]))
    row8 = g.op("Slice", [emb, g.const([0], "int64"), g.const([8], "int64"), g.const([2], "int64")])   # [B,S,8]
    kv_shape = g.op("Concat", [B, S, g.const([KVH, HD], "int64")], axis=0)
    flat_shape = g.op("Concat", [B, M, g.const([KVH * HD], "int64")], axis=0)
    sums = []
    outs = []
    for i, (ck, cv) in enumerate(caches):
        new = g.mul(row8, g.const(float(i + 1)))
        delta = g.op("Reshape", [new, kv_shape])                                           # [B,S,KVH,HD] f32
        full = []
        for cache in (ck, cv):
            c32 = cache if cache_dtype == "float32" else g.cast(cache, "float32")
            past = g.op("Slice", [c32, g.const([0], "int64"), pos0, g.const([1], "int64")])
            full.append(g.op("Reshape", [g.op("Concat", [past, delta], axis=1), flat_shape]))  # [B,M,8]
        keys, values = full
        d_out = delta if cache_dtype == "float32" else g.cast(delta, cache_dtype)
        outs.append((d_out, d_out))
        sums.append((keys, values))
    keys0, values0 = sums[0]
    s0 = g.matmul(vis, values0)                                                            # [B,S,8]

    def ch(t: str, k: int, scale: float = 1.0) -> str:
        v = g.squeeze(g.op("Slice", [t, g.const([k], "int64"), g.const([k + 1], "int64"), g.const([2], "int64")]), [2])
        return v if scale == 1.0 else g.mul(v, g.const(scale))

    A, Gc, K, X = ch(s0, 0), ch(s0, 3), ch(s0, 4), ch(s0, 5)                               # [B,S]
    pid = g.const(np.asarray(pieces, np.int64), "int64")
    if loop:
        nxt = g.op("Gather", [pid, g.cast(g.op("Mod", [Gc, g.const(3.0)], fmod=1), "int64")], axis=0)
    else:
        keys1, values1 = sums[1]
        target = g.mul(Gc, g.const(float(STEP * 2)))                                     # layer-1 keys are doubled
        kt = ch(keys1, 1)                                                                  # [B,M] 2t
        ka = ch(keys1, 0, 0.5)                                                             # [B,M] audio flag
        hit = g.mul(g.cast(g.op("Equal", [g.unsqueeze(kt, [1]), g.unsqueeze(target, [2])]), "float32"), g.unsqueeze(ka, [1]))
        sel = g.mul(vis, hit)                                                              # [B,S,M]
        b = g.mul(g.matmul(sel, values1), g.const(0.5))                                   # [B,S,8]; channel 2 = b
        bsel = ch(b, 2)
        tri = g.div(g.mul(Gc, g.add(Gc, g.const(1.0))), g.const(2.0))
        # the query's distance from its sequence's first visible row: position-aware like RoPE (relative,
        # so left padding and joins do not change it), and it tells a cache hole after the prompt
        kf = g.unsqueeze(g.unsqueeze(g.cast(kidx, "float32"), [0]), [0])                   # [1,1,M]
        first = g.op("ReduceMin", [g.op("Where", [g.cast(vis, "bool"), kf, g.const(1e9)])], axes=[2], keepdims=0)
        rel = g.sub(g.unsqueeze(g.cast(qpos, "float32"), [0]), first)                       # [B,S]
        arg = g.op("Mod", [g.add(g.add(g.add(g.add(bsel, tri), K), X), rel), g.const(16.0)], fmod=1)
        piece = g.op("Gather", [pid, g.cast(arg, "int64")], axis=0)
        stop_id = C.pick(g, g.op("Equal", [g.op("Mod", [A, g.const(2.0)], fmod=1), g.const(0.0)]), IM_END, ENDOFTEXT)
        done = g.op("Not", [g.op("Less", [g.mul(Gc, g.const(float(STEP))), A])])
        nxt = g.op("Where", [done, stop_id, piece])
    onehot = g.op("OneHot", [nxt, g.const([VOCAB], "int64"), g.const([0.0, C.LOGIT_SCALE])], axis=-1)  # [B,S,V]
    noise = g.op("Slice", [emb, g.const([6], "int64"), g.const([10], "int64"), g.const([2], "int64")])
    w = np.random.default_rng(20251231).uniform(-0.3, 0.3, size=(4, VOCAB)).astype(np.float32)
    logits = g.add(onehot, g.matmul(g.op("Tanh", [g.mul(noise, g.const(3.0))]), g.weight("lm_head", w)))
    g.output(logits, "logits", "float32", ["batch", "seq", VOCAB])
    for i, (kd, vd) in enumerate(outs):
        g.output(kd, f"key_delta_{i}", cache_dtype, ["batch", "seq", KVH, HD])
        g.output(vd, f"value_delta_{i}", cache_dtype, ["batch", "seq", KVH, HD])
    return g.model(llm_metadata(quant), doc=__doc__)


def write(out_dir: str, loop: bool) -> int:
    os.makedirs(out_dir, exist_ok=True)
    tj = tokenizer_json()
    pieces = piece_ids(tj)
    n = 0
    enc = encoder()
    save(enc, os.path.join(out_dir, "encoder_adaptor.onnx"))
    q, k = quantize_model(onnx.ModelProto.FromString(enc.SerializeToString()), "uint8", per_channel=False)
    n += k
    save(q, os.path.join(out_dir, "encoder_adaptor.int8.onnx"))
    emb = embedding(embedding_table(pieces))
    save(emb, os.path.join(out_dir, "embedding.onnx"))
    save(emb, os.path.join(out_dir, "embedding.int8.onnx"))  # a Gather only: nothing for the MatMul quantizer
    save_external(llm(pieces, "float32", "fp32", loop), os.path.join(out_dir, "llm.fp32.onnx"), "llm.fp32.data")
    q, k = quantize_model(llm(pieces, "float32", "int8", loop), "int8", per_channel=False)
    n += k
    save(q, os.path.join(out_dir, "llm.int8.onnx"))
    save(llm(pieces, "float16", "fp16", loop), os.path.join(out_dir, "llm.fp16.onnx"))
    write_tokenizer(out_dir, tj)
    return n


def tiny(out_dir: str) -> int:
    return write(out_dir, loop=False)


def tiny_loop(out_dir: str) -> int:
    return write(out_dir, loop=True)
