"""NeMo Parakeet TDT 0.6B v2 as sherpa-onnx exports it (scripts/nemo/parakeet-tdt-0.6b-v2/
export_onnx.py; archives sherpa-onnx-nemo-parakeet-tdt-0.6b-v2[-int8]; contract §7): three
graphs from NeMo's own exporter, bound by position as sherpa-onnx binds them.

  encoder.onnx (+ encoder.weights, its external data) / encoder.int8.onnx
    audio_signal f32 [N,128,T] (per-feature normalised log-mel), length i64 [N]
    -> outputs f32 [N,1024,T'], encoded_lengths i64 [N], T' = ceil(ceil(ceil(T/2)/2)/2)
  decoder.onnx / decoder.int8.onnx (the LSTM prediction network, one step per call)
    targets i32 [N,U], target_length i32 [N], states.1 f32 [2,N,640],
    onnx::Slice_3 f32 [2,1,640] (the exporter's trace fixes this state's batch at 1)
    -> outputs f32 [N,640,U], prednet_lengths i32 [N], states f32 [2,N,640], 162 f32 [2,N,640]
  joiner.onnx / joiner.int8.onnx
    encoder_outputs f32 [N,1024,T], decoder_outputs f32 [N,640,U]
    -> outputs f32 [N,T,U,1030]: 1025 token logits (1024 pieces + <blk>), then 5 duration
       logits (durations 0..4 frames)
  tokens.txt: <unk> 0, 1023 pieces, <blk> 1024. Metadata on the encoder only (export_onnx.py:
  85-97): vocab_size 1024, normalize_type per_feature, pred_rnn_layers 2, pred_hidden 640,
  subsampling_factor 8, model_type EncDecRNNTBPEModel, version 2, model_author NeMo, url
  (contains "tdt": what makes sherpa-onnx decode it as TDT), comment, feat_dim 128.
  int8 as the export quantizes: encoder weights uint8, decoder and joiner int8 (per tensor).
Dynamic-axis names follow a printout of the same exporter on the same 0.6B architecture
(parakeet-unified-en-0.6b, 2026); the v2 archive's own were not read.

Tiny graphs (no learning; every decision a bucket with wide margins):
encoder: output frame j pools input frames [8j, 8j+8) within `length` into mean p0 (loudness),
tilt (bins 0-31 minus 96-127) and midlo (bins 32-95 minus 0-31), and writes a plan for the
frame into its 1024 values: the bits (+-1, 11 of them) and id of a piece `a` (4 p0 buckets at
0.2/0.6/1.0 x tilt sign: ▁the ▁a s ▁and ▁to ing ▁of ed), a second piece `s` (ly / er by the sign
of midlo), `a_flip` (a with the other tilt sign), a type and a duration:
  p0 < -0.3 or no valid frame: blank, duration 1 if midlo >= 0 else (0 if tilt >= 0 else 2)
  bucket 0: alternating: `a` if the decoder's step count is odd, else `a_flip`; duration 1
  bucket 1: midlo >= 0: `a`, duration 3; else `a`, duration 0, then blank (duration 0 -> 1)
  bucket 2: pair: `a` with duration 0, then `s` with duration 2
  bucket 3: stuck: `a` with duration 0 for ever (sherpa-onnx's 5-per-frame limit moves on)
decoder: its output holds the bits of the target token, the previous token's bits (from
states.1) and the step count (from the second state + 1); the next states carry them.
joiner: "the decoder's last token is `a`" is a dot product of the bits (11 = equal); the
token and duration picked get logit 24, plus a smooth part tanh(...) @ W, |W| <= 0.1."""
from __future__ import annotations

import os

import numpy as np
import onnx

from convert.int8 import quantize_model

from . import tokens as TK
from .builder import Graph, save, save_external

FEAT = 128
ENC_DIM = 1024
PRED_HIDDEN = 640
PRED_LAYERS = 2
SUB = 8
DURATIONS = 5
BITS = 11
BLANK_EDGE = -0.3
EDGES = [0.2, 0.6, 1.0]
SCALE = 24.0
SECOND_PIECES = ["ly", "er"]
OPSET = 17

# layout of the encoder's frame vector and of the decoder's output vector
E_BITS, E_A, E_S, E_TYPE, E_DUR, E_FLIP, E_SMOOTH = 0, 22, 23, 24, 25, 26, 27   # smooth: 4 values
D_BITS, D_PREV, D_COUNT, D_SMOOTH = 0, 11, 22, 23                                # smooth: 8 values

# plan types
BLANK, SINGLE, PAIR, STUCK, THEN_BLANK, ALTERNATE = 0, 1, 2, 3, 4, 5


def metadata(vocab: int) -> dict[str, str]:
    """export_onnx.py:85-97 (vocab_size = pieces without the blank)."""
    return {
        "vocab_size": str(vocab),
        "normalize_type": "per_feature",
        "pred_rnn_layers": str(PRED_LAYERS),
        "pred_hidden": str(PRED_HIDDEN),
        "subsampling_factor": str(SUB),
        "model_type": "EncDecRNNTBPEModel",
        "version": "2",
        "model_author": "NeMo",
        "url": "https://huggingface.co/nvidia/parakeet-tdt-0.6b-v2",
        "comment": "Only the transducer branch is exported",
        "feat_dim": str(FEAT),
    }


def vocabulary() -> tuple[list[str], list[int], list[int]]:
    """(tokens with <blk> last, the 8 first-piece ids, the 2 second-piece ids)."""
    tok, piece_ids = TK.nemo()
    second = list(range(len(piece_ids) + 1, len(piece_ids) + 1 + len(SECOND_PIECES)))
    for i, p in zip(second, SECOND_PIECES):
        assert p not in tok, p
        tok[i] = p   # replaces a filler piece: suffixes without the word-start mark
    return tok, piece_ids, second


def bits_table(n: int) -> np.ndarray:
    """[n, 11] float: +-1 per bit of each id (ids up to 2047)."""
    ids = np.arange(n)[:, None]
    return np.where((ids >> np.arange(BITS)[None, :]) & 1, 1.0, -1.0).astype(np.float32)


def score_weights() -> np.ndarray:
    """[128, 3]: p0 (mean of all bins), tilt (mean 0-31 minus mean 96-127), midlo (mean 32-95 minus mean 0-31)."""
    w = np.zeros((FEAT, 3), np.float32)
    idx = np.arange(FEAT)
    w[:, 0] = 1.0 / FEAT
    w[idx < 32, 1] = 1.0 / 32
    w[idx >= 96, 1] = -1.0 / 32
    w[(idx >= 32) & (idx < 96), 2] = 1.0 / 64
    w[idx < 32, 2] = -1.0 / 32
    return w


def last_slice(g: Graph, x: str, start: int, end: int) -> str:
    return g.op("Slice", [x, g.const([start], "int64"), g.const([end], "int64"), g.const([-1], "int64")])


def pad_last(g: Graph, x: str, rank: int, extra: int) -> str:
    pads = [0] * (2 * rank)
    pads[2 * rank - 1] = extra
    return g.op("Pad", [x, g.const(pads, "int64")])


def where(g: Graph, cond: str, a, b) -> str:
    a = g.const(a, "int64") if isinstance(a, int) else a
    b = g.const(b, "int64") if isinstance(b, int) else b
    return g.op("Where", [cond, a, b])


def ge(g: Graph, v: str, edge: float) -> str:
    return g.op("Not", [g.op("Less", [v, g.const(edge)])])


def eq_int(g: Graph, v: str, k: int) -> str:
    return g.op("Equal", [v, g.const(k, "int64")])


def half_ceil(g: Graph, v: str) -> str:
    """ceil(v / 2) for int64 v >= 0: one stride-2 convolution (kernel 3, padding 1)."""
    return g.op("Div", [g.add(v, g.const(1, "int64")), g.const(2, "int64")])


def encoder(piece_ids: list[int], second_ids: list[int], vocab_with_blank: int) -> onnx.ModelProto:
    g = Graph("parakeet_tdt_encoder_tiny", opset=OPSET)
    a_in = g.input("audio_signal", "float32", ["audio_signal_dynamic_axes_1", FEAT, "audio_signal_dynamic_axes_2"])
    length = g.input("length", "int64", ["length_dynamic_axes_1"])

    x = g.op("Transpose", [a_in], perm=[0, 2, 1])                                  # [N,T,128]
    p = g.matmul(x, g.weight("score_w", score_weights()))                          # [N,T,3]
    t = g.squeeze(g.dim(x, 1), [0])
    rng = g.op("Range", [g.const(0, "int64"), t, g.const(1, "int64")])
    mask = g.cast(g.op("Less", [g.unsqueeze(rng, [0]), g.unsqueeze(length, [1])]), "float32")   # [N,T]
    s = half_ceil(g, half_ceil(g, half_ceil(g, t)))
    extra = g.sub(g.mul(s, g.const(SUB, "int64")), t)
    pm = g.op("Pad", [g.unsqueeze(mask, [2]), g.op("Concat", [g.const([0, 0, 0, 0], "int64"), g.unsqueeze(extra, [0]), g.const([0], "int64")], axis=0)])
    pp = g.op("Pad", [g.mul(p, g.unsqueeze(mask, [2])), g.op("Concat", [g.const([0, 0, 0, 0], "int64"), g.unsqueeze(extra, [0]), g.const([0], "int64")], axis=0)])
    shape = lambda c: g.op("Concat", [g.const([0], "int64"), g.unsqueeze(s, [0]), g.const([SUB, c], "int64")], axis=0)  # noqa: E731
    count = g.reduce_sum(g.op("Reshape", [pm, shape(1)]), [2])                     # [N,S,1]
    sums = g.reduce_sum(g.op("Reshape", [pp, shape(3)]), [2])                      # [N,S,3]
    means = g.div(sums, g.op("Max", [count, g.const(1.0)]))
    col = lambda k: g.squeeze(last_slice(g, means, k, k + 1), [2])                 # noqa: E731
    p0, tilt, midlo = col(0), col(1), col(2)                                       # [N,S]
    valid = g.op("Greater", [g.squeeze(count, [2]), g.const(0.0)])

    b = None
    for e in EDGES:
        one = g.cast(ge(g, p0, e), "int64")
        b = one if b is None else g.add(b, one)
    pos = g.cast(ge(g, tilt, 0.0), "int64")
    mid = ge(g, midlo, 0.0)
    table = g.const(piece_ids, "int64")
    a_id = g.op("Gather", [table, g.add(g.mul(b, g.const(2, "int64")), pos)], axis=0)
    flip_id = g.op("Gather", [table, g.add(g.mul(b, g.const(2, "int64")), g.sub(g.const(1, "int64"), pos))], axis=0)
    s_id = g.op("Gather", [g.const(second_ids, "int64"), g.cast(mid, "int64")], axis=0)

    speech = g.op("And", [valid, ge(g, p0, BLANK_EDGE)])
    b1_type = where(g, mid, SINGLE, THEN_BLANK)
    typ = where(g, eq_int(g, b, 0), ALTERNATE, where(g, eq_int(g, b, 1), b1_type, where(g, eq_int(g, b, 2), PAIR, STUCK)))
    typ = where(g, speech, typ, BLANK)
    blank_dur = where(g, mid, 1, where(g, g.op("Not", [g.op("Less", [tilt, g.const(0.0)])]), 0, 2))
    dur = where(g, eq_int(g, typ, BLANK), blank_dur,
                where(g, eq_int(g, typ, SINGLE), 3,
                      where(g, eq_int(g, typ, PAIR), 2,
                            where(g, eq_int(g, typ, ALTERNATE), 1, 0))))

    bits = g.op("Gather", [g.weight("bits", bits_table(vocab_with_blank)), a_id], axis=0)   # [N,S,11]
    f = lambda v: g.unsqueeze(g.cast(v, "float32"), [2])                           # noqa: E731
    smooth = g.op("Tanh", [g.op("Concat", [means, g.div(count, g.const(float(SUB)))], axis=2)])   # [N,S,4]
    vec = g.op("Concat", [bits, g.mul(bits, g.const(0.0)), f(a_id), f(s_id), f(typ), f(dur), f(flip_id), smooth], axis=2)   # [N,S,31]
    vec = pad_last(g, vec, 3, ENC_DIM - (E_SMOOTH + 4))
    g.output(g.op("Transpose", [vec], perm=[0, 2, 1]), "outputs", "float32", ["Transposeoutputs_dim_0", ENC_DIM, "Transposeoutputs_dim_2"])
    enc_len = half_ceil(g, half_ceil(g, half_ceil(g, length)))
    g.output(enc_len, "encoded_lengths", "int64", ["length_dynamic_axes_1"])
    return g.model(metadata(vocab_with_blank - 1), doc=__doc__)


def decoder(vocab_with_blank: int) -> onnx.ModelProto:
    g = Graph("parakeet_tdt_decoder_tiny", opset=OPSET)
    targets = g.input("targets", "int32", ["targets_dynamic_axes_1", "targets_dynamic_axes_2"])
    target_length = g.input("target_length", "int32", ["target_length_dynamic_axes_1"])
    h = g.input("states.1", "float32", [PRED_LAYERS, "states.1_dim_1", PRED_HIDDEN])
    c = g.input("onnx::Slice_3", "float32", [PRED_LAYERS, 1, PRED_HIDDEN])

    tok = g.cast(targets, "int64")                                                  # [N,U]
    table = g.weight("bits", bits_table(vocab_with_blank))
    emb = g.op("Gather", [table, tok], axis=0)                                      # [N,U,11]
    h0 = g.squeeze(g.op("Slice", [h, g.const([0], "int64"), g.const([1], "int64"), g.const([0], "int64")]), [0])   # [N,640]
    c0 = g.squeeze(g.op("Slice", [c, g.const([0], "int64"), g.const([1], "int64"), g.const([0], "int64")]), [0])
    prev = g.unsqueeze(last_slice(g, h0, 0, BITS), [1])                             # [N,1,11]
    count = g.add(g.unsqueeze(last_slice(g, c0, 0, 1), [1]), g.const(1.0))          # [N,1,1]
    zeros = g.mul(emb, g.const(0.0))
    rng = np.random.default_rng(640)
    smooth = g.op("Tanh", [g.matmul(emb, g.weight("dec_w", rng.uniform(-0.5, 0.5, size=(BITS, 8)).astype(np.float32)))])
    vec = g.op("Concat", [emb, g.add(zeros, prev), g.add(last_slice(g, zeros, 0, 1), count), smooth], axis=2)   # [N,U,31]
    vec = pad_last(g, vec, 3, PRED_HIDDEN - (D_SMOOTH + 8))
    g.output(g.op("Transpose", [vec], perm=[0, 2, 1]), "outputs", "float32", ["targets_dynamic_axes_1", PRED_HIDDEN, "targets_dynamic_axes_2"])
    g.output(target_length, "prednet_lengths", "int32", ["target_length_dynamic_axes_1"])
    last = g.squeeze(g.op("Slice", [emb, g.const([-1], "int64"), g.const([2**62], "int64"), g.const([1], "int64")]), [1])   # [N,11]
    layer0 = g.unsqueeze(pad_last(g, last, 2, PRED_HIDDEN - BITS), [0])
    g.output(g.op("Concat", [layer0, g.unsqueeze(h0, [0])], axis=0), "states", "float32", [PRED_LAYERS, "states_dynamic_axes_1", PRED_HIDDEN])
    # c + 1 with the batch of states.1 (c's declared batch is 1; the LSTM's real output takes the batch of its input)
    g.output(g.add(g.add(c, g.const(1.0)), g.mul(h, g.const(0.0))), "162", "float32", [PRED_LAYERS, "Concat162_dim_1", PRED_HIDDEN])
    return g.model({}, doc="Parakeet TDT tiny test decoder (see encoder.onnx's doc string)")


def joiner(blank: int) -> onnx.ModelProto:
    g = Graph("parakeet_tdt_joiner_tiny", opset=OPSET)
    enc_in = g.input("encoder_outputs", "float32", ["encoder_outputs_dynamic_axes_1", ENC_DIM, "encoder_outputs_dynamic_axes_2"])
    dec_in = g.input("decoder_outputs", "float32", ["decoder_outputs_dynamic_axes_1", PRED_HIDDEN, "decoder_outputs_dynamic_axes_2"])
    e = g.unsqueeze(g.op("Transpose", [enc_in], perm=[0, 2, 1]), [2])             # [N,T,1,1024]
    d = g.unsqueeze(g.op("Transpose", [dec_in], perm=[0, 2, 1]), [1])             # [N,1,U,640]
    ival = lambda x, k: g.cast(g.op("Round", [last_slice(g, x, k, k + 1)]), "int64")   # noqa: E731
    same = g.op("Greater", [g.op("ReduceSum", [g.mul(last_slice(g, e, E_BITS, E_BITS + BITS), last_slice(g, d, D_BITS, D_BITS + BITS)),
                                               g.const([-1], "int64")], keepdims=1), g.const(BITS - 1.0)])   # [N,T,U,1]
    a, s, typ, dur, flip = ival(e, E_A), ival(e, E_S), ival(e, E_TYPE), ival(e, E_DUR), ival(e, E_FLIP)
    odd = g.op("Equal", [g.op("Mod", [ival(d, D_COUNT), g.const(2, "int64")]), g.const(1, "int64")])
    token = where(g, eq_int(g, typ, PAIR), where(g, same, s, a),
                  where(g, eq_int(g, typ, THEN_BLANK), where(g, same, blank, a),
                        where(g, eq_int(g, typ, ALTERNATE), where(g, odd, a, flip),
                              where(g, eq_int(g, typ, BLANK), blank, a))))
    dur = where(g, g.op("And", [eq_int(g, typ, PAIR), g.op("Not", [same])]), 0, dur)
    onehot = lambda v, n: g.op("OneHot", [g.squeeze(v, [3]), g.const([n], "int64"), g.const([0.0, SCALE])], axis=-1)   # noqa: E731
    logits = g.op("Concat", [onehot(token, blank + 1), onehot(dur, DURATIONS)], axis=3)   # [N,T,U,1030]
    rng = np.random.default_rng(1030)
    width = blank + 1 + DURATIONS
    we = rng.uniform(-0.1, 0.1, size=(4, width)).astype(np.float32)
    wd = rng.uniform(-0.1, 0.1, size=(8, width)).astype(np.float32)
    smooth = g.add(g.matmul(g.op("Tanh", [last_slice(g, e, E_SMOOTH, E_SMOOTH + 4)]), g.weight("join_we", we)),
                   g.matmul(g.op("Tanh", [last_slice(g, d, D_SMOOTH, D_SMOOTH + 8)]), g.weight("join_wd", wd)))
    g.output(g.add(logits, smooth), "outputs", "float32", ["Addoutputs_dim_0", "Addoutputs_dim_1", "Addoutputs_dim_2", width])
    return g.model({}, doc="Parakeet TDT tiny test joiner (see encoder.onnx's doc string)")


def write(out_dir: str, enc: onnx.ModelProto, dec: onnx.ModelProto, join: onnx.ModelProto, tokens: list[str]) -> int:
    """The fp32 files, the int8 files (encoder uint8, decoder/joiner int8 weights), tokens.txt; returns MatMuls quantized."""
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    for name, m, wt in (("encoder", enc, "uint8"), ("decoder", dec, "int8"), ("joiner", join, "int8")):
        q, k = quantize_model(onnx.ModelProto.FromString(m.SerializeToString()), wt, per_channel=False)
        n += k
        save(q, os.path.join(out_dir, f"{name}.int8.onnx"))
        if name == "encoder":
            save_external(m, os.path.join(out_dir, "encoder.onnx"), "encoder.weights")
        else:
            save(m, os.path.join(out_dir, f"{name}.onnx"))
    TK.write_plain(os.path.join(out_dir, "tokens.txt"), tokens)
    return n


def tiny(out_dir: str) -> int:
    tok, piece_ids, second = vocabulary()
    V1 = len(tok)                      # 1025 with <blk>
    return write(out_dir, encoder(piece_ids, second, V1), decoder(V1), joiner(V1 - 1), tok)
