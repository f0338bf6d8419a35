"""Vocabularies of the test graphs, laid out like the sherpa-onnx exports'
tokens.txt (`symbol id` per line). Only the ids stated in the sources are real
ids (see README.md "Vocabularies"); every other line is a filler piece, unique,
so no decode can tell a filler from a real piece."""
from __future__ import annotations

import base64

# SenseVoice-Small: ids from FunASR's SenseVoiceSmall (funasr/models/sense_voice/model.py:
# lid_int_dict, textnorm_int_dict, emo_dict; also sherpa-onnx
# scripts/sense-voice/rknn/torch_model.py:554-569).
SENSE_VOICE_VOCAB = 25055
SV_LANG = {"zh": 24884, "en": 24885, "yue": 24888, "ja": 24892, "ko": 24896, "nospeech": 24992}
SV_ITN = {"withitn": 25016, "woitn": 25017}
SV_EMOTION = {"HAPPY": 25001, "SAD": 25002, "ANGRY": 25003, "NEUTRAL": 25004, "EMO_UNKNOWN": 25009}
# Not found in any source: chosen, kept clear of the ids above (README.md says which).
SV_EVENT = {"BGM": 25005, "Speech": 25006, "Applause": 25007, "Laughter": 25008, "Cry": 25013,
            "Sneeze": 25014, "Breath": 25015, "Cough": 25018, "Sing": 25019, "Speech_Noise": 25020,
            "GBG": 25021, "Event_UNK": 25022}
SV_EMOTION_CHOSEN = {"FEARFUL": 25010, "DISGUSTED": 25011, "SURPRISED": 25012}
SV_SPECIAL_FIRST = 24884  # first of the <|...|> tags; regular pieces end below it

# The pieces the tiny graphs emit (graph bucket -> piece); their ids are chosen.
SV_PIECES_CJK = ["的", "是", "我", "你", "好", "们", "在", "了"]
SV_PIECES_EN = ["▁the", "▁a", "s", "▁and", "▁to", "ing", "▁of", "ed"]
PARAFORMER_PIECES = ["你", "好", "hel@@", "lo", "world", "语", "音", "test"]
NEMO_PIECES = ["▁the", "▁a", "s", "▁and", "▁to", "ing", "▁of", "ed"]
NANO_PIECES = ["的", "是", "我", "你", "▁the", "▁a", "s", "ing"]


def _cjk(start: int = 0x4E00):
    """CJK Unified Ideographs in order (20 992 of them)."""
    cp = start
    while cp <= 0x9FFF:
        yield chr(cp)
        cp += 1


def _words(prefix: str = "▁"):
    """Unique lowercase pieces: a..z, aa..zz, aaa.. (with the word-start mark)."""
    n = 1
    while True:
        k = n
        s = ""
        while k > 0:
            k -= 1
            s = chr(ord("a") + k % 26) + s
            k //= 26
        yield prefix + s
        n += 1


def _fill(table: list, used: set, sources) -> None:
    """Fill the None slots of `table` from the generators in `sources`, skipping used pieces."""
    gens = [iter(s) for s in sources]
    gi = 0
    for i, v in enumerate(table):
        if v is not None:
            continue
        while True:
            try:
                piece = next(gens[gi])
            except StopIteration:
                gi += 1
                continue
            if piece not in used:
                break
        used.add(piece)
        table[i] = piece


def _place(table: list, pieces: list, first_id: int, step: int) -> list:
    ids = []
    for k, p in enumerate(pieces):
        i = first_id + k * step
        assert table[i] is None, (i, p)
        table[i] = p
        ids.append(i)
    return ids


def sense_voice() -> tuple[list[str], list[int], list[int]]:
    """(tokens by id, CJK piece ids, EN piece ids)."""
    t: list = [None] * SENSE_VOICE_VOCAB
    t[0], t[1], t[2] = "<unk>", "<s>", "</s>"
    cjk_ids = _place(t, SV_PIECES_CJK, 3, 1)
    en_ids = _place(t, SV_PIECES_EN, 11, 1)
    named = {}
    for table in (SV_LANG, SV_ITN, SV_EMOTION, SV_EVENT, SV_EMOTION_CHOSEN):
        named.update({i: f"<|{k}|>" for k, i in table.items()})
    k = 0
    for i in range(SV_SPECIAL_FIRST, SENSE_VOICE_VOCAB):
        if i in named:
            t[i] = named[i]
        else:
            k += 1
            t[i] = f"<|SPECIAL_TOKEN_{k}|>"
    _fill(t, set(x for x in t if x is not None), [_cjk(), _words("▁"), _words("")])
    return t, cjk_ids, en_ids


def paraformer(vocab: int = 8404) -> tuple[list[str], list[int]]:
    """Paraformer-zh layout: <blank> 0, <s> 1, </s> 2, pieces, <unk> last."""
    t: list = [None] * vocab
    t[0], t[1], t[2], t[-1] = "<blank>", "<s>", "</s>", "<unk>"
    ids = _place(t, PARAFORMER_PIECES, 3, 1)
    # ASCII words and @@ continuation pieces among the characters, as in the real file
    used = set(x for x in t if x is not None)
    fill: list = [None] * (vocab - 12)
    words = (w for w in _words("") if w not in used)
    conts = (w + "@@" for w in _words("") if w + "@@" not in used)
    for i in range(len(fill)):
        if i % 8 == 3:
            fill[i] = next(words)
        elif i % 8 == 5:
            fill[i] = next(conts)
    used |= set(x for x in fill if x is not None)
    _fill(fill, used, [_cjk(), _words("x")])
    t[11:-1] = fill
    return t, ids


def nemo(vocab: int = 1024) -> tuple[list[str], list[int]]:
    """NeMo BPE layout: <unk> 0, pieces, then <blk> = vocab (tokens.txt has vocab + 1 lines)."""
    t: list = [None] * vocab
    t[0] = "<unk>"
    ids = _place(t, NEMO_PIECES, 1, 1)
    _fill(t, set(x for x in t if x is not None), [_words("▁"), _words("")])
    return t + ["<blk>"], ids


NANO_VOCAB = 60515  # sherpa-onnx scripts/sense-voice/rknn/nano.py:11-15 (blank = 60514, the last id)


def nano() -> tuple[list[str], list[int], int]:
    """(decoded pieces by id, piece ids, id of the empty piece); the file stores base64 of the bytes."""
    t: list = [None] * NANO_VOCAB
    ids = _place(t, NANO_PIECES, 100, 1)
    empty = 7
    t[empty] = ""
    t[-1] = "<blank>"
    _fill(t, set(x for x in t if x is not None), [_cjk(), _words("▁"), _words("")])
    return t, ids, empty


def write_plain(path: str, tokens: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, s in enumerate(tokens):
            f.write(f"{s} {i}\n")


def write_base64(path: str, tokens: list[str]) -> None:
    """base64 of each piece's UTF-8 bytes; the empty piece is a line holding only its id."""
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for i, s in enumerate(tokens):
            b = base64.b64encode(s.encode("utf-8")).decode("ascii")
            f.write(f"{b} {i}\n" if b else f"{i}\n")
