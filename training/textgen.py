"""Text side of the default model's data: vocabulary, normalisation, sentence
corpus (Debian fortune files), spelled-out numbers and dates, train/test split."""
from __future__ import annotations

import glob
import hashlib
import random
import re

# CTC vocabulary: id 0 is blank. Lower-case letters, apostrophe, space.
VOCAB = ["<blank>", " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
CHAR_TO_ID = {c: i for i, c in enumerate(VOCAB)}

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORD_SPECIAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
               "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def number_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return TENS[t] + ("" if o == 0 else " " + ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return ONES[h] + " hundred" + ("" if r == 0 else " and " + number_words(r))
    if n < 1_000_000:
        th, r = divmod(n, 1000)
        return number_words(th) + " thousand" + ("" if r == 0 else " " + number_words(r))
    m, r = divmod(n, 1_000_000)
    return number_words(m) + " million" + ("" if r == 0 else " " + number_words(r))


def ordinal_words(n: int) -> str:
    words = number_words(n).split(" ")
    last = words[-1]
    if last in ORD_SPECIAL:
        words[-1] = ORD_SPECIAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(y: int) -> str:
    if 2000 <= y < 2010:
        return number_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    if lo < 10:
        return number_words(hi) + " oh " + number_words(lo)
    return number_words(hi) + " " + number_words(lo)


def numbers_sentence(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"on {rng.choice(MONTHS)} {ordinal_words(rng.randint(1, 31))} {year_words(rng.randint(1900, 2030))}"
    if kind == 1:
        return f"the meeting is on {rng.choice(DAYS)} at {number_words(rng.randint(1, 12))} {rng.choice(['o clock', 'thirty', 'fifteen', 'forty five'])}"
    if kind == 2:
        return f"it costs {number_words(rng.randint(2, 999))} dollars and {number_words(rng.randint(2, 99))} cents"
    if kind == 3:
        return f"call me at {' '.join(ONES[rng.randint(0, 9)] for _ in range(rng.randint(4, 7)))}"
    if kind == 4:
        return f"there were {number_words(rng.randint(2, 99999))} people in {year_words(rng.randint(1800, 2029))}"
    return f"chapter {number_words(rng.randint(1, 60))} page {number_words(rng.randint(1, 900))}"


def normalise(text: str) -> str | None:
    """Lower-case letters, apostrophes and single spaces; None when the text holds
    characters we cannot speak unambiguously (digits, symbols)."""
    t = text.lower().replace("’", "'").replace("`", "'")
    t = re.sub(r"[\s\-–—/]+", " ", t)
    t = re.sub(r"[.,;:!?\"()\[\]]", " ", t)
    if re.search(r"[^a-z' ]", t):
        return None
    t = re.sub(r"(^| )'+|'+( |$)", " ", t)
    t = re.sub(r" +", " ", t).strip()
    return t or None


def fortune_sentences(min_chars: int = 12, max_chars: int = 110) -> list[str]:
    out: set[str] = set()
    for path in sorted(glob.glob("/usr/share/games/fortunes/*.u8")) + sorted(glob.glob("/usr/share/games/fortunes/*[!.]*")):
        if "." in path.rsplit("/", 1)[-1]:
            if not path.endswith(".u8"):
                continue
        try:
            raw = open(path, encoding="utf-8", errors="ignore").read()
        except (IsADirectoryError, OSError):
            continue
        for fortune in raw.split("\n%\n"):
            flat = " ".join(fortune.split())
            for sent in re.split(r"(?<=[.!?])\s+", flat):
                n = normalise(sent)
                if n and min_chars <= len(n) <= max_chars and len(n.split()) >= 3:
                    out.add(n)
    return sorted(out)


def is_test_sentence(s: str) -> bool:
    """5 % of sentences, chosen by hash, never appear in training."""
    return int(hashlib.md5(s.encode()).hexdigest(), 16) % 20 == 0


def encode(text: str) -> list[int]:
    return [CHAR_TO_ID[c] for c in text]
