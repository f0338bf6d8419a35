"""The English TTS voices of the default model's training data, their licences,
and one function that speaks a sentence with any of them.

Every engine is a Debian package (training/setup_voices.sh installs them, with
the contrib/non-free sources some need). `SHIPPED` voices are the ones whose
output may go into the model the project ships; the others are listed with
the reason they are left out. Each voice gets its own speed and pitch controls
where its engine has them (the augmentation adds tempo, pitch and formant
changes for every voice on top).

/usr/bin/python3 training/voices.py --check        # one sentence with every voice, timed
"""
from __future__ import annotations

import io
import os
import random
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Voice:
    name: str  # engine/voice
    engine: str
    arg: str  # the engine's name for the voice
    licence: str
    package: str
    shipped: bool = True
    why_not: str = ""


_MBROLA_TERMS = ("MBROLA database licence (Faculte Polytechnique de Mons / Babel Technologies): use with "
                 "the mbrola program permitted, the database may not be sold or incorporated into a sold "
                 "product; its synthesised output is not restricted, and no part of the database is in the model")

VOICES: list[Voice] = [
    *[Voice(f"espeak-ng/mb-{v}", "espeak-mbrola", f"mb-{v}", _MBROLA_TERMS + "; espeak-ng GPL-3+ (program only)",
            f"espeak-ng, mbrola, mbrola-{v}") for v in ("us1", "us2", "us3", "en1")],
    *[Voice(f"rhvoice/{v}", "rhvoice", v, "LGPL-2.1+ (RHVoice voice data, Olga Yakovleva; built from CMU ARCTIC)",
            "rhvoice, rhvoice-english") for v in ("alan", "bdl", "clb", "slt")],
    *[Voice(f"rhvoice/{v}", "rhvoice", v, "CC-BY-NC-ND-4.0", "rhvoice-english", shipped=False,
            why_not="non-commercial, no-derivatives licence") for v in ("evgeniy-eng", "lyubov")],
    *[Voice(f"flite/{v}", "flite", v, "flite/CMU ARCTIC BSD-style licence (free use, modification, sale)",
            "flite") for v in ("kal", "kal16", "awb", "rms", "slt")],
    Voice("festival/kal", "festival", "voice_kal_diphone", "CSTR/CMU free licence (use, modify, sell)",
          "festival, festvox-kallpc16k"),
    Voice("festival/ked", "festival", "voice_ked_diphone", "CSTR/CMU free licence (use, modify, sell)",
          "festival, festvox-kdlpc16k"),
    Voice("festival/us-slt-hts", "festival", "voice_cmu_us_slt_arctic_hts", "BSD-3-clause, EST-2000/2003 (free)",
          "festival, festvox-us-slt-hts"),
    *[Voice(f"festival/{v}-mbrola", "festival", f"voice_{v}_mbrola", _MBROLA_TERMS + "; festival voice files free",
            f"festival, festvox-{v}, mbrola-{v}") for v in ("us1", "us2", "us3")],
    Voice("festival/rab", "festival", "voice_rab_diphone", "voice free, but speaks through festlex-oald",
          "festvox-rablpc16k", shipped=False, why_not="its lexicon (festlex-oald, Oxford Advanced Learner's "
          "Dictionary) is licensed for non-commercial use only"),
    Voice("festival/en1-mbrola", "festival", "voice_en1_mbrola", "MBROLA terms, and speaks through festlex-oald",
          "festvox-en1", shipped=False, why_not="festlex-oald lexicon: non-commercial use only"),
    *[Voice(f"pico/{v}", "pico", v, "Apache-2.0 (SVOX pico; lingware redistributable, no source)",
            "libttspico-utils (non-free)") for v in ("en-US", "en-GB")],
]
SHIPPED = [v for v in VOICES if v.shipped]
BY_NAME = {v.name: v for v in VOICES}


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        rate, width, ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"unexpected sample width {width}")
    x = np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(1)
    return x, rate


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(cmd, input=stdin, check=True, capture_output=True, timeout=60).stdout


_festival: subprocess.Popen | None = None


def _festival_say(voice: str, stretch: float, text: str, out: str) -> None:
    """Through one festival process kept for this Python process (loading a voice costs
    ~0.4 s a call; a kept process speaks a sentence in ~0.02 s). A file it touches after
    saving the wave says it is done."""
    global _festival
    if _festival is None or _festival.poll() is not None:
        _festival = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, text=True)
    if any(c not in "abcdefghijklmnopqrstuvwxyz' " for c in text):
        raise ValueError("festival text must be normalised (letters, apostrophe, space)")
    done = out + ".done"
    assert _festival.stdin is not None
    _festival.stdin.write(f"({voice})(Parameter.set 'Duration_Stretch {stretch:.3f})"
                          f"(utt.save.wave (SynthText \"{text}\") \"{out}\" 'riff)(system \"touch {done}\")\n")
    _festival.stdin.flush()
    t0 = time.time()
    while not os.path.exists(done):
        if _festival.poll() is not None or time.time() - t0 > 60:
            _festival.kill()
            _festival = None
            raise RuntimeError(f"festival did not speak with {voice}")
        time.sleep(0.003)


def speak(voice: Voice, text: str, rng: random.Random) -> tuple[np.ndarray, int, dict]:
    """(samples, rate, the prosody settings used). Speed and pitch vary where the engine takes them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "o.wav")
        meta: dict = {}
        if voice.engine == "espeak-mbrola":
            speed, pitch = rng.randint(125, 200), rng.randint(25, 75)
            meta = {"speed": speed, "pitch": pitch}
            data = _run(["espeak-ng", "-v", voice.arg, "-s", str(speed), "-p", str(pitch), "--stdout", text])
            return (*_read_wav(data), meta)
        if voice.engine == "rhvoice":
            rate, pitch = rng.randint(85, 135), rng.randint(75, 125)
            meta = {"rate": rate, "pitch": pitch}
            # RHVoice-test's percentages: 100 is the voice's default (measured: 85 -> 1.17x as long, 125 -> 0.80x)
            _run(["RHVoice-test", "-p", voice.arg, "-r", str(rate), "-t", str(pitch), "-o", out], stdin=text.encode())
        elif voice.engine == "flite":
            stretch, f0 = rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25)
            meta = {"stretch": round(stretch, 3), "f0": round(f0, 3)}
            base_f0 = 170.0 if voice.arg == "slt" else 105.0
            _run(["flite", "-voice", voice.arg, "--setf", f"duration_stretch={stretch:.3f}",
                  "--setf", f"int_f0_target_mean={base_f0 * f0:.1f}", "-t", text, "-o", out])
        elif voice.engine == "festival":
            stretch = rng.uniform(0.85, 1.2)
            meta = {"stretch": round(stretch, 3)}
            _festival_say(voice.arg, stretch, text, out)
        elif voice.engine == "pico":
            _run(["pico2wave", "-l", voice.arg, "-w", out, text])
        else:
            raise ValueError(voice.engine)
        with open(out, "rb") as f:
            return (*_read_wav(f.read()), meta)


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--all", action="store_true", help="--check the voices left out of the shipped model too")
    ap.add_argument("--table", action="store_true", help="print the licence table (markdown)")
    args = ap.parse_args()
    if args.table:
        print("| voice | Debian package | licence | in the shipped model |")
        print("| --- | --- | --- | --- |")
        for v in VOICES:
            print(f"| {v.name} | {v.package} | {v.licence} | {'yes' if v.shipped else 'no: ' + v.why_not} |")
    if args.check:
        rng = random.Random(0)
        for v in VOICES if args.all else SHIPPED:
            t0 = time.time()
            x, rate, meta = speak(v, "the quick brown fox jumps over the lazy dog", rng)
            print(f"{v.name:28s} {rate:6d} Hz {len(x) / rate:5.2f} s  {time.time() - t0:5.2f} s wall  {meta}"
                  f"{'' if v.shipped else '  (not shipped)'}", flush=True)


if __name__ == "__main__":
    main()
