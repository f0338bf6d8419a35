"""Export a trained checkpoint to ONNX (fp32 and fp16) with the metadata the
VoxFleet engine reads (vocabulary, front-end settings, CMVN).

/usr/bin/python3 training/export.py --ckpt training/runs/v1/best.pt --out models/voxfleet-en-char-ctc

Signature (SenseVoice-like, docs/model-contracts.md): x float [N, T, 560],
x_length int32 [N] -> logits float [N, T, V]; dynamic N and T. The fp16 file
(scripts/models/convert/fp16.py) takes and returns float16 tensors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import onnx
import torch

import model as M

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "models"))
from convert.fp16 import convert_model  # noqa: E402  (the project's one fp16 converter)


def export_fp32(net, path: str, feat_dim: int) -> None:
    x = torch.randn(2, 57, feat_dim)
    lens = torch.tensor([57, 40], dtype=torch.int32)
    torch.onnx.export(net, (x, lens), path, opset_version=17, input_names=["x", "x_length"],
                      output_names=["logits"],
                      dynamic_axes={"x": {0: "N", 1: "T"}, "x_length": {0: "N"}, "logits": {0: "N", 1: "T"}},
                      do_constant_folding=False)  # keep parameter names (warm start from ONNX); ORT folds at load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="training/runs/v1/best.pt")
    ap.add_argument("--out", default="models/voxfleet-en-char-ctc")
    ap.add_argument("--prior-log", action="append", default=[],
                    help="training-log.json or gpu_run.json of an earlier phase to put first (repeatable)")
    ap.add_argument("--phase", help="name for this checkpoint's training phase in training-log.json")
    ap.add_argument("--model-id", default="voxfleet-en-char-ctc-v1",
                    help="the training step is appended, so each export has its own id (cache keys)")
    args = ap.parse_args()
    ck = torch.load(args.ckpt)
    cfg = ck["config"]
    net = M.CharConformerCTC(len(cfg["vocab"]))
    net.load_state_dict(ck["model"])
    net.eval()
    os.makedirs(args.out, exist_ok=True)
    fp32 = os.path.join(args.out, "model.onnx")
    export_fp32(net, fp32, 80 * cfg["lfr_m"])
    averaged = ck["state"].get("averaged")
    model_id = f"{args.model_id}-s{ck['state']['step']}" + (f"-avg{len(averaged)}" if averaged else "")
    meta = {
        "model_type": "ctc",
        "model_id": model_id,
        "vocab": json.dumps(cfg["vocab"]),
        "vocab_size": str(len(cfg["vocab"])),
        "blank_id": "0",
        "unit": "char",
        "language": "en",
        "sample_rate": "16000",
        "mel_bins": "80",
        "lfr_window_size": str(cfg["lfr_m"]),
        "lfr_window_shift": str(cfg["lfr_n"]),
        "frame_shift_ms": str(10 * cfg["lfr_n"]),
        "normalize_samples": "0",
        "neg_mean": ",".join(f"{v:.7g}" for v in ck["neg_mean"]),
        "inv_stddev": ",".join(f"{v:.7g}" for v in ck["inv_std"]),
        "training_step": str(ck["state"]["step"]),
    }
    gpu = bool(ck["state"].get("gpu_run"))
    interpolated = ck["state"].get("interpolated")
    if interpolated:  # training/interpolate.py: neither checkpoint's evaluation belongs to the mix
        meta["interpolated"] = f"{interpolated['weight']} x step {ck['state']['step']} + rest x step {interpolated['base_step']}"
    elif averaged:  # training's held-out CER belongs to single checkpoints, not to their average
        meta["averaged_steps"] = ",".join(str(s) for s in averaged)
    elif gpu:  # gpu_run.py scores on its own monitoring set, not on the test set
        meta["monitor_cer"] = f"{ck['state']['best_cer']:.4f}"
    else:
        meta["heldout_cer"] = f"{ck['state']['best_cer']:.4f}"
    m = onnx.load(fp32)
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(m)
    onnx.save(m, fp32)
    m16 = convert_model(onnx.load(fp32), keep_io=False)  # float16 I/O, as the engine feeds model.fp16.onnx
    onnx.checker.check_model(m16)
    onnx.save(m16, os.path.join(args.out, "model.fp16.onnx"))
    log = []
    for path in args.prior_log:  # earlier phases (an exported training-log.json, or gpu_run.py's gpu_run.json)
        prior = json.load(open(path))
        log += prior["evals"] if isinstance(prior, dict) else prior
    phase = {"phase": args.phase} if args.phase else {}
    log += [{**e, "eval_set": "monitor" if gpu else "test", **phase} for e in ck["state"]["log"]]
    with open(os.path.join(args.out, "training-log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print("exported", fp32, os.path.getsize(fp32), "fp16", os.path.getsize(os.path.join(args.out, "model.fp16.onnx")))


if __name__ == "__main__":
    main()
