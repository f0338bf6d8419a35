"""Word n-gram language model for the default model's optional beam-search decoder.

/usr/bin/python3 training/lm.py --order 3 --out models/voxfleet-en-char-ctc/lm.arpa.gz

Built only from the training side of the corpus: the fortune sentences that
textgen.is_test_sentence() keeps out of the held-out set, plus generated
number/date sentences (the same generator the training audio uses). Interpolated
Kneser-Ney of any order, written as a standard ARPA file (log10 probabilities,
backoff weights; gzipped when the name ends in .gz), so the TypeScript decoder
can equally load an ARPA made by KenLM or SRILM.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import math
import random

import textgen


def training_sentences(numbers: int, seed: int = 7) -> list[str]:
    sents = [s for s in textgen.fortune_sentences() if not textgen.is_test_sentence(s)]
    rng = random.Random(seed)
    return sents + [textgen.numbers_sentence(rng) for _ in range(numbers)]


def kneser_ney(sents: list[str], order: int, discount: float, min_count: int):
    """Returns (probs, backoffs): probs[k] maps k+1-word tuples to P(w | h) (interpolated),
    backoffs maps contexts to the weight of the next lower order."""
    raw = [collections.Counter() for _ in range(order)]
    for s in sents:
        words = ["<s>"] + s.split() + ["</s>"]
        for i in range(1, len(words)):
            for k in range(min(order, i + 1)):
                raw[k][tuple(words[i - k:i + 1])] += 1
    # Lower orders use continuation counts: how many distinct words precede the n-gram.
    counts = [collections.Counter() for _ in range(order)]
    counts[order - 1] = raw[order - 1]
    for k in range(order - 1):
        for gram in raw[k + 1]:
            counts[k][gram[1:]] += 1
        for gram, c in raw[k].items():  # n-grams that start a sentence have no left word
            if gram[0] == "<s>":
                counts[k][gram] = c
    vocab = sorted({g[0] for g in counts[0]} | {"</s>"})
    probs = [dict() for _ in range(order)]
    backoffs: dict[tuple, float] = {}
    # Unigrams: discounted continuation counts, mass left spread over vocab + <unk>.
    total = sum(c for g, c in counts[0].items())
    uni = {w: max(counts[0].get((w,), 0) - discount, 0) / total for w in vocab if w != "<s>"}
    left = 1.0 - sum(uni.values())
    for w in uni:
        uni[w] += left / (len(uni) + 1)
    uni["<unk>"] = left / (len(uni) + 1)
    probs[0] = {(w,): p for w, p in uni.items()}
    for k in range(1, order):
        ctx_total = collections.Counter()
        ctx_types = collections.Counter()
        for gram, c in counts[k].items():
            ctx_total[gram[:-1]] += c
            ctx_types[gram[:-1]] += 1
        for gram, c in counts[k].items():
            if c < min_count and gram[-1] != "</s>":
                continue
            h = gram[:-1]
            gamma = discount * ctx_types[h] / ctx_total[h]
            probs[k][gram] = max(c - discount, 0) / ctx_total[h] + gamma * lower(probs, backoffs, gram[1:])
        # backoff weights so every context sums to one after pruning
        kept = collections.defaultdict(list)
        for gram in probs[k]:
            kept[gram[:-1]].append(gram)
        for h in ctx_total:
            grams = kept.get(h, [])
            mass = sum(probs[k][g] for g in grams)
            low = sum(lower(probs, backoffs, g[1:]) for g in grams)
            backoffs[h] = max(1.0 - mass, 1e-9) / max(1.0 - low, 1e-9)
    return probs, backoffs


def lower(probs, backoffs, gram: tuple) -> float:
    """P(w | shorter history) from what is already built (ARPA backoff semantics)."""
    k = len(gram) - 1
    if gram in probs[k]:
        return probs[k][gram]
    if k == 0:
        return probs[0][("<unk>",)]
    return backoffs.get(gram[:-1], 1.0) * lower(probs, backoffs, gram[1:])


def write_arpa(path: str, probs, backoffs) -> None:
    order = len(probs)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt") as f:
        f.write("\\data\\\n")
        f.write(f"ngram 1={len(probs[0]) + 1}\n")
        for k in range(1, order):
            f.write(f"ngram {k + 1}={len(probs[k])}\n")
        for k in range(order):
            f.write(f"\n\\{k + 1}-grams:\n")
            grams = sorted(probs[k].items())
            if k == 0:
                grams = [(("<s>",), None)] + grams
            for gram, p in grams:
                lp = -99.0 if p is None else math.log10(p)
                line = f"{lp:.5f}\t{' '.join(gram)}"
                if k < order - 1 and gram in backoffs:
                    line += f"\t{math.log10(backoffs[gram]):.5f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--numbers", type=int, default=3000, help="generated number/date sentences")
    ap.add_argument("--discount", type=float, default=0.75)
    ap.add_argument("--min-count", type=int, default=1, help="drop n-grams (order > 1) seen fewer times")
    args = ap.parse_args()
    sents = training_sentences(args.numbers)
    probs, backoffs = kneser_ney(sents, args.order, args.discount, args.min_count)
    write_arpa(args.out, probs, backoffs)
    print(f"{len(sents)} sentences, order {args.order}: " + ", ".join(f"{len(p)} {k + 1}-grams" for k, p in enumerate(probs))
          + f" -> {args.out}")


if __name__ == "__main__":
    main()
