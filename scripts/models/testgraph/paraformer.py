"""Paraformer (offline, FunASR export funasr/models/paraformer/export_meta.py):
speech f32 [N,T,560], speech_lengths i32 [N] -> logits f32 [N,U,V] (log-softmax),
token_num i32 [N]; the timestamp variant (bicif_paraformer/export_meta.py) adds
us_alphas, us_cif_peak f32 [N,3T]. V = 8404 (paraformer-zh-2023-03-28's size).

Tiny graph: the LFR frames are cut into segments of 4 (240 ms). A segment with
valid frames whose mean p0 >= -0.6 is a token: one of 8 pieces (4 buckets of its
mean p0 x sign of its mean tilt; CJK characters, ASCII words and a `@@` piece).
Each row keeps its tokens in order, then `</s>`; U = the batch's largest
token_num = tokens + 1; rows after a row's `</s>` repeat `</s>`.
Timestamps: us_alphas = us_cif_peak = 1.0 at upsampled frame 12*s for each token
segment s (3 upsampled frames per LFR frame, 20 ms each) and once more after the
last token (the `</s>` peak, which sherpa-onnx drops), 0 elsewhere; so token k of
segment s starts at 0.24*s seconds."""
from __future__ import annotations

import os

import numpy as np

from . import common as C
from . import tokens as TK
from .builder import Graph, floats, save

SEG = 4          # LFR frames per token segment
UPSAMPLE = 3     # BiCIF upsampling: us_cif_peak index k is k x 20 ms
EOS = 2


def metadata(vocab: int) -> dict[str, str]:
    """What sherpa-onnx reads (offline-paraformer-model.cc:102-107) and the keys its
    add-model-metadata.py scripts write beside them."""
    neg_mean, inv_stddev = C.cmvn()
    return {
        "lfr_window_size": str(C.LFR_M),
        "lfr_window_shift": str(C.LFR_N),
        "neg_mean": floats(neg_mean),
        "inv_stddev": floats(inv_stddev),
        "model_type": "paraformer",
        "version": "1",
        "model_author": "damo",
        "vocab_size": str(vocab),
        "comment": "speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-pytorch",
    }


def tiny(out_dir: str, timestamps: bool) -> None:
    tok, piece_ids = TK.paraformer()
    V = len(tok)
    g = Graph("paraformer_tiny" + ("_ts" if timestamps else ""), opset=14)
    x = g.input("speech", "float32", ["batch_size", "feats_length", 560])
    lengths = g.input("speech_lengths", "int32", ["batch_size"])

    p0, tilt, _midlo, _p3, _p = C.scores(g, x, C.score_weights())
    mask = C.length_mask(g, lengths, x)
    # pad time to a multiple of SEG, then [N, S, SEG]
    t = g.squeeze(g.dim(x, 1), [0])
    s = g.op("Div", [g.add(t, g.const(SEG - 1, "int64")), g.const(SEG, "int64")])
    extra = g.sub(g.mul(s, g.const(SEG, "int64")), t)
    pads = g.op("Concat", [g.const([0, 0, 0], "int64"), g.unsqueeze(extra, [0])], axis=0)

    def segments(v: str) -> str:
        padded = g.op("Pad", [v, pads])
        return g.op("Reshape", [padded, g.op("Concat", [g.const([0], "int64"), g.unsqueeze(s, [0]), g.const([SEG], "int64")], axis=0)])

    m4 = segments(mask)
    count = g.reduce_sum(m4, [2])                                     # [N,S] valid frames per segment
    denom = g.op("Max", [count, g.const(1.0)])
    seg_p0 = g.div(g.reduce_sum(segments(g.mul(p0, mask)), [2]), denom)
    seg_tilt = g.div(g.reduce_sum(segments(g.mul(tilt, mask)), [2]), denom)
    has = g.op("Greater", [count, g.const(0.0)])
    kept = g.op("And", [has, C.ge(g, seg_p0, C.BLANK_EDGE)])         # [N,S] bool
    ids = C.frame_pieces(g, seg_p0, seg_tilt, g.const(piece_ids, "int64"), None, EOS, -1e30, C.P0_EDGES)

    # kept segments first, in order: sort keys index + S * (not kept)
    seg_idx = g.op("Range", [g.const(0, "int64"), s, g.const(1, "int64")])
    key = g.add(g.unsqueeze(seg_idx, [0]), g.mul(g.cast(g.op("Not", [kept]), "int64"), s))
    _vals, order = g.op("TopK", [g.cast(key, "float32"), g.unsqueeze(s, [0])], outputs=2, axis=1, largest=0, sorted=1)
    sorted_ids = g.op("GatherElements", [ids, order], axis=1)
    n_kept = g.reduce_sum(g.cast(kept, "int64"), [1])                  # [N]
    token_num = g.add(n_kept, g.const(1, "int64"))
    u = g.op("ReduceMax", [token_num], keepdims=1)                     # [1]
    # one more column so a row with every segment kept still has room for </s>
    eos_col = g.op("Expand", [g.const([[EOS]], "int64"), g.op("Concat", [g.dim(x, 0), g.const([1], "int64")], axis=0)])
    wide = g.op("Concat", [sorted_ids, eos_col], axis=1)
    rows = g.op("Slice", [wide, g.const([0], "int64"), u, g.const([1], "int64")])
    pos = g.op("Range", [g.const(0, "int64"), g.squeeze(u, [0]), g.const(1, "int64")])
    is_token = g.op("Less", [g.unsqueeze(pos, [0]), g.unsqueeze(n_kept, [1])])
    out_ids = C.pick(g, is_token, rows, EOS)
    onehot = g.op("OneHot", [out_ids, g.const([V], "int64"), g.const([0.0, C.LOGIT_SCALE])], axis=-1)
    bias = np.random.default_rng(20230328).uniform(-0.5, 0.5, size=(V,)).astype(np.float32)
    logits = g.op("LogSoftmax", [g.add(onehot, g.weight("row_bias", bias))], axis=-1)
    g.output(logits, "logits", "float32", ["batch_size", "logits_length", V])
    g.output(g.cast(token_num, "int32"), "token_num", "int32", ["batch_size"])

    if timestamps:
        # upsampled frame k belongs to segment k // 12; a token's peak is its first frame
        per = SEG * UPSAMPLE
        k = g.op("Range", [g.const(0, "int64"), g.mul(t, g.const(UPSAMPLE, "int64")), g.const(1, "int64")])
        seg_of_k = g.op("Div", [k, g.const(per, "int64")])
        first = g.op("Equal", [g.op("Mod", [k, g.const(per, "int64")]), g.const(0, "int64")])
        kept_k = g.op("Gather", [kept, seg_of_k], axis=1)              # [N, 3T]
        starts = g.op("And", [kept_k, g.unsqueeze(first, [0])])
        # the closing peak: after the last token's segment, inside the row's valid frames
        seg1 = g.mul(g.cast(kept, "int64"), g.unsqueeze(g.add(seg_idx, g.const(1, "int64")), [0]))
        last_end = g.op("ReduceMax", [seg1], axes=[1], keepdims=0)         # [N]: 1 + last kept segment, 0 if none
        limit = g.sub(g.mul(g.cast(lengths, "int64"), g.const(UPSAMPLE, "int64")), g.const(1, "int64"))
        close = g.op("Min", [g.mul(last_end, g.const(per, "int64")), g.op("Max", [limit, g.const(0, "int64")])])
        closing = g.op("Equal", [g.unsqueeze(k, [0]), g.unsqueeze(close, [1])])
        peaks = g.cast(g.op("Or", [starts, closing]), "float32")
        g.output(peaks, "us_alphas", "float32", ["batch_size", "alphas_length"])
        g.output(g.op("Identity", [peaks]), "us_cif_peak", "float32", ["batch_size", "alphas_length"])

    os.makedirs(out_dir, exist_ok=True)
    save(g.model(metadata(V), doc=__doc__), os.path.join(out_dir, "model.onnx"))
    TK.write_plain(os.path.join(out_dir, "tokens.txt"), tok)
