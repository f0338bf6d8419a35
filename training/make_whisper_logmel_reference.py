#!/usr/bin/python3
"""Reference features for the TypeScript Whisper front-end parity test
(packages/asr/test/frontend-whisper.test.ts).

Regenerate (from the repository root) with Debian's Python (torch 1.13, torchaudio 0.13):

    /usr/bin/python3 training/make_whisper_logmel_reference.py

What is computed: the Whisper log-mel sherpa-onnx computes for its Whisper export
(offline-stream.cc Impl(WhisperTag): samples in [-1, 1], not scaled; kaldi-native-fbank's
WhisperFeatureComputer, whisper-feature.cc: 25 ms / 10 ms frames, dither 0, no
pre-emphasis, no DC removal, periodic Hann window, round_to_power_of_two false (a 400-point
FFT), snip_edges false; MelBanks with is_librosa = true, low_freq 0, high_freq = Nyquist:
librosa's Slaney mel filterbank over all 201 bins; mel energies, no log), then sherpa-onnx's
NormalizeWhisperFeatures (math.cc): log10(max(x, 1e-10)), floored at the utterance's
maximum - 8, then (x + 4) / 4, over the real frames only.

Note that this is not openai-whisper's own log_mel_spectrogram: torch.stft(center=True)
centres frame f on sample 160 f, kaldi-native-fbank's snip_edges=false on 160 f + 80.

  frames    torchaudio.compliance.kaldi._get_window(window_type='rectangular',
            snip_edges=False, remove_dc_offset=False, preemphasis_coefficient=0.0,
            padded_window_size=400, dither=0.0): torchaudio's Kaldi framing and reflection
  window    torch.hann_window(400, periodic=True) in float64, stored as float32
  spectrum  torch.fft.rfft(n=400) in float64, |X|^2
  mel bank  torchaudio.functional.melscale_fbanks(201, 0, 8000, n_mels, 16000,
            norm='slaney', mel_scale='slaney')
  log       log10(clamp(mel, 1e-10)); max(x, x.max() - 8); (x + 4) / 4

Reads fixtures/audio/en-funasr-example.wav (16 kHz mono s16) and writes, under
packages/asr/test/fixtures/whisper/ (float32 little-endian, time-major [frames, bins]):

  en-funasr-example.whisper80.f32   80 bins, the first CROP80 samples
  en-funasr-example.whisper128.f32  128 bins, the first CROP128 samples
  en-funasr-example.whisper80.transformers.f32  transformers.js's framing (the clip padded to 30 s,
                                    torch.stft center=True reflect, last frame dropped), first 800 of 3000 frames
  en-funasr-example.whisper.json    shapes, crops, the recipe, versions
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
OUT_DIR = os.path.join(ROOT, "packages", "asr", "test", "fixtures", "whisper")
STEM = "en-funasr-example"
CROP80 = 40000   # 250 frames, ending inside speech (reflected tail on a non-silent edge)
CROP128 = 24000  # 150 frames
SAMPLE_RATE = 16000
WINDOW = 400
SHIFT = 160


def read_wav_s16_mono(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == SAMPLE_RATE
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def mel_energies(wave_f32, n_mels):
    x = torch.from_numpy(wave_f32.copy())
    frames, _ = kaldi._get_window(
        x, padded_window_size=WINDOW, window_size=WINDOW, window_shift=SHIFT, window_type="rectangular",
        blackman_coeff=0.42, snip_edges=False, raw_energy=True, energy_floor=0.0, dither=0.0,
        remove_dc_offset=False, preemphasis_coefficient=0.0,
    )
    expected = (wave_f32.shape[0] + SHIFT // 2) // SHIFT
    assert frames.shape == (expected, WINDOW), frames.shape
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64).to(torch.float32)
    frames = (frames * window).to(torch.float64)
    spec = torch.fft.rfft(frames, n=WINDOW)
    power = spec.real.square() + spec.imag.square()
    bank = F.melscale_fbanks(WINDOW // 2 + 1, 0.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney")
    return (power @ bank.to(torch.float64)).numpy()


def normalize(mel):
    x = np.log10(np.maximum(mel, 1e-10))
    x = np.maximum(x, x.max() - 8.0)
    return ((x + 4.0) / 4.0).astype(np.float32)


def whisper_logmel(wave_f32, n_mels):
    """[frames, n_mels] float32: what sherpa-onnx feeds its Whisper encoder (before padding)."""
    return normalize(mel_energies(wave_f32, n_mels))


def transformers_logmel(wave_f32, n_mels, n_frames=3000):
    """transformers.js's / openai-whisper's: pad to 30 s, torch.stft(center=True, reflect), last frame dropped."""
    x = np.zeros(n_frames * SHIFT, np.float32)
    x[: min(len(wave_f32), len(x))] = wave_f32[: len(x)]
    window = torch.hann_window(WINDOW, periodic=True, dtype=torch.float64)
    stft = torch.stft(torch.from_numpy(x).to(torch.float64), WINDOW, SHIFT, window=window, center=True, pad_mode="reflect", return_complex=True)
    power = (stft.abs() ** 2)[:, :-1].T                                      # [frames, 201]
    bank = F.melscale_fbanks(WINDOW // 2 + 1, 0.0, SAMPLE_RATE / 2, n_mels, SAMPLE_RATE, norm="slaney", mel_scale="slaney").to(torch.float64)
    return normalize((power @ bank).numpy())


def write_f32(name, arr):
    np.ascontiguousarray(arr, dtype="<f4").tofile(os.path.join(OUT_DIR, name))
    return dict(file=name, frames=int(arr.shape[0]), bins=int(arr.shape[1]), dtype="float32-le", layout="time-major")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    wave_f32 = read_wav_s16_mono(WAV)
    with open(WAV, "rb") as f:
        wav_sha = hashlib.sha256(f.read()).hexdigest()
    files = {
        "whisper80": write_f32(f"{STEM}.whisper80.f32", whisper_logmel(wave_f32[:CROP80], 80)),
        "whisper128": write_f32(f"{STEM}.whisper128.f32", whisper_logmel(wave_f32[:CROP128], 128)),
        # the whole clip padded to 30 s; only the first 800 frames are stored (the rest is padding at the floor)
        "transformers80": write_f32(f"{STEM}.whisper80.transformers.f32", transformers_logmel(wave_f32, 80)[:800]),
    }
    meta = dict(
        wav=os.path.relpath(WAV, ROOT),
        wav_sha256=wav_sha,
        wave="int16 samples / 32768, not scaled further",
        crops=dict(whisper80=CROP80, whisper128=CROP128, transformers80=None),
        files=files,
        recipe=dict(
            framing="torchaudio.compliance.kaldi._get_window(window_size=400, window_shift=160, padded_window_size=400, "
            "window_type='rectangular', snip_edges=False, remove_dc_offset=False, preemphasis_coefficient=0.0, dither=0.0)",
            window="torch.hann_window(400, periodic=True, dtype=float64) -> float32",
            spectrum="torch.fft.rfft(n=400) in float64, real^2 + imag^2",
            mel="torchaudio.functional.melscale_fbanks(201, 0, 8000, n_mels, 16000, norm='slaney', mel_scale='slaney')",
            log="log10(max(x, 1e-10)); max(x, max(x) - 8); (x + 4) / 4",
        ),
        versions=dict(torch=torch.__version__, torchaudio=torchaudio.__version__, numpy=np.__version__),
        generator="training/make_whisper_logmel_reference.py",
    )
    with open(os.path.join(OUT_DIR, f"{STEM}.whisper.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    sys.exit(main())
