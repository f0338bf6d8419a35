"""Synthesise the default model's training and test data with espeak-ng.

Train and test never share a sentence (textgen.is_test_sentence) nor an
(accent, variant) voice combination (TEST_VOICES). Output: shards of
features (Kaldi fbank, 80 mel, float16) + labels as .npz, and for the test set
also 16 kHz WAV files and a manifest, so the TypeScript engine can be scored.

Run with Debian's interpreter: /usr/bin/python3 training/synth.py --help
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import subprocess
import wave

import numpy as np

import textgen

ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "adam", "Alex", "Andy",
            "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward",
            "Gene", "iven", "iven2", "iven3", "john", "linda", "Lee", "max", "Michael", "Mike",
            "norbert", "paul", "pablo", "quincy", "rob", "robert", "steph", "steph2", "travis",
            "victor", "zac", "grandpa", "grandma", "shelby", "sandro", "Jacky", "marcelo"]
# Held-out voices: every accent paired with two variants it never has in training,
# plus the variants "steph3" and "Denis" which never appear in training at all.
_rng = random.Random(1234)
TEST_VOICES = sorted({(a, v) for a in ACCENTS for v in _rng.sample(VARIANTS, 2)}
                     | {(a, "steph3") for a in ACCENTS} | {(a, "Denis") for a in ACCENTS})
TEST_SET = set(TEST_VOICES)
TRAIN_VOICES = [(a, v) for a in ACCENTS for v in VARIANTS if (a, v) not in TEST_SET]

SR = 16000


def espeak(text: str, voice: tuple[str, str], speed: int, pitch: int) -> np.ndarray:
    out = subprocess.run(["espeak-ng", "-v", f"{voice[0]}+{voice[1]}", "-s", str(speed),
                          "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    x = pcm.astype(np.float32) / 32768.0
    return resample(x, rate, SR)


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    import torch
    try:
        import torchaudio.functional as F
    except ImportError:  # a machine whose torchaudio lacks it: polyphase resampling instead
        from math import gcd
        from scipy.signal import resample_poly
        g = gcd(src, dst)
        return resample_poly(x, dst // g, src // g).astype(np.float32)
    return F.resample(torch.from_numpy(x), src, dst).numpy()


def augment(x: np.ndarray, rng: np.random.Generator, clean: bool) -> np.ndarray:
    lead, tail = rng.uniform(0.05, 0.5, size=2)
    x = np.concatenate([np.zeros(int(lead * SR), np.float32), x, np.zeros(int(tail * SR), np.float32)])
    if not clean and rng.random() < 0.35:  # reverb: exponentially decaying noise impulse response
        rt60 = rng.uniform(0.1, 0.6)
        n = int(rt60 * SR)
        t = np.arange(n) / SR
        ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
        ir[0] = 1.0
        ir /= np.sqrt((ir ** 2).sum())
        x = np.convolve(x, ir)[: len(x)].astype(np.float32)
    if not clean and rng.random() < 0.6:  # noise: white, pink-ish or brown at 5..40 dB SNR
        kind = rng.integers(3)
        noise = rng.standard_normal(len(x)).astype(np.float32)
        if kind == 1:
            noise = np.convolve(noise, np.ones(4, np.float32) / 4, mode="same")
        elif kind == 2:
            noise = np.cumsum(noise).astype(np.float32)
            noise -= np.convolve(noise, np.ones(801, np.float32) / 801, mode="same")
        snr = rng.uniform(5, 40)
        ps = float((x ** 2).mean()) + 1e-9
        pn = float((noise ** 2).mean()) + 1e-9
        x = x + noise * np.sqrt(ps / pn / 10 ** (snr / 10))
    peak = float(np.abs(x).max()) + 1e-9
    gain_db = rng.uniform(-25, -1)
    return (x / peak * 10 ** (gain_db / 20)).astype(np.float32)


def fbank(x: np.ndarray) -> np.ndarray:
    """The front-end of docs/model-contracts.md (FunASR's WavFrontend settings)."""
    import torch
    try:
        import torchaudio.compliance.kaldi as kaldi
    except ImportError:  # torchaudio without its Kaldi module (it was slated for removal)
        return kaldi_fbank(x)
    wav = torch.from_numpy(x).unsqueeze(0) * 32768.0
    return kaldi.fbank(wav, num_mel_bins=80, frame_length=25, frame_shift=10, dither=0.0,
                       energy_floor=0.0, window_type="hamming", sample_frequency=SR,
                       snip_edges=True).numpy()


@functools.lru_cache(maxsize=1)
def _mel_banks() -> np.ndarray:
    """Kaldi's triangular mel filters, [80, 257] (the Nyquist bin weighs zero)."""
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
    lo, hi = mel(20.0), mel(SR / 2)
    delta = (hi - lo) / 81
    m = mel(np.arange(256) * SR / 512)
    left = lo + np.arange(80)[:, None] * delta
    banks = np.maximum(0.0, np.minimum((m - left) / delta, (left + 2 * delta - m) / delta))
    return np.pad(banks, ((0, 0), (0, 1)))


def kaldi_fbank(x: np.ndarray) -> np.ndarray:
    """The same features as torchaudio's Kaldi fbank with fbank()'s settings (25 ms
    Hamming frames every 10 ms, DC removal, pre-emphasis 0.97, 512-point power
    spectrum, 80 Kaldi mel bins from 20 Hz to Nyquist, natural log), in numpy."""
    wav = x.astype(np.float64) * 32768.0
    if len(wav) < 400:
        return np.zeros((0, 80), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(wav, 400)[::160].copy()
    frames -= frames.mean(1, keepdims=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
    frames[:, 0] -= 0.97 * frames[:, 0]
    frames *= np.hamming(400)
    power = np.abs(np.fft.rfft(frames, 512)) ** 2
    return np.log(np.maximum(power @ _mel_banks().T, np.finfo(np.float32).eps)).astype(np.float32)


def utterance(seed: int, sentences: list[str], voices: list[tuple[str, str]], clean: bool):
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    text = textgen.numbers_sentence(rng) if rng.random() < 0.12 else rng.choice(sentences)
    voice = rng.choice(voices)
    speed = rng.randint(120, 210)
    pitch = rng.randint(15, 85)
    audio = augment(espeak(text, voice, speed, pitch), nrng, clean)
    meta = {"text": text, "voice": f"{voice[0]}+{voice[1]}", "speed": speed, "pitch": pitch, "seed": seed}
    return audio, meta


def write_wav(path: str, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def make_shard(args: tuple[str, int, int, list[str]]) -> str:
    out_dir, shard, size, sentences = args
    path = os.path.join(out_dir, f"train-{shard:05d}.npz")
    if os.path.exists(path):
        return path
    feats, labels = [], []
    for i in range(size):
        audio, meta = utterance(1_000_000 + shard * 10_000 + i, sentences, TRAIN_VOICES, clean=False)
        feats.append(fbank(audio).astype(np.float16))
        labels.append(np.asarray(textgen.encode(meta["text"]), np.int16))
    tmp = path + ".tmp.npz"
    np.savez(tmp, feats=np.array(feats, dtype=object), labels=np.array(labels, dtype=object))
    os.replace(tmp, path)
    return path


def make_test(out_dir: str, count: int, sentences: list[str], name: str = "test", first_seed: int = 0) -> None:
    wav_dir = os.path.join(out_dir, name)
    prefix = "heldout" if name == "test" else name
    os.makedirs(wav_dir, exist_ok=True)
    rows = []
    for i in range(count):
        # Every fourth test utterance is clean (no noise/reverb), the rest augmented like training.
        audio, meta = utterance(first_seed + i, sentences, TEST_VOICES, clean=(i % 4 == 0))
        file = f"{prefix}-{i:04d}.wav"
        write_wav(os.path.join(wav_dir, file), audio)
        rows.append({"file": file, **meta, "clean": i % 4 == 0, "duration": len(audio) / SR})
    with open(os.path.join(wav_dir, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="training/data")
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--first-shard", type=int, default=0)
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--test", type=int, default=300, help="held-out utterances (0: none)")
    ap.add_argument("--dev", type=int, default=0,
                    help="utterances for a dev set in <out>/dev: held-out voices and sentences like the "
                         "test set, other seeds; for tuning decoder weights without touching the test set")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    all_sentences = textgen.fortune_sentences()
    train = [s for s in all_sentences if not textgen.is_test_sentence(s)]
    test = [s for s in all_sentences if textgen.is_test_sentence(s)]
    with open(os.path.join(args.out, "split.json"), "w") as f:
        json.dump({"train_sentences": len(train), "test_sentences": len(test),
                   "test_voices": [f"{a}+{v}" for a, v in TEST_VOICES],
                   "train_voices": len(TRAIN_VOICES)}, f, indent=1)
    if args.test:
        make_test(args.out, args.test, test)
    if args.dev:
        make_test(args.out, args.dev, test, name="dev", first_seed=500_000)
    jobs = [(args.out, s, args.shard_size, train) for s in range(args.first_shard, args.first_shard + args.shards)]
    if args.workers > 1:
        from multiprocessing import Pool
        with Pool(args.workers) as pool:
            for p in pool.imap_unordered(make_shard, jobs):
                print(p, flush=True)
    else:
        for j in jobs:
            print(make_shard(j), flush=True)


if __name__ == "__main__":
    main()
