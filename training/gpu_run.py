"""Continue training the default model on a lent GPU machine, within one call.

The machine has PyTorch but neither espeak-ng nor the fortune corpus, and only
~36 MB of files can travel beside the repository, so the data is made there:
a pool of CPU processes synthesises fresh shards (new seeds, same generator as
synth.py) while the GPU trains on whatever shards exist. Features are padded
on the CPU and augmented, frame-stacked and normalised on the GPU
(gpu_features; `--check` compares it with train.collate, and every run does so
first on its device).

    training/espeak_bundle.sh .gpu/espeak        # on this machine, once
    /usr/bin/python3 training/gpu_run.py --dump-sentences .gpu/sentences.txt
    # on the device (PATH gets the bundled espeak-ng):
    PATH=$PWD/.gpu/espeak/bin:$PATH python3 training/gpu_run.py --sentences .gpu/sentences.txt \\
        --init-onnx models/voxfleet-en-char-ctc/model.onnx --out $OUT --seconds 420

Writes snapshots (weights, CMVN, state; no optimizer, ~12 MB each) that
export.py reads, and a JSON log with the greedy CER on a monitoring set
(held-out voices and sentences, seeds of neither the test nor the dev set).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time

import numpy as np

import synth
import textgen

LFR_M, LFR_N = 7, 3
MON_SEED = 900_000  # test uses seeds 0.., dev 500 000..: the monitoring set uses neither
FIRST_SHARD = 1000  # default --first-shard: shards 0..79 exist on the development machine; these are new seeds


def dump_sentences(path: str) -> None:
    with open(path, "w") as f:
        for s in sorted(textgen.fortune_sentences()):
            f.write(s + "\n")


def _init_worker() -> None:
    import torch
    torch.set_num_threads(1)


def _shard_job(job):
    return synth.make_shard(job)


def start_synthesis(out_dir: str, sentences: list[str], workers: int, first: int, shards: int, shard_size: int):
    """Forks the pool before CUDA is touched in this process; returns a thread
    that writes the monitoring set first, then shards until `shards` exist."""
    from multiprocessing import get_context
    train = [s for s in sentences if not textgen.is_test_sentence(s)]
    test = [s for s in sentences if textgen.is_test_sentence(s)]
    pool = get_context("fork").Pool(workers, initializer=_init_worker)
    mon = pool.apply_async(synth.make_test, (out_dir, 200, test, "mon", MON_SEED))
    jobs = [(out_dir, first + k, shard_size, train) for k in range(shards)]

    def run():
        for p in pool.imap_unordered(_shard_job, jobs):
            print(f"synth {os.path.basename(p)}", flush=True)
        pool.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return pool, mon, t


def gpu_features(feats: list[np.ndarray], neg_mean, inv_std, device, rng: random.Random | None):
    """train.collate's features for a whole batch on `device`: optional SpecAugment
    (2 frequency masks of 0..9 bins, one time mask of 0..min(25, T/8+1) frames per
    150 frames, filled with the utterance mean), LFR 7/3 with edge replication,
    CMVN; rows past an utterance's length are zero."""
    import torch
    lens = np.array([len(f) for f in feats])
    b, tmax = len(feats), int(lens.max())
    raw = np.zeros((b, tmax, 80), np.float16)
    for i, f in enumerate(feats):
        raw[i, : len(f)] = f
    x = torch.from_numpy(raw).to(device, non_blocking=True).float()
    t_len = torch.from_numpy(lens).to(device)
    valid = torch.arange(tmax, device=device)[None, :] < t_len[:, None]  # [B, T]
    if rng is not None:
        mean = (x * valid[..., None]).sum((1, 2)) / (t_len * 80)
        bins = torch.arange(80, device=device)
        spans = []
        for _ in range(b):
            ws = [rng.randint(0, 10) for _ in range(2)]
            starts = [rng.randint(0, 80 - w) for w in ws]
            spans.append([(s, s + w) for s, w in zip(starts, ws)])
        sp = torch.tensor(spans, device=device)  # [B, 2, 2]
        fmask = ((bins[None, None, :] >= sp[:, :, :1]) & (bins[None, None, :] < sp[:, :, 1:])).any(1)
        k_max = max(1, tmax // 150)
        tspans = np.zeros((b, k_max, 2), np.int64)
        for i, t in enumerate(lens.tolist()):
            for k in range(max(1, t // 150)):
                w = rng.randint(0, min(25, t // 8 + 1))
                s = rng.randint(0, max(0, t - w))
                tspans[i, k] = (s, s + w)
        ts = torch.from_numpy(tspans).to(device)
        frames = torch.arange(tmax, device=device)
        tmask = ((frames[None, None, :] >= ts[:, :, :1]) & (frames[None, None, :] < ts[:, :, 1:])).any(1)
        m = fmask[:, None, :] | tmask[:, :, None]
        x = torch.where(m, mean[:, None, None], x)
    out_len = (t_len + LFR_N - 1) // LFR_N
    o_max = int(out_len.max())
    idx = torch.arange(o_max, device=device)[:, None] * LFR_N + torch.arange(LFR_M, device=device)[None, :] \
        - (LFR_M - 1) // 2  # [O, M]
    idx = torch.minimum(idx.clamp(min=0)[None], (t_len - 1)[:, None, None])  # [B, O, M]
    stacked = x[torch.arange(b, device=device)[:, None, None], idx].reshape(b, o_max, LFR_M * 80)
    y = (stacked + torch.as_tensor(neg_mean, device=device)) * torch.as_tensor(inv_std, device=device)
    keep = torch.arange(o_max, device=device)[None, :] < out_len[:, None]
    return y * keep[..., None], out_len.to(torch.int32)


def check_features(device: str, n: int = 40) -> float:
    """Largest difference between gpu_features and train.collate (no augmentation)
    on random utterance lengths, edge cases included; raises if over 1e-4."""
    import torch
    import train as T
    r = np.random.default_rng(7)
    lengths = [1, 2, 3, 4, 7, 8, 9] + list(r.integers(10, 1500, n))
    feats = [(r.standard_normal((t, 80)) * 3 + 10).astype(np.float16) for t in lengths]
    neg_mean = (-r.standard_normal(560) - 10).astype(np.float32)
    inv_std = (1 / (r.random(560) + 0.5)).astype(np.float32)
    ref, ref_lens, _, _ = T.collate([(f, np.zeros(1, np.int16)) for f in feats], neg_mean, inv_std)
    got, got_lens = gpu_features(feats, neg_mean, inv_std, torch.device(device), None)
    if not torch.equal(ref_lens, got_lens.cpu()) or ref.shape != got.shape:
        raise SystemExit(f"feature check: lengths/shapes differ {ref.shape} vs {tuple(got.shape)}")
    diff = float((ref - got.cpu()).abs().max())
    if diff > 1e-4:
        raise SystemExit(f"feature check: max difference {diff}")
    aug, _ = gpu_features(feats, neg_mean, inv_std, torch.device(device), random.Random(3))
    if not bool(torch.isfinite(aug).all()) or float((aug.cpu() - got.cpu()).abs().max()) == 0.0:
        raise SystemExit("feature check: augmentation produced non-finite or unchanged features")
    try:  # synth.py's own fbank, the fallback where torchaudio lacks its Kaldi module
        import torchaudio.compliance.kaldi  # noqa: F401
    except ImportError:
        return diff
    wav = (r.standard_normal(16000 * 3) * 0.05).astype(np.float32)
    fb_diff = float(np.abs(synth.fbank(wav) - synth.kaldi_fbank(wav)).max())
    if fb_diff > 1e-3:
        raise SystemExit(f"feature check: synth.kaldi_fbank differs from torchaudio's by {fb_diff}")
    return max(diff, fb_diff)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare gpu_features with train.collate and exit")
    ap.add_argument("--dump-sentences", help="write the fortune sentences to this file and exit")
    ap.add_argument("--sentences", help="sentence file from --dump-sentences")
    ap.add_argument("--init-onnx", default="models/voxfleet-en-char-ctc/model.onnx")
    ap.add_argument("--out", required=not {"--dump-sentences", "--check"} & set(sys.argv))
    ap.add_argument("--data", default="/tmp/voxfleet-data")
    ap.add_argument("--seconds", type=float, default=420, help="wall-clock budget from start to the last snapshot")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--shards", type=int, default=200)
    ap.add_argument("--first-shard", type=int, default=FIRST_SHARD, help="shard numbers fix the seeds: "
                    "give each run its own range")
    ap.add_argument("--shard-size", type=int, default=400)
    ap.add_argument("--min-shards", type=int, default=14, help="shards to wait for before the first step")
    ap.add_argument("--max-frames", type=int, default=24000, help="padded LFR frames per batch")
    ap.add_argument("--lr", type=float, default=7e-4, help="peak learning rate after a 150-step re-warm-up")
    ap.add_argument("--anneal", type=float, default=0.5, help="fraction of the training time spent annealing")
    ap.add_argument("--snapshots", default="0.7,0.85,1.0", help="fractions of the training time to snapshot at")
    ap.add_argument("--eval-every", type=float, default=45, help="seconds between monitoring-set evaluations")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.dump_sentences:
        dump_sentences(args.dump_sentences)
        return
    if args.check:
        print(f"feature check on {args.device}: max difference {check_features(args.device):.2e}")
        return
    t0 = time.time()
    deadline = t0 + args.seconds
    os.makedirs(args.data, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    sentences = [l.strip() for l in open(args.sentences)] if args.sentences else textgen.fortune_sentences()
    pool, mon_job, synth_thread = start_synthesis(args.data, sentences, args.workers, args.first_shard, args.shards,
                                                    args.shard_size)

    import torch
    import torch.nn.functional as F
    import model as M
    import train as T
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dev = torch.device(args.device)
    print(f"feature check on {dev}: max difference {check_features(args.device):.2e}", flush=True)
    net = M.CharConformerCTC(len(textgen.VOCAB), dropout=0.0)
    neg_mean, inv_std, step0 = T.warm_start(net, args.init_onnx)
    net.to(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    print(f"device {dev} {torch.cuda.get_device_name(0) if dev.type == 'cuda' else ''} "
          f"torch {torch.__version__} workers {args.workers}", flush=True)

    mon_job.wait()
    mon_job.get()
    mon_rows = [json.loads(l) for l in open(os.path.join(args.data, "mon", "manifest.jsonl"))]
    mon = [(synth.fbank(T.read_wav(os.path.join(args.data, "mon", r["file"]))).astype(np.float16), r["text"])
           for r in mon_rows]

    def evaluate() -> tuple[float, float]:
        net.eval()
        pairs = []
        with torch.no_grad():
            for k in range(0, len(mon), 64):
                chunk = mon[k:k + 64]
                x, lens = gpu_features([f for f, _ in chunk], neg_mean, inv_std, dev, None)
                pairs += zip(T.greedy(net(x, lens).cpu(), lens.cpu()), [ref for _, ref in chunk])
        net.train()
        return T.error_rates(pairs)

    seen: dict = {}
    while len(T.load_shards(args.data, seen)) < args.min_shards * args.shard_size:
        if not synth_thread.is_alive():
            raise SystemExit("synthesis stopped before the first shards were written")
        time.sleep(1)
    t_train = time.time()
    train_s = deadline - t_train
    snaps = sorted(float(f) for f in args.snapshots.split(","))
    log: dict = {"start_step": step0, "evals": [], "snapshots": [], "args": vars(args),
                 "setup_seconds": round(t_train - t0, 1)}
    cer, wer = evaluate()
    log["evals"].append({"step": step0, "seconds": 0.0, "cer": round(cer, 4), "wer": round(wer, 4)})
    print(f"EVAL step {step0} cer {cer:.4f} wer {wer:.4f} (start, {t_train - t0:.0f}s setup)", flush=True)

    rng = random.Random(1)
    step = step0
    next_eval = time.time() + args.eval_every
    frames_seen = 0

    def save(frac: float) -> None:
        cer, wer = evaluate()
        el = time.time() - t_train
        log["evals"].append({"step": step, "seconds": round(el, 1), "cer": round(cer, 4), "wer": round(wer, 4)})
        path = os.path.join(args.out, f"snap-{step}.pt")
        state = {"step": step, "best_cer": cer, "elapsed": el, "log": log["evals"], "gpu_run": True}
        # CMVN as plain lists: a pickled numpy array does not load under another numpy major version
        torch.save({"model": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "state": state,
                    "neg_mean": np.asarray(neg_mean).tolist(), "inv_std": np.asarray(inv_std).tolist(),
                    "config": {"vocab": textgen.VOCAB, "lfr_m": LFR_M, "lfr_n": LFR_N}}, path)
        log["snapshots"].append({"file": os.path.basename(path), "step": step, "fraction": frac,
                                 "cer": round(cer, 4)})
        print(f"SNAP {path} cer {cer:.4f} wer {wer:.4f}", flush=True)

    done = False
    while not done:
        utts = T.load_shards(args.data, seen)
        for b in T.batches(utts, args.max_frames, rng):
            frac = (time.time() - t_train) / train_s
            if snaps and frac >= snaps[0]:
                save(snaps.pop(0))
                if not snaps:
                    done = True
                    break
            lr = args.lr * min(1.0, (step + 1 - step0) / 150)
            if frac > 1 - args.anneal:
                lr *= max(0.02, (1 - frac) / args.anneal)
            for g in opt.param_groups:
                g["lr"] = lr
            x, lens = gpu_features([utts[i][0] for i in b], neg_mean, inv_std, dev, rng)
            y = torch.from_numpy(np.concatenate([utts[i][1] for i in b]).astype(np.int64)).to(dev)
            ylens = torch.tensor([len(utts[i][1]) for i in b], dtype=torch.int32, device=dev)
            logp = F.log_softmax(net(x, lens), -1).transpose(0, 1)
            loss = F.ctc_loss(logp, y, lens, ylens, blank=0, reduction="mean", zero_infinity=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            step += 1
            frames_seen += int(lens.sum())
            if step % 100 == 0:
                el = time.time() - t_train
                print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} utts {len(utts)} s {el:.0f} "
                      f"steps/s {(step - step0) / el:.1f}", flush=True)
            if time.time() >= next_eval:
                cer, wer = evaluate()
                log["evals"].append({"step": step, "seconds": round(time.time() - t_train, 1),
                                     "cer": round(cer, 4), "wer": round(wer, 4), "train_utts": len(utts)})
                print(f"EVAL step {step} cer {cer:.4f} wer {wer:.4f} utts {len(utts)}", flush=True)
                next_eval = time.time() + args.eval_every
    log.update(steps=step - step0, lfr_frames=frames_seen, train_seconds=round(time.time() - t_train, 1),
               train_utts=len(T.load_shards(args.data, seen)))
    with open(os.path.join(args.out, "gpu_run.json"), "w") as f:
        json.dump(log, f, indent=1)
    pool.terminate()
    print(f"done: {step - step0} steps, {frames_seen} LFR frames, {log['train_utts']} utterances", flush=True)


if __name__ == "__main__":
    main()
