"""VoxFleet's default acoustic model: a small conformer over characters, CTC.

Input: LFR-stacked fbank `x` [N, T, 560] (30 ms frames, LFR 7/3) + `x_length` [N].
Internally two LFR frames are folded into one 60 ms step (half the compute), and
the head emits two CTC frames per step, so `logits` is [N, T, V] at 30 ms again.
Padding is masked in attention and zeroed before every convolution, so an
utterance gives the same output alone or in a padded batch.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class FeedForward(nn.Module):
    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, d), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.heads = heads
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):  # mask [N, T] True = valid
        n, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.norm(x)).reshape(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d // h))
        scores = scores.masked_fill(~mask[:, None, None, :], -1.0e4)
        att = self.drop(torch.softmax(scores, dim=-1))
        out = torch.matmul(att, v).transpose(1, 2).reshape(n, t, d)
        return self.drop(self.proj(out))


class ConvModule(nn.Module):
    def __init__(self, d: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.norm2 = nn.LayerNorm(d)
        self.pw2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        y = F.glu(self.pw1(self.norm(x)), dim=-1)
        y = y * mask.unsqueeze(-1).to(y.dtype)
        y = self.dw(y.transpose(1, 2)).transpose(1, 2)
        y = self.pw2(F.silu(self.norm2(y)))
        return self.drop(y)


class ConformerBlock(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, kernel: int, dropout: float):
        super().__init__()
        self.ff1 = FeedForward(d, ff, dropout)
        self.att = SelfAttention(d, heads, dropout)
        self.conv = ConvModule(d, kernel, dropout)
        self.ff2 = FeedForward(d, ff, dropout)
        self.norm = nn.LayerNorm(d)

    def forward(self, x, mask):
        x = x + 0.5 * self.ff1(x)
        x = x + self.att(x, mask)
        x = x + self.conv(x, mask)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)


class CharConformerCTC(nn.Module):
    def __init__(self, vocab: int, feat_dim: int = 560, d: int = 144, layers: int = 6, heads: int = 4,
                 ff: int = 576, kernel: int = 15, dropout: float = 0.1):
        super().__init__()
        self.vocab = vocab
        self.inp = nn.Linear(2 * feat_dim, d)
        self.pos = nn.Conv1d(d, d, 15, padding=7, groups=d)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([ConformerBlock(d, heads, ff, kernel, dropout) for _ in range(layers)])
        self.out = nn.Linear(d, 2 * vocab)

    def forward(self, x, x_length):
        n, t, f = x.shape
        t2 = (t + 1) // 2
        x = F.pad(x, (0, 0, 0, t2 * 2 - t))
        x = x.reshape(n, t2, 2 * f)
        len2 = torch.div(x_length.to(torch.int64) + 1, 2, rounding_mode="floor")
        mask = torch.arange(t2, device=x.device)[None, :] < len2[:, None]
        h = self.inp(x) * mask.unsqueeze(-1).to(x.dtype)
        h = h + self.pos(h.transpose(1, 2)).transpose(1, 2)
        h = self.drop(h)
        for b in self.blocks:
            h = b(h, mask)
        logits = self.out(h).reshape(n, t2 * 2, self.vocab)
        return logits[:, :t]


def lfr(feats, m: int = 7, n: int = 3):
    """FunASR's low-frame-rate stacking (numpy, [T, D] -> [ceil(T/n), m*D])."""
    import numpy as np
    t, d = feats.shape
    out_t = -(-t // n)
    left = (m - 1) // 2
    padded = np.concatenate([np.repeat(feats[:1], left, 0), feats, np.repeat(feats[-1:], m, 0)], 0)
    idx = np.arange(out_t)[:, None] * n + np.arange(m)[None, :]
    return padded[idx].reshape(out_t, m * d)
