"""The split of the shared real human speech (../shared/audio) into what the
default model may train on and what it is scored on, and the committed copy of
part of the scored clips (fixtures/real) for a clone that has no ../shared.

/usr/bin/python3 training/real_split.py [--shared ../shared/audio] [--out fixtures/real]

Decided before any model was trained or scored on these clips:
- LJSpeech (one female reader, 32 clips): held out entirely, the issue's bar
  ("real read English from speakers never trained on"), with the two English
  clips of fixtures/audio (LibriSpeech 1995-1837-0001, the Fun-ASR example).
- dctts-rerecorded (one male amateur, 141 clips): a quarter held out (MD5 of
  the clip id mod 4 == 0) plus every clip whose prompt is also an LJSpeech
  held-out sentence (LJ001-0001/0009/0010/0012), so no held-out sentence is
  ever trained on; the rest (~100 clips) may be used for fine-tuning. Its
  held-out part is a *seen speaker* score, reported apart from the bar.
- FSDD digits (6 speakers, 8 kHz): speakers theo and yweweler (the last two
  by name) held out entirely; the scored subset is their takes 0-9 of every
  digit (200 clips). The other four speakers are not trained on either: FSDD
  is CC BY-SA 4.0, and a model shipped under Apache-2.0 should not risk being
  an adaptation of it (so FSDD is only ever scored).
Writes <out>/split.jsonl (every scored clip: file relative to the shared
audio folder, text, speaker, set) and copies a small subset of those clips
with <out>/manifest.jsonl (the same rows, file relative to <out>).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil

FSDD_HELDOUT = {"theo", "yweweler"}
COMMIT_LJ, COMMIT_DCTTS, COMMIT_FSDD_TAKES = 8, 6, 1  # the committed subset


def words(s: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", s.lower()).split())


def dctts_heldout(clip_id: str, lj_texts: set[str], text: str) -> bool:
    return int(hashlib.md5(clip_id.encode()).hexdigest(), 16) % 4 == 0 or words(text) in lj_texts


def split(shared: str) -> tuple[list[dict], list[dict]]:
    """(scored rows, rows training may use: dctts only); file paths relative to `shared`."""
    rows = [json.loads(l) for l in open(os.path.join(shared, "manifest.jsonl"))]
    lj = [r for r in rows if r["file"].startswith("ljspeech/")]
    lj_texts = {words(r["text"]) for r in lj}
    scored, train = [], []
    for r in lj:
        scored.append({"file": r["file"], "text": r["text"], "speaker": "ljspeech-f", "set": "bar"})
    for r in rows:
        if r["file"].startswith("en-") and r["file"].endswith(".wav"):
            scored.append({"file": r["file"], "text": r["text"], "speaker": r["file"][:-4], "set": "bar"})
    for r in rows:
        if not r["file"].startswith("dctts-rerecorded/"):
            continue
        cid = os.path.basename(r["file"]).rsplit(".", 1)[0]
        row = {"file": r["file"], "text": r["text"], "speaker": "dctts-m"}
        if dctts_heldout(cid, lj_texts, r["text"]):
            scored.append({**row, "set": "seen-speaker"})
        else:
            train.append(row)
    for l in open(os.path.join(shared, "fsdd", "manifest.jsonl")):
        r = json.loads(l)
        row = {"file": "fsdd/" + r["path"], "text": r["text"], "speaker": "fsdd-" + r["speaker"]}
        take = int(r["path"].rsplit("_", 1)[1].split(".")[0])
        if r["speaker"] in FSDD_HELDOUT and take < 10:
            scored.append({**row, "set": "digits"})
    return scored, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "audio"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "real"))
    args = ap.parse_args()
    scored, train = split(args.shared)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "split.jsonl"), "w") as f:
        for r in scored:
            f.write(json.dumps(r) + "\n")
    sub = [r for r in scored if r["speaker"] == "ljspeech-f"][:COMMIT_LJ]
    sub += [r for r in scored if r["set"] == "seen-speaker"][:COMMIT_DCTTS]
    sub += [r for r in scored if r["set"] == "digits" and r["file"].endswith(tuple(f"_{t}.flac" for t in range(COMMIT_FSDD_TAKES)))]
    with open(os.path.join(args.out, "manifest.jsonl"), "w") as f:
        for r in sub:
            local = r["file"].replace("/", "-") if not r["file"].startswith("en-") else None
            if local is None:  # already committed in fixtures/audio
                continue
            shutil.copyfile(os.path.join(args.shared, r["file"]), os.path.join(args.out, local))
            f.write(json.dumps({**r, "file": local, "shared_file": r["file"]}) + "\n")
    counts = ", ".join(f"{s} {sum(r['set'] == s for r in scored)}" for s in ("bar", "seen-speaker", "digits"))
    print(f"scored {len(scored)} ({counts}), trainable {len(train)}, committed subset {len(sub)}")


if __name__ == "__main__":
    main()
