"""The Fun-ASR-Nano CTC variant as sherpa-onnx exports it (scripts/sense-voice/export_onnx_nano.py):
x f32 [1,T,560] (only T dynamic) -> logits f32 [1,T,60515], raw CTC logits, blank = 60514
(the last id); no query positions, no CMVN (sherpa-onnx feeds the LFR features as they
are), base64 tokens.txt. sherpa-onnx takes it for this variant because `comment`
contains "Nano".

Tiny graph: the features are normalised inside the graph (folded into the score
weights), then every frame decodes like the SenseVoice graph's frames: p0 < -0.6
blank, else one of 8 pieces (4 p0 buckets x tilt sign), CJK and English mixed."""
from __future__ import annotations

import os

import numpy as np

from . import common as C
from . import tokens as TK
from .builder import Graph, save


def metadata() -> dict[str, str]:
    """export_onnx_nano.py:82-95 (version "1", comment from its default)."""
    return {
        "lfr_window_size": str(C.LFR_M),
        "lfr_window_shift": str(C.LFR_N),
        "normalize_samples": "0",
        "model_type": "sense_voice_ctc",
        "version": "1",
        "model_author": "FunAudioLLM",
        "maintainer": "k2-fsa",
        "vocab_size": str(TK.NANO_VOCAB),
        "blank_id": str(TK.NANO_VOCAB - 1),
        "comment": "FunAudioLLM/Fun-ASR-Nano-2512",
        "url": "https://huggingface.co/FunAudioLLM/Fun-ASR-Nano-2512",
    }


def tiny(out_dir: str) -> None:
    tok, piece_ids, _empty = TK.nano()
    V = TK.NANO_VOCAB
    blank = V - 1
    g = Graph("funasr_nano_ctc_tiny", opset=13)
    x = g.input("x", "float32", [1, "T", 560])
    neg_mean, inv_stddev = C.cmvn()
    w = C.score_weights()
    # scores of (x + neg_mean) * inv_stddev, folded into one MatMul + bias
    wf = (w * inv_stddev[:, None]).astype(np.float32)
    bias = (neg_mean * inv_stddev) @ w
    p0, tilt, _midlo, _p3, p = C.scores(g, x, wf, bias)
    frames = C.frame_pieces(g, p0, tilt, g.const(piece_ids, "int64"), None, blank, C.BLANK_EDGE, C.P0_EDGES)
    logits = C.ctc_logits(g, frames, p, V, seed=20251217)
    g.output(logits, "logits", "float32", [1, "T", V])

    os.makedirs(out_dir, exist_ok=True)
    save(g.model(metadata(), doc=__doc__), os.path.join(out_dir, "model.onnx"))
    TK.write_base64(os.path.join(out_dir, "tokens.txt"), tok)
