"""What every tiny graph shares: per-frame scores of the features, buckets with
wide margins, masked means over the valid frames, CTC-style logits.

The scores are one MatMul of the (normalised) features with a fixed [D, 4]
matrix, so int8 quantization has a weight to quantize:
  p0    loudness: the mean of all normalised feature values of the frame
  tilt  mean of mel bins 0-19 minus mean of bins 60-79 (low minus high band)
  midlo mean of bins 20-59 minus mean of bins 0-19
  p3    mean of the middle stacked frame (LFR) or of the frame (NeMo)
Buckets are sums of comparisons (score >= edge): no float ever becomes an index
except through them, so a front end that differs by ~1e-4 only changes a
bucket when a score lies that close to an edge."""
from __future__ import annotations

import numpy as np

from .builder import Graph

# Per-mel-bin mean and standard deviation of the FunASR front end's log-mel
# (80 bins, x32768, Hamming, 25/10 ms) over the five clips in fixtures/audio,
# computed once with training/synth.py's kaldi_fbank; they are the CMVN of the
# LFR graphs (neg_mean = -mean, inv_stddev = 1/std, repeated for the 7 stacked frames).
FBANK_MEAN = [
    9.48, 9.65, 11.12, 12.33, 13.21, 13.83, 14.23, 14.27, 14.21, 14.11, 14.04, 14.05,
    14.2, 14.34, 14.41, 14.41, 14.28, 14.01, 13.99, 13.79, 13.75, 14.02, 13.84, 13.98,
    13.89, 14.01, 13.93, 13.92, 13.76, 13.88, 13.98, 14.0, 14.13, 14.14, 14.14, 14.19,
    14.13, 14.19, 14.29, 14.18, 14.16, 14.04, 14.13, 14.27, 14.37, 14.39, 14.49, 14.87,
    15.25, 15.38, 15.27, 15.18, 15.08, 15.0, 15.03, 15.04, 15.28, 15.44, 15.16, 15.04,
    15.0, 14.77, 14.53, 14.34, 14.02, 13.99, 13.85, 13.57, 13.72, 13.91, 14.21, 14.34,
    14.3, 14.28, 14.36, 14.28, 14.03, 13.77, 13.28, 12.54]
FBANK_STD = [
    3.97, 4.04, 4.39, 4.42, 4.55, 4.72, 4.89, 5.09, 5.18, 5.01, 4.87, 4.93, 5.08, 5.2,
    5.25, 5.28, 5.22, 5.13, 4.99, 4.93, 4.9, 4.84, 4.74, 4.72, 4.76, 4.71, 4.65, 4.56,
    4.42, 4.35, 4.21, 4.15, 4.27, 4.33, 4.37, 4.34, 4.28, 4.24, 4.29, 4.27, 4.21, 4.13,
    4.13, 4.14, 4.23, 4.36, 4.46, 4.55, 4.73, 4.78, 4.54, 4.36, 4.36, 4.5, 4.41, 4.37,
    4.55, 4.59, 4.33, 4.43, 4.61, 4.62, 4.56, 4.4, 4.21, 4.35, 4.32, 4.19, 4.38, 4.46,
    4.51, 4.57, 4.55, 4.54, 4.6, 4.65, 4.61, 4.61, 4.56, 4.59]
LFR_M = 7
LFR_N = 6
BLANK_EDGE = -0.6   # p0 below this: blank frame (LFR graphs)
P0_EDGES = [-0.1, 0.4, 0.9]  # three more edges: four speech buckets
LOGIT_SCALE = 24.0


def cmvn() -> tuple[np.ndarray, np.ndarray]:
    """(neg_mean, inv_stddev), 560 floats each, as float32."""
    mean = np.tile(np.asarray(FBANK_MEAN, np.float32), LFR_M)
    std = np.tile(np.asarray(FBANK_STD, np.float32), LFR_M)
    return (-mean).astype(np.float32), (1.0 / std).astype(np.float32)


def score_weights(bins: int = 80, stacked: int = LFR_M) -> np.ndarray:
    """[stacked*bins, 4] matrix of the four scores (module docstring)."""
    d = stacked * bins
    w = np.zeros((d, 4), np.float32)
    idx = np.arange(d) % bins
    w[:, 0] = 1.0 / d
    w[idx < 20, 1] = 1.0 / (20 * stacked)
    w[idx >= 60, 1] = -1.0 / (20 * stacked)
    w[(idx >= 20) & (idx < 60), 2] = 1.0 / (40 * stacked)
    w[idx < 20, 2] = -1.0 / (20 * stacked)
    mid = (np.arange(d) // bins) == stacked // 2
    w[mid, 3] = 1.0 / bins
    return w


def scores(g: Graph, x: str, w: np.ndarray, b: np.ndarray | None = None) -> list[str]:
    """x [N,T,D] -> the four scores, each [N,T], plus the [N,T,4] block (last)."""
    p = g.matmul(x, g.weight("score_w", w))
    if b is not None:
        p = g.add(p, g.weight("score_b", b.astype(np.float32)))
    cols = [g.squeeze(g.op("Slice", [p, g.const([k], "int64"), g.const([k + 1], "int64"), g.const([2], "int64")]), [2])
            for k in range(4)]
    return cols + [p]


def length_mask(g: Graph, lengths: str, like: str, time_axis: int = 1) -> str:
    """float [N,T]: 1 for frames before each row's length (lengths int32 or int64)."""
    t = g.squeeze(g.dim(like, time_axis), [0])
    rng = g.op("Range", [g.const(0, "int64"), t, g.const(1, "int64")])
    lens = g.unsqueeze(g.cast(lengths, "int64"), [1])
    return g.cast(g.op("Less", [g.unsqueeze(rng, [0]), lens]), "float32")


def masked_mean(g: Graph, v: str, mask: str) -> str:
    """[N,T] x [N,T] -> [N]: mean over the valid frames (0 where there are none)."""
    total = g.reduce_sum(g.mul(v, mask), [1])
    count = g.op("Max", [g.reduce_sum(mask, [1]), g.const(1.0)])
    return g.div(total, count)


def bucket(g: Graph, v: str, edges: list[float]) -> str:
    """int64: how many edges v reaches (v >= edge), same shape as v."""
    acc = None
    for e in edges:
        ge = g.cast(g.op("Not", [g.op("Less", [v, g.const(e)])]), "int64")
        acc = ge if acc is None else g.add(acc, ge)
    return acc


def pick(g: Graph, cond: str, a, b) -> str:
    """Where(cond, a, b) for int64 values or tensors."""
    a = g.const(a, "int64") if isinstance(a, int) else a
    b = g.const(b, "int64") if isinstance(b, int) else b
    return g.op("Where", [cond, a, b])


def ge(g: Graph, v: str, edge: float) -> str:
    return g.op("Not", [g.op("Less", [v, g.const(edge)])])


def frame_pieces(g: Graph, p0: str, tilt: str, table: str, group: str | None, blank: int,
                 blank_edge: float, edges: list[float]) -> str:
    """int64 [N,T] token per frame: blank below blank_edge, else table[group*8 + bucket*2 + (tilt >= 0)]."""
    b0 = bucket(g, p0, edges)
    b1 = g.cast(ge(g, tilt, 0.0), "int64")
    idx = g.add(g.mul(b0, g.const(2, "int64")), b1)
    if group is not None:
        idx = g.add(idx, g.mul(g.unsqueeze(group, [1]), g.const(8, "int64")))
    piece = g.op("Gather", [table, idx], axis=0)
    return pick(g, ge(g, p0, blank_edge), piece, blank)


def ctc_logits(g: Graph, ids: str, h: str, vocab: int, seed: int, scale: float = LOGIT_SCALE) -> str:
    """[N,T,V] float: scale at each row's id, plus a small smooth part h [N,T,4] @ W [4,V]
    (|W| <= 0.3, so it never moves the argmax; it gives the converters something continuous)."""
    onehot = g.op("OneHot", [ids, g.const([vocab], "int64"), g.const([0.0, scale])], axis=-1)
    rng = np.random.default_rng(seed)
    w = rng.uniform(-0.3, 0.3, size=(4, vocab)).astype(np.float32)
    return g.add(onehot, g.matmul(g.op("Tanh", [h]), g.weight("smooth_w", w)))
