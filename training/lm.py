"""Word bigram language model for the default model's optional beam-search decoder.

/usr/bin/python3 training/lm.py --out models/voxfleet-en-char-ctc/lm.arpa

Built only from the training side of the corpus: the fortune sentences that
textgen.is_test_sentence() keeps out of the held-out set, plus generated
number/date sentences (the same generator the training audio uses). Interpolated
Kneser-Ney bigram, written as a standard ARPA file (log10 probabilities, backoff
weights), so the TypeScript decoder can also load an ARPA made by other tools.
"""
from __future__ import annotations

import argparse
import collections
import math
import random

import textgen


def training_sentences(numbers: int, seed: int = 7) -> list[str]:
    sents = [s for s in textgen.fortune_sentences() if not textgen.is_test_sentence(s)]
    rng = random.Random(seed)
    return sents + [textgen.numbers_sentence(rng) for _ in range(numbers)]


def kneser_ney_bigram(sents: list[str], discount: float, min_count: int):
    uni = collections.Counter()
    bi = collections.Counter()
    for s in sents:
        words = ["<s>"] + s.split() + ["</s>"]
        uni.update(words[1:])
        bi.update(zip(words[:-1], words[1:]))
    ctx = collections.Counter()        # c(v) as a context
    followers = collections.Counter()  # N1+(v .)
    preceders = collections.Counter()  # N1+(. w)
    for (v, w), c in bi.items():
        ctx[v] += c
        followers[v] += 1
        preceders[w] += 1
    total_types = sum(preceders.values())
    vocab = sorted(uni)
    # Unigram: continuation probability, discounted, mass spread over vocab + <unk>.
    n_uni = len(vocab) + 1
    p1 = {}
    for w in vocab:
        p1[w] = max(preceders[w] - discount, 0) / total_types
    left = 1.0 - sum(p1.values())
    for w in vocab:
        p1[w] += left / n_uni
    p1["<unk>"] = left / n_uni
    bigrams = {}
    backoff = {}
    for v in ctx:
        gamma = discount * followers[v] / ctx[v]
        backoff[v] = gamma
    for (v, w), c in bi.items():
        if c < min_count:
            continue
        bigrams[(v, w)] = max(c - discount, 0) / ctx[v] + backoff[v] * p1[w]
    # Pruned bigrams fall back to gamma * p1; renormalise gamma so each context sums to one.
    by_ctx = collections.defaultdict(list)
    for (v, w) in bigrams:
        by_ctx[v].append(w)
    for v in ctx:
        seen = by_ctx.get(v, [])
        mass = sum(bigrams[(v, w)] for w in seen)
        lower = sum(p1[w] for w in seen)
        backoff[v] = max(1.0 - mass, 1e-9) / max(1.0 - lower, 1e-9)
    return vocab, p1, bigrams, backoff


def write_arpa(path: str, vocab, p1, bigrams, backoff) -> None:
    words = ["<s>"] + [w for w in vocab] + ["<unk>"]
    with open(path, "w") as f:
        f.write("\\data\\\n")
        f.write(f"ngram 1={len(words)}\n")
        f.write(f"ngram 2={len(bigrams)}\n\n\\1-grams:\n")
        for w in words:
            lp = -99.0 if w == "<s>" else math.log10(p1[w])
            bo = backoff.get(w)
            f.write(f"{lp:.5f}\t{w}" + (f"\t{math.log10(bo):.5f}" if bo is not None and w != "</s>" else "") + "\n")
        f.write("\n\\2-grams:\n")
        for (v, w), p in sorted(bigrams.items()):
            f.write(f"{math.log10(p):.5f}\t{v} {w}\n")
        f.write("\n\\end\\\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--numbers", type=int, default=3000, help="generated number/date sentences")
    ap.add_argument("--discount", type=float, default=0.75)
    ap.add_argument("--min-count", type=int, default=1, help="drop bigrams seen fewer times")
    args = ap.parse_args()
    sents = training_sentences(args.numbers)
    vocab, p1, bigrams, backoff = kneser_ney_bigram(sents, args.discount, args.min_count)
    write_arpa(args.out, vocab, p1, bigrams, backoff)
    print(f"{len(sents)} sentences, {len(vocab)} words, {len(bigrams)} bigrams -> {args.out}")


if __name__ == "__main__":
    main()
