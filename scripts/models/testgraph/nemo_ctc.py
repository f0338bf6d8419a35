"""NeMo hybrid TDT-CTC, CTC branch, as sherpa-onnx exports it
(scripts/nemo/fast-conformer-hybrid-transducer-ctc/export-onnx-ctc-non-streaming.py;
archive sherpa-onnx-nemo-parakeet_tdt_ctc_110m-en-36000-int8):
audio_signal f32 [N,80,T] (per-feature normalised log-mel), length i64 [N]
-> logprobs f32 [N,T',1025] with T' = ceil(ceil(ceil(T/2)/2)/2) = ceil(T/8), the length
rule of three stride-2 convolutions (kernel 3, padding 1). tokens.txt: 1024 pieces, then
<blk> 1024 (blank = the last id). sherpa-onnx decodes floor(length/8) frames of it.

Tiny graph: output frame j pools input frames [8j, 8j+8) that are within `length`:
no valid frame, or mean p0 < -0.3: <blk>; else one of 8 pieces (4 buckets of the mean
p0 at -0.3/0.2/0.6/1.0 x sign of the mean tilt), log-softmax over 1025."""
from __future__ import annotations

import os

from . import common as C
from . import tokens as TK
from .builder import Graph, save

SUB = 8
BLANK_EDGE = -0.3
EDGES = [0.2, 0.6, 1.0]
FEAT = 80


def metadata(vocab: int) -> dict[str, str]:
    """export-onnx-ctc-non-streaming.py:77-89 (vocab_size = pieces without the blank)."""
    return {
        "vocab_size": str(vocab),
        "normalize_type": "per_feature",
        "subsampling_factor": str(SUB),
        "model_type": "EncDecHybridRNNTCTCBPEModel",
        "version": "1",
        "model_author": "NeMo",
        "url": "https://huggingface.co/nvidia/parakeet-tdt_ctc-110m",
        "comment": "Only the CTC branch is exported",
        "doc": "",
    }


def tiny(out_dir: str) -> None:
    tok, piece_ids = TK.nemo()
    V1 = len(tok)            # 1025 with <blk>
    blank = V1 - 1
    g = Graph("nemo_ctc_tiny", opset=17)
    a = g.input("audio_signal", "float32", ["audio_signal_dynamic_axes_1", FEAT, "audio_signal_dynamic_axes_2"])
    length = g.input("length", "int64", ["length_dynamic_axes_1"])

    x = g.op("Transpose", [a], perm=[0, 2, 1])                              # [N,T,80]
    p0, tilt, _midlo, _p3, p = C.scores(g, x, C.score_weights(FEAT, 1))
    mask = C.length_mask(g, length, x)
    t = g.squeeze(g.dim(x, 1), [0])
    s = t
    for _ in range(3):                                                       # ceil(t/2), three times
        s = g.op("Div", [g.add(s, g.const(1, "int64")), g.const(2, "int64")])
    extra = g.sub(g.mul(s, g.const(SUB, "int64")), t)
    pads = g.op("Concat", [g.const([0, 0, 0], "int64"), g.unsqueeze(extra, [0])], axis=0)
    shape = g.op("Concat", [g.const([0], "int64"), g.unsqueeze(s, [0]), g.const([SUB], "int64")], axis=0)

    def pooled(v: str) -> str:
        return g.reduce_sum(g.op("Reshape", [g.op("Pad", [v, pads]), shape]), [2])

    count = pooled(mask)
    denom = g.op("Max", [count, g.const(1.0)])
    seg_p0 = g.div(pooled(g.mul(p0, mask)), denom)
    seg_tilt = g.div(pooled(g.mul(tilt, mask)), denom)
    ids = C.frame_pieces(g, seg_p0, seg_tilt, g.const(piece_ids, "int64"), None, blank, BLANK_EDGE, EDGES)
    ids = C.pick(g, g.op("Greater", [count, g.const(0.0)]), ids, blank)
    # smooth part: the pooled score block, [N,S,4]
    p4 = g.op("Transpose", [p], perm=[0, 2, 1])                              # [N,4,T]
    p4 = g.op("Pad", [p4, g.op("Concat", [g.const([0, 0, 0, 0, 0], "int64"), g.unsqueeze(extra, [0])], axis=0)])
    p4 = g.op("Reshape", [p4, g.op("Concat", [g.const([0, 4], "int64"), g.unsqueeze(s, [0]), g.const([SUB], "int64")], axis=0)])
    h = g.op("Transpose", [g.op("ReduceMean", [p4], axes=[3], keepdims=0)], perm=[0, 2, 1])
    logits = C.ctc_logits(g, ids, h, V1, seed=110)
    logprobs = g.op("LogSoftmax", [logits], axis=-1)
    g.output(logprobs, "logprobs", "float32", ["logprobs_dynamic_axes_1", "logprobs_dynamic_axes_2", V1])

    os.makedirs(out_dir, exist_ok=True)
    save(g.model(metadata(V1 - 1), doc=__doc__), os.path.join(out_dir, "model.onnx"))
    TK.write_plain(os.path.join(out_dir, "tokens.txt"), tok)
