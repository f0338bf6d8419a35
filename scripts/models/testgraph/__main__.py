"""/usr/bin/python3 -m testgraph KIND --size tiny|full --out DIR  (run from scripts/models)

Writes a model directory laid out like the sherpa-onnx export of KIND, with
model.onnx, model.int8.onnx and tokens.txt (README.md lists what each holds);
parakeet-tdt writes the transducer's encoder/decoder/joiner files instead;
whisper writes tiny-encoder/-decoder[.int8].onnx and tiny-tokens.txt; whisper-optimum a
transformers.js model folder (onnx/encoder_model*.onnx, onnx/decoder_model_merged*.onnx, configs, tokenizer.json);
whisper-v3 the whisper graphs with large-v3-turbo's 128 bins and ids (turbo-*); --size full: whisper is
Whisper base, whisper-v3 large-v3-turbo (random weights, the real sizes)."""
from __future__ import annotations

import argparse
import os
import sys
import time

import onnx

from convert.int8 import quantize_model

from . import funasr_nano, funasr_nano_full, funasr_nano_llm, nemo_ctc, paraformer, parakeet_full, parakeet_tdt, sense_voice, sanm, whisper, whisper_full, whisper_optimum
from .builder import save

TINY = {
    "sense-voice": sense_voice.tiny,
    "funasr-nano-ctc": funasr_nano.tiny,
    "funasr-nano": funasr_nano_llm.tiny,
    "funasr-nano-loop": funasr_nano_llm.tiny_loop,
    "paraformer": lambda out: paraformer.tiny(out, timestamps=False),
    "paraformer-ts": lambda out: paraformer.tiny(out, timestamps=True),
    "nemo-ctc": nemo_ctc.tiny,
    "parakeet-tdt": parakeet_tdt.tiny,
    "whisper": whisper.tiny,
    "whisper-optimum": whisper_optimum.tiny,
    "whisper-v3": whisper.tiny_v3,
}
FULL = {
    "sense-voice": sanm.full_sense_voice,
    "parakeet-tdt": parakeet_full.full,
    "funasr-nano": funasr_nano_full.full,
    "whisper": whisper_full.full,
    "whisper-v3": whisper_full.full_turbo,
}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="testgraph", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=sorted(TINY))
    ap.add_argument("--size", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    build = (TINY if args.size == "tiny" else FULL).get(args.kind)
    if build is None:
        print(f"testgraph: no full-size graph of {args.kind} (full sizes: {', '.join(sorted(FULL))})", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    os.makedirs(args.out, exist_ok=True)
    n = build(args.out)
    if n is None:  # one model.onnx: quantized here with sherpa-onnx's settings
        fp32 = os.path.join(args.out, "model.onnx")
        m, n = quantize_model(onnx.load(fp32), "uint8", per_channel=False)
        save(m, os.path.join(args.out, "model.int8.onnx"))
    files = sorted(os.listdir(args.out))
    sizes = ", ".join(f"{f} {os.path.getsize(os.path.join(args.out, f))}" for f in files)
    print(f"testgraph {args.kind} ({args.size}) → {args.out}: {sizes}; {n} MatMuls quantized; {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
