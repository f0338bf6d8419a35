"""Training shards from many TTS voices (voices.SHIPPED: RHVoice, flite,
festival, SVOX pico, espeak-ng with MBROLA) and from the real speech training
may use (the dctts-rerecorded clips that fixtures/real/split.jsonl does not
hold out), under the conditions of augment.py. Same shard format as synth.py
(float16 fbank + labels), so train.py reads them beside espeak-ng's shards.

/usr/bin/python3 training/synth_many.py --out training/data --shards 40 --shard-size 200 --workers 2
/usr/bin/python3 training/synth_many.py --out training/data --real-copies 12   # real shards only (--shards 0)

Sentences: the training split of the fortune corpus and generated numbers
(textgen, the same split as espeak-ng's data: test sentences never spoken),
plus, for 4 % of utterances, the prompts of the dctts clips training may use
(LJSpeech sentences that are not held out). Each shard is written once
(atomic rename) and skipped when it exists, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import numpy as np

import augment
import textgen
import voices

SR = 16000


def fbank(x: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """synth.fbank's features, with the mel filters warped by `warp` (VTLP)."""
    import torch
    import torchaudio.compliance.kaldi as kaldi
    wav = torch.from_numpy(x).unsqueeze(0) * 32768.0
    return kaldi.fbank(wav, num_mel_bins=80, frame_length=25, frame_shift=10, dither=0.0, energy_floor=0.0,
                       window_type="hamming", sample_frequency=SR, snip_edges=True, vtln_warp=warp).numpy()


def _save(path: str, feats: list, labels: list, metas: list) -> None:
    tmp = path + ".tmp.npz"
    np.savez(tmp, feats=np.array(feats, dtype=object), labels=np.array(labels, dtype=object))
    os.replace(tmp, path)
    with open(path[:-4] + ".jsonl", "w") as f:
        for m in metas:
            f.write(json.dumps(m) + "\n")


def make_shard(args: tuple[str, int, int, list[str], list[str]]) -> str:
    out_dir, shard, size, sentences, extra = args
    path = os.path.join(out_dir, f"train-m{shard:05d}.npz")
    if os.path.exists(path):
        return path
    feats, labels, metas = [], [], []
    pool: list[np.ndarray] = []
    for i in range(size):
        seed = 3_000_000 + shard * 10_000 + i
        rng = random.Random(seed)
        nrng = np.random.default_rng(seed)
        r = rng.random()
        text = rng.choice(extra) if extra and r < 0.04 else (textgen.numbers_sentence(rng) if r < 0.15 else rng.choice(sentences))
        voice = voices.SHIPPED[rng.randrange(len(voices.SHIPPED))]
        try:
            x, rate, prosody = voices.speak(voice, text, rng)
            x = augment.resample(x, rate, SR)
            if len(x) < SR // 4:
                continue
            clean = x.copy()
            x, warp, done = augment.augment(x, nrng, pool)
            pool = (pool + [clean])[-12:]
            f = fbank(x, warp)
        except Exception as e:  # one voice failing on one sentence must not stop the shard
            print(f"skip seed {seed} {voice.name}: {e}", file=sys.stderr, flush=True)
            continue
        feats.append(f.astype(np.float16))
        labels.append(np.asarray(textgen.encode(text), np.int16))
        metas.append({"seed": seed, "voice": voice.name, "text": text, **prosody, **done})
    _save(path, feats, labels, metas)
    return path


def make_test(out_dir: str, count: int, sentences: list[str], name: str = "test-many", first_seed: int = 8_000_000) -> None:
    """Held-out sentences spoken by the shipped voices in turn, as WAV + manifest for
    `npm run eval -- --heldout DIR`; every fourth clean, the rest augmented like training."""
    from synth import write_wav
    wav_dir = os.path.join(out_dir, name)
    os.makedirs(wav_dir, exist_ok=True)
    rows, pool = [], []
    for i in range(count):
        seed = first_seed + i
        rng = random.Random(seed)
        nrng = np.random.default_rng(seed)
        text = rng.choice(sentences)
        voice = voices.SHIPPED[i % len(voices.SHIPPED)]
        x, rate, prosody = voices.speak(voice, text, rng)
        x = augment.resample(x, rate, SR)
        clean = i % 4 == 0
        if clean:
            x = np.concatenate([np.zeros(SR // 5, np.float32), x, np.zeros(SR // 5, np.float32)]) * 0.5
            done = {}
        else:
            # VTLP lives in the fbank, which the engine computes itself: not applied to test audio
            pool.append(x)
            x, _, done = augment.augment(x, nrng, pool[-12:])
            done.pop("vtlp", None)
        file = f"{name}-{i:04d}.wav"
        write_wav(os.path.join(wav_dir, file), np.clip(x, -1, 1))
        rows.append({"file": file, "text": text, "voice": voice.name, "seed": seed, "clean": clean, **prosody, **done})
    with open(os.path.join(wav_dir, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def real_shard(out_dir: str, shared: str, copies: int) -> str:
    """Every trainable real clip once clean and `copies - 1` times augmented
    (a lighter chain than TTS: it is real speech already)."""
    import real_split
    path = os.path.join(out_dir, f"train-r{copies:03d}.npz")
    if os.path.exists(path):
        return path
    _, rows = real_split.split(shared)
    clips = [(augment.load(os.path.join(shared, r["file"])), textgen.normalise(r["text"]), r["file"]) for r in rows]
    feats, labels, metas = [], [], []
    pool = [c[0] for c in clips[:12]]
    for k in range(copies):
        for j, (x, text, file) in enumerate(clips):
            if text is None:
                continue
            nrng = np.random.default_rng(7_000_000 + k * 1000 + j)
            y, warp, done = x, 1.0, {}
            if k > 0:
                try:
                    y, warp, done = augment.augment(x, nrng, pool, strength=0.8)
                except Exception as e:  # an effect failing on one clip: keep it clean this time
                    print(f"augment failed for {file} copy {k}: {e}", file=sys.stderr, flush=True)
            feats.append(fbank(y, warp).astype(np.float16))
            labels.append(np.asarray(textgen.encode(text), np.int16))
            metas.append({"file": file, "copy": k, "text": text, **done})
    _save(path, feats, labels, metas)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="training/data")
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--first-shard", type=int, default=0)
    ap.add_argument("--shard-size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--test", type=int, default=0, help="many-voice held-out utterances in <out>/test-many (0: none)")
    ap.add_argument("--real-copies", type=int, default=0, help="also write the real-speech shard (0: none)")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "audio"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    if args.real_copies and os.path.isdir(args.shared):
        t0 = time.time()
        print(real_shard(args.out, args.shared, args.real_copies), f"{time.time() - t0:.0f} s", flush=True)
    all_sentences = textgen.fortune_sentences()
    train = [s for s in all_sentences if not textgen.is_test_sentence(s)]
    if args.test:
        make_test(args.out, args.test, [s for s in all_sentences if textgen.is_test_sentence(s)])
    extra = []
    if os.path.isdir(args.shared):
        import real_split
        extra = [t for t in (textgen.normalise(r["text"]) for r in real_split.split(args.shared)[1]) if t]
    jobs = [(args.out, s, args.shard_size, train, extra) for s in range(args.first_shard, args.first_shard + args.shards)]
    t0 = time.time()
    if args.workers > 1:
        from multiprocessing import Pool
        with Pool(args.workers) as pool:
            for p in pool.imap_unordered(make_shard, jobs):
                print(p, f"{time.time() - t0:.0f} s", flush=True)
    else:
        for j in jobs:
            print(make_shard(j), f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
