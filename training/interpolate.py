"""Interpolate a fine-tuned checkpoint with the model it started from, in weight
space (WiSE-FT): weights = w * fine-tuned + (1 - w) * base. Trades the new
domain (real speech, many voices) against the old one (espeak-ng) without
training; choose w on a dev set, never on a test set.

/usr/bin/python3 training/interpolate.py --base-onnx models/voxfleet-en-char-ctc/model.onnx \\
    --ckpt training/runs/i15b/last.pt --weight 0.7 --out training/runs/i15b/wise-0.7.pt
"""
from __future__ import annotations

import argparse

import torch

import model as M
import textgen
import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-onnx", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--weight", type=float, required=True, help="share of the fine-tuned weights (0..1)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    base = M.CharConformerCTC(len(textgen.VOCAB))
    b_mean, b_std, b_step = train.warm_start(base, args.base_onnx)
    ck = torch.load(args.ckpt)
    if abs(ck["neg_mean"] - b_mean).max() > 1e-4 or abs(ck["inv_std"] - b_std).max() > 1e-4:
        raise SystemExit("the two models normalise their input differently (CMVN): not interpolable")
    w = args.weight
    own = base.state_dict()
    ck["model"] = {k: (w * v.double() + (1 - w) * own[k].double()).to(v.dtype) for k, v in ck["model"].items()}
    ck["state"] = dict(ck["state"], interpolated={"weight": w, "base_step": b_step})
    ck.pop("opt", None)
    torch.save(ck, args.out)
    print(f"{w} x step {ck['state']['step']} + {1 - w:.2f} x step {b_step} -> {args.out}")


if __name__ == "__main__":
    main()
