"""Average the weights of several checkpoints (e.g. the snapshots of the last
learning-rate anneal) into one checkpoint that export.py can read.

/usr/bin/python3 training/average.py --out training/runs/v2/avg.pt training/runs/v2/snap/step-*.pt
"""
from __future__ import annotations

import argparse

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("ckpts", nargs="+")
    args = ap.parse_args()
    cks = [torch.load(p) for p in args.ckpts]
    base = cks[-1]
    avg = {k: sum(c["model"][k].double() for c in cks) / len(cks) for k in base["model"]}
    base["model"] = {k: v.to(base["model"][k].dtype) for k, v in avg.items()}
    base["state"] = dict(base["state"], averaged=[c["state"]["step"] for c in cks])
    torch.save(base, args.out)
    print(f"averaged steps {base['state']['averaged']} -> {args.out}")


if __name__ == "__main__":
    main()
