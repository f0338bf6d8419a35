"""/usr/bin/python3 -m convert fp16|int8 IN.onnx OUT.onnx [options]  (run from scripts/models, or with it on PYTHONPATH)

  fp16 [--io fp32|fp16] [--keep-fp32 Op,Op]   float16 weights and compute (fp16.py)
  int8 [--weight-type uint8|int8] [--per-channel]  dynamic int8 MatMuls (int8.py)
Metadata is carried over unchanged."""
from __future__ import annotations

import argparse
import os
import sys

import onnx

from . import save
from .fp16 import convert_model
from .int8 import quantize_model


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f16 = sub.add_parser("fp16")
    f16.add_argument("src")
    f16.add_argument("dst")
    f16.add_argument("--io", choices=["fp32", "fp16"], default="fp32", help="graph input/output type (default fp32)")
    f16.add_argument("--keep-fp32", default="", help="comma-separated op types to run in float32")
    q8 = sub.add_parser("int8")
    q8.add_argument("src")
    q8.add_argument("dst")
    q8.add_argument("--weight-type", choices=["uint8", "int8"], default="uint8")
    q8.add_argument("--per-channel", action="store_true", help="one scale per output column")
    args = ap.parse_args(argv)
    m = onnx.load(args.src)
    if args.cmd == "fp16":
        keep = frozenset(o for o in args.keep_fp32.split(",") if o)
        m = convert_model(m, keep_io=args.io == "fp32", keep_fp32=keep)
        save(m, args.dst)
        print(f"fp16 → {args.dst} ({os.path.getsize(args.dst)} bytes; kept float32: {','.join(sorted(keep)) or 'none'})")
    else:
        m, n = quantize_model(m, args.weight_type, args.per_channel)
        save(m, args.dst)
        print(f"int8: quantized {n} MatMuls ({args.weight_type}{', per channel' if args.per_channel else ''}) → {args.dst} ({os.path.getsize(args.dst)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
