"""Acoustic conditions for the many-voice training data (synth_many.py): one
random chain per utterance, drawn from a seeded generator so a shard can be
made again bit for bit.

- speed (resampling: tempo, pitch and formants together, Kaldi-style 0.9-1.1),
  tempo and pitch separately (sox `tempo`, `pitch`), and vocal-tract-length
  perturbation (a warp factor for the fbank's mel filters: `vtln_warp`,
  returned, applied by synth_many.fbank)
- channel: random high/low-pass and peaking EQ (sox), gain, rare clipping
- room: synthetic impulse responses (direct path, sparse early reflections,
  exponentially decaying tail whose high frequencies die faster), convolved by FFT
- noise: white/pink/brown, mains hum, and babble (3-7 other utterances of the
  pool mixed together) at 0-30 dB SNR
- telephone band (300-3400 Hz at 8 kHz, then back to 16 kHz) and lossy codecs
  through ffmpeg (mp3 16-64 kbit/s, opus 8-32 kbit/s, GSM 06.10 at 8 kHz)
"""
from __future__ import annotations

import subprocess

import numpy as np

SR = 16000


def _sox(x: np.ndarray, effects: list[str]) -> np.ndarray:
    if not effects:
        return x
    out = subprocess.run(["sox", "-q", "-t", "f32", "-r", str(SR), "-c", "1", "-", "-t", "f32", "-", *effects],
                         input=x.astype(np.float32).tobytes(), check=True, capture_output=True, timeout=60).stdout
    return np.frombuffer(out, np.float32).copy()


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x.astype(np.float32)
    out = subprocess.run(["sox", "-q", "-t", "f32", "-r", str(src), "-c", "1", "-", "-t", "f32", "-r", str(dst), "-",
                          "rate", "-v"], input=x.astype(np.float32).tobytes(), check=True, capture_output=True,
                         timeout=60).stdout
    return np.frombuffer(out, np.float32).copy()


def load(path: str) -> np.ndarray:
    """Any file ffmpeg reads, as 16 kHz mono float."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "f32le",
                          "-ar", str(SR), "-ac", "1", "pipe:1"], check=True, capture_output=True, timeout=120).stdout
    return np.frombuffer(out, np.float32).copy()


def codec(x: np.ndarray, kind: str, kbps: int) -> np.ndarray:
    """x through an encoder and back with ffmpeg (16 kHz float in and out)."""
    enc = {"mp3": ["-c:a", "libmp3lame", "-b:a", f"{kbps}k", "-f", "mp3"],
           "opus": ["-c:a", "libopus", "-b:a", f"{kbps}k", "-f", "ogg"],
           "gsm": ["-ar", "8000", "-c:a", "libgsm", "-f", "gsm"]}[kind]
    base = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    data = subprocess.run(base + ["-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "pipe:0", *enc, "pipe:1"],
                          input=x.astype(np.float32).tobytes(), check=True, capture_output=True, timeout=60).stdout
    dec_in = ["-f", "gsm", "-ar", "8000"] if kind == "gsm" else []
    out = subprocess.run(base + [*dec_in, "-i", "pipe:0", "-f", "f32le", "-ar", str(SR), "-ac", "1", "pipe:1"],
                         input=data, check=True, capture_output=True, timeout=60).stdout
    y = np.frombuffer(out, np.float32).copy()
    return y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n].astype(np.float32)


def room_ir(rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.9)
    n = int(min(rt60, 0.8) * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    # high frequencies decay faster: blend the tail with a running-mean (low-passed) copy, more so later
    k = 8
    smooth = np.convolve(tail, np.ones(k) / k, mode="same")
    w = np.minimum(1.0, t / rt60 * 2)
    tail = (1 - w) * tail + w * smooth * 2
    delay = int(rng.uniform(0.002, 0.02) * SR)
    ir = np.zeros(n + delay)
    ir[0] = 1.0
    for _ in range(rng.integers(3, 9)):  # early reflections
        d = int(rng.uniform(0.003, 0.05) * SR)
        ir[d] += rng.uniform(-0.7, 0.7)
    ir[delay:] += tail * rng.uniform(0.2, 0.8)
    return (ir / np.sqrt((ir ** 2).sum())).astype(np.float32)


def colored_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(4)
    noise = rng.standard_normal(n).astype(np.float32)
    if kind == 1:  # pink-ish
        noise = np.convolve(noise, np.ones(4, np.float32) / 4, mode="same")
    elif kind == 2:  # brown
        noise = np.cumsum(noise).astype(np.float32)
        noise -= np.convolve(noise, np.ones(801, np.float32) / 801, mode="same")
    elif kind == 3:  # mains hum with harmonics, under some white noise
        f0 = rng.choice([50.0, 60.0])
        t = np.arange(n) / SR
        hum = sum(rng.uniform(0.2, 1) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) for h in range(1, 8))
        noise = hum.astype(np.float32) + 0.05 * noise
    return noise


def babble(n: int, pool: list[np.ndarray], rng: np.random.Generator) -> np.ndarray | None:
    if len(pool) < 3:
        return None
    out = np.zeros(n, np.float32)
    for _ in range(rng.integers(3, 8)):
        src = pool[rng.integers(len(pool))]
        if len(src) < n:
            src = np.tile(src, n // len(src) + 1)
        start = rng.integers(0, len(src) - n + 1)
        seg = src[start:start + n]
        out += seg / (np.sqrt((seg ** 2).mean()) + 1e-6)
    return out


def mix(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    ps = float((x ** 2).mean()) + 1e-9
    pn = float((noise ** 2).mean()) + 1e-9
    return (x + noise * np.sqrt(ps / pn / 10 ** (snr_db / 10))).astype(np.float32)


def augment(x: np.ndarray, rng: np.random.Generator, pool: list[np.ndarray], strength: float = 1.0):
    """(augmented 16 kHz samples, vtln warp factor for the fbank, what was done).
    `strength` scales the probabilities (real speech gets a lighter chain)."""
    p = lambda q: rng.random() < q * strength  # noqa: E731
    done: dict = {}
    effects: list[str] = []
    if p(0.4):
        hp = int(rng.integers(50, 300))
        effects += ["highpass", str(hp)]
        done["highpass"] = hp
    if p(0.3):
        lp = int(rng.integers(3500, 7800))
        effects += ["lowpass", str(lp)]
        done["lowpass"] = lp
    if p(0.4):
        fc, g = int(rng.integers(200, 5000)), round(float(rng.uniform(-10, 10)), 1)
        effects += ["equalizer", str(fc), "1.0q", str(g)]
        done["eq"] = [fc, g]
    # filters first (at 16 kHz), then the changes of speed, which change the rate
    if p(0.5):
        f = float(rng.choice([0.9, 0.95, 1.05, 1.1]))
        effects += ["speed", f"{f}"]
        done["speed_factor"] = f
    if p(0.3):
        f = round(float(rng.uniform(0.85, 1.15)), 3)
        effects += ["tempo", "-s", f"{f}"]
        done["tempo"] = f
    if p(0.3):
        c = int(rng.integers(-300, 301))
        effects += ["pitch", str(c)]
        done["pitch_cents"] = c
    if effects:
        effects += ["rate", str(SR)]  # speed changes the rate: back to 16 kHz
        x = _sox(x, effects)
    lead, tail = rng.uniform(0.05, 0.6, size=2)
    x = np.concatenate([np.zeros(int(lead * SR), np.float32), x, np.zeros(int(tail * SR), np.float32)])
    if p(0.4):
        x = fft_convolve(x, room_ir(rng))[: len(x)]
        done["reverb"] = True
    if p(0.6):
        snr = float(rng.uniform(0, 30))
        noise = babble(len(x), pool, rng) if rng.random() < 0.35 else None
        done["noise"] = "babble" if noise is not None else "colored"
        if noise is None:
            noise = colored_noise(len(x), rng)
        x = mix(x, noise, snr)
        done["snr"] = round(snr, 1)
    peak = float(np.abs(x).max()) + 1e-9
    x = x / peak * 0.9
    if p(0.12):
        x = resample(_sox(x, ["sinc", "300-3400"]), SR, 8000)
        x = resample(x, 8000, SR)
        done["telephone"] = True
    if p(0.25):
        kind = str(rng.choice(["mp3", "opus", "gsm"]))
        kbps = int(rng.choice([16, 24, 32, 48, 64])) if kind == "mp3" else int(rng.choice([8, 12, 16, 24, 32]))
        x = codec(x, kind, kbps)
        done["codec"] = f"{kind}{'' if kind == 'gsm' else kbps}"
    gain_db = float(rng.uniform(-30, -1))
    x = x / (float(np.abs(x).max()) + 1e-9) * 10 ** (gain_db / 20)
    if p(0.05):
        x = np.clip(x * rng.uniform(2, 6), -10 ** (gain_db / 20), 10 ** (gain_db / 20))
        done["clipped"] = True
    warp = float(rng.uniform(0.88, 1.12)) if p(0.5) else 1.0
    if warp != 1.0:
        done["vtlp"] = round(warp, 3)
    return x.astype(np.float32), warp, done
