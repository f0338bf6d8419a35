#!/usr/bin/python3
"""Reference features for the TypeScript NeMo front-end parity test
(packages/asr/test/frontend-spec.test.ts).

Regenerate (from the repository root) with Debian's Python, which has torch 1.13 and
torchaudio 0.13 (apt-get install python3-torchaudio); a `python3` from another prefix
may not see them:

    /usr/bin/python3 training/make_nemo_logmel_reference.py

What is computed: the log-mel front-end sherpa-onnx's offline CTC recognizer configures
for NeMo models (sherpa-onnx offline-recognizer-ctc-impl.h Init; FeatureExtractorConfig
defaults in features.h; kaldi-native-fbank 1.22 does the work):

  samples as floats in [-1, 1] (not scaled by 32768), 25 ms / 10 ms frames,
  snip_edges=false (floor((N + 80) / 160) frames, frame f centred on 160 f + 80, samples
  outside the signal reflected), dither 0, no DC removal, Kaldi per-frame pre-emphasis
  0.97, periodic Hann window of 400 samples, zero-padded to a 512-point FFT, power
  spectrum, librosa's Slaney mel filterbank (Slaney scale, Slaney area norm, 0 Hz to
  Nyquist, all 257 bins), natural log floored at FLT_EPSILON; then per-feature
  normalisation over time: (x - mean) / (sqrt(population variance) + 1e-5)
  (sherpa-onnx math.cc NemoNormalizePerFeature).

torchaudio has no single call for this: its kaldi.fbank has no periodic Hann window and
no Slaney mel bank, and torchaudio.transforms.MelSpectrogram has no Kaldi framing
(reflected snip_edges=false frames, per-frame pre-emphasis). So the reference is
assembled from torchaudio's pieces:

  frames    torchaudio.compliance.kaldi._get_window(..., window_type='rectangular',
            snip_edges=False, remove_dc_offset=False, preemphasis_coefficient=0.97,
            dither=0.0) -- torchaudio's own Kaldi framing, reflection and pre-emphasis
            (a private helper of torchaudio 0.13), with a rectangular window so that the
            Hann window can be applied after it
  window    torch.hann_window(400, periodic=True) computed in float64 and stored as
            float32 (kaldi-native-fbank computes its window in double)
  spectrum  torch.fft.rfft(n=512), |X|^2, float32
  mel bank  torchaudio.functional.melscale_fbanks(257, 0, 8000, n_mels, 16000,
            norm='slaney', mel_scale='slaney') (torchaudio's port of librosa's filters)
  log       log(clamp(mel, min=FLT_EPSILON))
  norm      float64 mean / population variance per mel bin over the crop's frames

Reads fixtures/audio/en-funasr-example.wav (16 kHz mono s16) and writes, under
packages/asr/test/fixtures/nemo/ (float32 little-endian, time-major [frames, bins]):

  en-funasr-example.nemo80.logmel.f32  80-bin log-mel of the first CROP80 samples
  en-funasr-example.nemo80.norm.f32    the same, per-feature normalised
  en-funasr-example.nemo128.norm.f32   128-bin, normalised, first CROP128 samples
  en-funasr-example.nemo.json          shapes, crops, the recipe, versions
"""

import hashlib
import json
import os
import sys
import wave

import numpy as np
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WAV = os.path.join(ROOT, "fixtures", "audio", "en-funasr-example.wav")
OUT_DIR = os.path.join(ROOT, "packages", "asr", "test", "fixtures", "nemo")
STEM = "en-funasr-example"
# 40000 samples -> 250 frames, 16000 -> 100 frames; both crops end inside speech, so the
# reflected tail frames are exercised on a non-silent edge
CROP80 = 40000
CROP128 = 16000
SAMPLE_RATE = 16000
WINDOW = 400
SHIFT = 160
NFFT = 512
EPS = float(torch.finfo(torch.float32).eps)
NORM_EPS = 1e-5


def read_wav_s16_mono(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == SAMPLE_RATE
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def logmel(wave_f32, n_mels):
    x = torch.from_numpy(wave_f32.copy())
    frames, _ = kaldi._get_window(
        x,
        padded_window_size=NFFT,
        window_size=WINDOW,
        window_shift=SHIFT,
        window_type="rectangular",
        blackman_coeff=0.42,
        snip_edges=False,
        raw_energy=True,
        energy_floor=0.0,
        dither=0.0,
        remove_dc_offset=False,
        preemphasis_coefficient=0.97,
    )
    expected = (wave_f32.shape[0] + SHIFT // 2) // SHIFT
    assert frames.shape == (expected, NFFT), frames.shape
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64).to(torch.float32)
    frames = frames.clone()
    frames[:, :WINDOW] *= window
    spec = torch.fft.rfft(frames, n=NFFT)
    power = spec.real.square() + spec.imag.square()
    bank = F.melscale_fbanks(NFFT // 2 + 1, 0.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
    mel = power @ bank
    return torch.log(torch.clamp(mel, min=EPS)).numpy().astype(np.float32)


def per_feature(feats):
    x = feats.astype(np.float64)
    mean = x.mean(axis=0)
    var = np.maximum((x * x).mean(axis=0) - mean * mean, 0.0)
    return ((x - mean) / (np.sqrt(var) + NORM_EPS)).astype(np.float32)


def write_f32(name, arr):
    np.ascontiguousarray(arr, dtype="<f4").tofile(os.path.join(OUT_DIR, name))
    return dict(file=name, frames=int(arr.shape[0]), bins=int(arr.shape[1]), dtype="float32-le", layout="time-major")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    wave_f32 = read_wav_s16_mono(WAV)
    with open(WAV, "rb") as f:
        wav_sha = hashlib.sha256(f.read()).hexdigest()

    lm80 = logmel(wave_f32[:CROP80], 80)
    lm128 = logmel(wave_f32[:CROP128], 128)
    files = {
        "logmel80": write_f32(f"{STEM}.nemo80.logmel.f32", lm80),
        "norm80": write_f32(f"{STEM}.nemo80.norm.f32", per_feature(lm80)),
        "norm128": write_f32(f"{STEM}.nemo128.norm.f32", per_feature(lm128)),
    }
    meta = dict(
        wav=os.path.relpath(WAV, ROOT),
        wav_sha256=wav_sha,
        wave="int16 samples / 32768, not scaled further",
        crops=dict(logmel80=CROP80, norm80=CROP80, norm128=CROP128),
        files=files,
        recipe=dict(
            framing="torchaudio.compliance.kaldi._get_window(window_size=400, window_shift=160, padded_window_size=512, "
            "window_type='rectangular', snip_edges=False, remove_dc_offset=False, preemphasis_coefficient=0.97, dither=0.0)",
            window="torch.hann_window(400, periodic=True, dtype=float64) -> float32",
            spectrum="torch.fft.rfft(n=512), real^2 + imag^2",
            mel="torchaudio.functional.melscale_fbanks(257, 0, 8000, n_mels, 16000, norm='slaney', mel_scale='slaney')",
            log="log(clamp(mel, min=FLT_EPSILON))",
            normalize="per mel bin over the crop: (x - mean) / (sqrt(mean(x^2) - mean^2) + 1e-5), float64",
        ),
        versions=dict(torch=torch.__version__, torchaudio=torchaudio.__version__, numpy=np.__version__),
        generator="training/make_nemo_logmel_reference.py",
    )
    with open(os.path.join(OUT_DIR, f"{STEM}.nemo.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    sys.exit(main())
