"""Train the default CTC model on the synthetic shards made by synth.py.

/usr/bin/python3 training/train.py --data training/data --run training/runs/v1 --minutes 120

Picks up new shards as synth.py writes them (each pass re-reads the directory),
evaluates greedy CER on the held-out set every --eval-every minutes, keeps
`last.pt` and `best.pt` (lowest held-out CER) in --run, and resumes from last.pt.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import time
import wave

import numpy as np
import torch
import torch.nn.functional as F

import model as M
import synth
import textgen

LFR_M, LFR_N = 7, 3


def load_shards(data_dir: str, seen: dict, skip: tuple[str, ...] = ()) -> list[tuple[np.ndarray, np.ndarray]]:
    for path in sorted(glob.glob(os.path.join(data_dir, "train-*.npz"))):
        if path.endswith(".tmp.npz") or path in seen or os.path.basename(path).startswith(skip):
            continue
        z = np.load(path, allow_pickle=True)
        seen[path] = list(zip(z["feats"], z["labels"]))
    return [u for utts in seen.values() for u in utts]


def cmvn_stats(utts) -> tuple[np.ndarray, np.ndarray]:
    acc = np.zeros(560)
    acc2 = np.zeros(560)
    n = 0
    for f, _ in utts[:3000]:
        x = M.lfr(f.astype(np.float32), LFR_M, LFR_N)
        acc += x.sum(0)
        acc2 += (x.astype(np.float64) ** 2).sum(0)
        n += len(x)
    mean = acc / n
    std = np.sqrt(np.maximum(acc2 / n - mean ** 2, 1e-8))
    return (-mean).astype(np.float32), (1.0 / std).astype(np.float32)


def spec_augment(f: np.ndarray, rng: random.Random) -> np.ndarray:
    f = f.copy()
    t, d = f.shape
    for _ in range(2):
        w = rng.randint(0, 10)
        s = rng.randint(0, d - w)
        f[:, s:s + w] = f.mean()
    for _ in range(max(1, t // 150)):
        w = rng.randint(0, min(25, t // 8 + 1))
        s = rng.randint(0, max(0, t - w))
        f[s:s + w, :] = f.mean()
    return f


def features(f16: np.ndarray, neg_mean, inv_std, rng=None) -> np.ndarray:
    f = f16.astype(np.float32)
    if rng is not None:
        f = spec_augment(f, rng)
    return (M.lfr(f, LFR_M, LFR_N) + neg_mean) * inv_std


def collate(batch, neg_mean, inv_std, rng=None):
    xs = [features(f, neg_mean, inv_std, rng) for f, _ in batch]
    lens = torch.tensor([len(x) for x in xs], dtype=torch.int32)
    x = torch.zeros(len(xs), int(lens.max()), 560)
    for i, a in enumerate(xs):
        x[i, : len(a)] = torch.from_numpy(a)
    ys = [torch.from_numpy(l.astype(np.int64)) for _, l in batch]
    ylens = torch.tensor([len(y) for y in ys], dtype=torch.int32)
    return x, lens, torch.cat(ys), ylens


def batches(utts, max_frames: int, rng: random.Random):
    """Length-bucketed batches capped by padded LFR frames."""
    order = sorted(range(len(utts)), key=lambda i: len(utts[i][0]) + rng.random() * 40)
    out, cur, longest = [], [], 0
    for i in order:
        t = len(utts[i][0]) // LFR_N + 1
        if cur and max(longest, t) * (len(cur) + 1) > max_frames:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, t)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def greedy(logits: torch.Tensor, lens) -> list[str]:
    ids = logits.argmax(-1)
    texts = []
    for row, n in zip(ids, lens):
        prev, chars = 0, []
        for k in row[: int(n)].tolist():
            if k != prev and k != 0:
                chars.append(textgen.VOCAB[k])
            prev = k
        texts.append(" ".join("".join(chars).split()))
    return texts


def edit_distance(a, b) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def read_wav(path: str) -> np.ndarray:
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def load_test(data_dir: str):
    rows = [json.loads(l) for l in open(os.path.join(data_dir, "test", "manifest.jsonl"))]
    return [(synth.fbank(read_wav(os.path.join(data_dir, "test", r["file"]))).astype(np.float16), r["text"]) for r in rows]


def error_rates(pairs) -> tuple[float, float]:
    """(CER, WER) over (hypothesis, reference) pairs."""
    errs = chars = werrs = words = 0
    for h, ref in pairs:
        errs += edit_distance(h, ref)
        chars += len(ref)
        werrs += edit_distance(h.split(), ref.split())
        words += len(ref.split())
    return errs / chars, werrs / words


def evaluate(net, test, neg_mean, inv_std) -> tuple[float, float]:
    net.eval()
    pairs = []
    with torch.no_grad():
        for k in range(0, len(test), 32):
            chunk = test[k:k + 32]
            x, lens, _, _ = collate([(f, np.zeros(1, np.int16)) for f, _ in chunk], neg_mean, inv_std)
            pairs += zip(greedy(net(x, lens), lens), [ref for _, ref in chunk])
    net.train()
    return error_rates(pairs)


def warm_start(net, path: str):
    """Loads weights (exported without constant folding, so initializers keep
    parameter names), CMVN and the training step from an exported ONNX model."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    own = net.state_dict()
    missing = [k for k in own if k not in weights]
    if missing:
        raise SystemExit(f"{path} lacks parameters {missing[:5]}... (exported with constant folding?)")
    net.load_state_dict({k: weights[k] for k in own})
    meta = {p.key: p.value for p in m.metadata_props}
    neg_mean = np.array([float(v) for v in meta["neg_mean"].split(",")], np.float32)
    inv_std = np.array([float(v) for v in meta["inv_stddev"].split(",")], np.float32)
    print(f"warm start from {path} at step {meta.get('training_step')}", flush=True)
    return neg_mean, inv_std, int(meta.get("training_step", "0"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="training/data")
    ap.add_argument("--run", default="training/runs/v1")
    ap.add_argument("--minutes", type=float, default=120)
    ap.add_argument("--max-frames", type=int, default=7000)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--eval-every", type=float, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--anneal-minutes", type=float, default=0,
                    help="decay the learning rate linearly to zero over the last N minutes")
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="dropout in every block (0 trains ~1.45x faster per step; use it while underfitting)")
    ap.add_argument("--rewarm", action="store_true",
                    help="when resuming last.pt, ramp the learning rate up again over 100 steps")
    ap.add_argument("--finetune-lr", type=float, default=0,
                    help="a constant learning rate (after the re-warm-up, before the anneal) instead of the "
                         "inverse-sqrt schedule: for fine-tuning a warm-started model")
    ap.add_argument("--skip-shards", default="",
                    help="comma list of shard name prefixes to leave out, e.g. train-r (real speech), train-m (many voices)")
    ap.add_argument("--init-onnx", help="warm start from an exported fp32 model (weights, CMVN, step) "
                    "when the run has no last.pt, e.g. models/voxfleet-en-char-ctc/model.onnx")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = random.Random(0)
    os.makedirs(args.run, exist_ok=True)
    seen: dict = {}
    skip = tuple(p for p in args.skip_shards.split(",") if p)
    utts = load_shards(args.data, seen, skip)
    test = load_test(args.data)
    net = M.CharConformerCTC(len(textgen.VOCAB), dropout=args.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    state = {"step": 0, "best_cer": 1.0, "elapsed": 0.0, "log": []}
    last = os.path.join(args.run, "last.pt")
    if os.path.exists(last):
        ck = torch.load(last)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        neg_mean, inv_std = ck["neg_mean"], ck["inv_std"]
        if args.rewarm:
            state["restart_step"] = state["step"]
    elif args.init_onnx:
        neg_mean, inv_std, step = warm_start(net, args.init_onnx)
        state["step"] = step
        state["restart_step"] = step
    else:
        neg_mean, inv_std = cmvn_stats(utts)
    print(f"params {sum(p.numel() for p in net.parameters())} utts {len(utts)} test {len(test)}", flush=True)
    start = time.time() - state["elapsed"]
    next_eval = time.time() + args.eval_every * 60

    def save(path):
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "state": state,
                    "neg_mean": neg_mean, "inv_std": inv_std,
                    "config": {"vocab": textgen.VOCAB, "lfr_m": LFR_M, "lfr_n": LFR_N}}, path + ".tmp")
        os.replace(path + ".tmp", path)

    done = False
    while not done:
        utts = load_shards(args.data, seen, skip)
        for b in batches(utts, args.max_frames, rng):
            x, lens, y, ylens = collate([utts[i] for i in b], neg_mean, inv_std, rng)
            s = state["step"]
            lr = args.finetune_lr or args.lr * min((s + 1) / args.warmup, math.sqrt(args.warmup / (s + 1)))
            left = args.minutes * 60 - state["elapsed"]
            if args.anneal_minutes > 0 and left < args.anneal_minutes * 60:
                lr *= max(0.02, left / (args.anneal_minutes * 60))
            if "restart_step" in state:  # short re-warm-up: the optimizer state starts empty
                lr *= min(1.0, (s + 1 - state["restart_step"]) / 100)
            for g in opt.param_groups:
                g["lr"] = lr
            logp = F.log_softmax(net(x, lens), -1).transpose(0, 1)
            loss = F.ctc_loss(logp, y, lens, ylens, blank=0, reduction="mean", zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            state["step"] += 1
            state["elapsed"] = time.time() - start
            if state["step"] % 25 == 0:
                print(f"step {state['step']} loss {loss.item():.3f} lr {lr:.2e} utts {len(utts)} "
                      f"min {state['elapsed'] / 60:.1f}", flush=True)
            if time.time() >= next_eval or state["elapsed"] >= args.minutes * 60:
                cer, wer = evaluate(net, test, neg_mean, inv_std)
                state["log"].append({"step": state["step"], "minutes": round(state["elapsed"] / 60, 1),
                                     "cer": round(cer, 4), "wer": round(wer, 4), "train_utts": len(utts)})
                print(f"EVAL step {state['step']} cer {cer:.4f} wer {wer:.4f}", flush=True)
                if cer < state["best_cer"]:
                    state["best_cer"] = cer
                    save(os.path.join(args.run, "best.pt"))
                save(last)
                next_eval = time.time() + args.eval_every * 60
                if state["elapsed"] >= args.minutes * 60:
                    done = True
                    break


if __name__ == "__main__":
    main()
