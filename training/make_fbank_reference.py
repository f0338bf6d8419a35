#!/usr/bin/python3
"""Reference features for the TypeScript ASR front-end parity tests.

Regenerate (from the repository root) with Debian's Python, which has torch 1.13 and
torchaudio 0.13 (python3-torch, python3-torchaudio); a `python3` from another prefix
may not see them:

    /usr/bin/python3 training/make_fbank_reference.py

Reads fixtures/audio/en-funasr-example.wav (16 kHz mono s16) and writes, under
packages/asr/test/fixtures/fbank/:

  en-funasr-example.fbank.f32   log-mel fbank of the whole clip, frames x 80, float32 LE,
                                row-major, from
                                torchaudio.compliance.kaldi.fbank(wave * 32768,
                                  num_mel_bins=80, frame_length=25, frame_shift=10,
                                  dither=0.0, energy_floor=0.0, window_type='hamming',
                                  sample_frequency=16000, snip_edges=True)
                                (all other arguments at torchaudio's defaults), where
                                wave = int16 samples / 32768.
  en-funasr-example.lfr7-3.f32  LFR m=7 n=3 of the fbank of the first CROP_SAMPLES samples
                                (= the first 147 rows of the fbank above)
  en-funasr-example.lfr7-6.f32  LFR m=7 n=6 of the same 147 rows
  en-funasr-example.json        shapes, the exact call, versions, and the crop

The LFR stacking is a plain numpy port of FunASR's apply_lfr as described in
shared/docs/model-contracts.md: pad the start with (m-1)//2 copies of the first frame;
for i in range(ceil(T/n)) take padded rows [i*n, i*n+m) when m <= T_padded - i*n, else
the remaining rows followed by repeats of the last frame. The crop (23900 samples, ~1.5 s ->
147 fbank frames) is chosen so that both n=3 and n=6 exercise the end padding.
"""

import hashlib
import json
import math
import os
import sys
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WAV = os.path.join(ROOT, "fixtures", "audio", "en-funasr-example.wav")
OUT_DIR = os.path.join(ROOT, "packages", "asr", "test", "fixtures", "fbank")
STEM = "en-funasr-example"
CROP_SAMPLES = 23900

FBANK_KWARGS = dict(
    num_mel_bins=80,
    frame_length=25,
    frame_shift=10,
    dither=0.0,
    energy_floor=0.0,
    window_type="hamming",
    sample_frequency=16000,
    snip_edges=True,
)
CALL = (
    "torchaudio.compliance.kaldi.fbank(wave * 32768, num_mel_bins=80, frame_length=25, "
    "frame_shift=10, dither=0.0, energy_floor=0.0, window_type='hamming', "
    "sample_frequency=16000, snip_edges=True)"
)


def read_wav_s16_mono(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1, "expected mono"
        assert w.getsampwidth() == 2, "expected 16-bit PCM"
        assert w.getframerate() == 16000, "expected 16 kHz"
        raw = w.readframes(w.getnframes())
    pcm = np.frombuffer(raw, dtype="<i2")
    # same as torchaudio.load(normalize=True): int16 / 32768
    return pcm.astype(np.float32) / np.float32(32768.0)


def fbank(wave_f32):
    x = torch.from_numpy(wave_f32.copy()).unsqueeze(0)
    with torch.no_grad():
        feats = kaldi.fbank(x * 32768, **FBANK_KWARGS)
    return feats.numpy().astype(np.float32)


def apply_lfr(feats, m, n):
    """FunASR apply_lfr, written out with numpy."""
    t = feats.shape[0]
    t_lfr = int(math.ceil(t / n))
    left = (m - 1) // 2
    padded = np.concatenate([np.repeat(feats[:1], left, axis=0), feats], axis=0)
    t_padded = t + left
    rows = []
    for i in range(t_lfr):
        if m <= t_padded - i * n:
            rows.append(padded[i * n : i * n + m].reshape(-1))
        else:
            num_padding = m - (t_padded - i * n)
            frame = padded[i * n :].reshape(-1)
            for _ in range(num_padding):
                frame = np.concatenate([frame, padded[-1]])
            rows.append(frame)
    return np.stack(rows).astype(np.float32)


def write_f32(name, arr):
    path = os.path.join(OUT_DIR, name)
    np.ascontiguousarray(arr, dtype="<f4").tofile(path)
    return path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    wave_f32 = read_wav_s16_mono(WAV)

    full = fbank(wave_f32)
    write_f32(f"{STEM}.fbank.f32", full)

    crop = fbank(wave_f32[:CROP_SAMPLES])
    # snip_edges frames do not depend on the tail; only float32 BLAS blocking differs (~2e-6)
    crop_vs_full = float(np.abs(crop - full[: crop.shape[0]]).max())
    assert crop_vs_full < 1e-4, crop_vs_full
    # LFR input: the first crop-frames rows of the stored fbank, so the TS test can feed
    # the exact same float32 rows to its applyLfr and expect bit-identical output
    lfr_in = full[: crop.shape[0]]
    lfr = {}
    for m, n in ((7, 3), (7, 6)):
        out = apply_lfr(lfr_in, m, n)
        name = f"{STEM}.lfr{m}-{n}.f32"
        write_f32(name, out)
        lfr[f"{m}/{n}"] = dict(file=name, m=m, n=n, frames=int(out.shape[0]), dim=int(out.shape[1]))

    meta = dict(
        wav=os.path.relpath(WAV, ROOT),
        wav_sha256=sha256(WAV),
        samples=int(wave_f32.shape[0]),
        sample_rate=16000,
        fbank=dict(file=f"{STEM}.fbank.f32", frames=int(full.shape[0]), dim=int(full.shape[1]), dtype="float32-le"),
        call=CALL,
        wave="int16 samples / 32768 (as torchaudio.load normalizes)",
        lfr_input=dict(
            crop_samples=CROP_SAMPLES,
            frames=int(crop.shape[0]),
            dim=int(crop.shape[1]),
            source="first `frames` rows of the full-clip fbank",
            max_abs_diff_fbank_of_crop_vs_those_rows=crop_vs_full,
        ),
        lfr=lfr,
        lfr_definition="FunASR apply_lfr: left pad (m-1)//2 copies of frame 0, ceil(T/n) outputs, tail repeats last frame",
        versions=dict(torch=torch.__version__, torchaudio=torchaudio.__version__, numpy=np.__version__),
        generator="training/make_fbank_reference.py",
    )
    with open(os.path.join(OUT_DIR, f"{STEM}.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    sys.exit(main())
