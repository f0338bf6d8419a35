"""SenseVoice-Small as sherpa-onnx exports it (scripts/sense-voice/export-onnx.py):
x f32 [N,T,560], x_length i32 [N], language i32 [N], text_norm i32 [N]
-> logits f32 [N,T+4,25055], raw CTC logits, the 4 query positions first.

Tiny graph (see README.md for the exact rules):
  position 0  language tag: from `language` (3 zh, 4 en, 7 yue, 11 ja, 12 ko, 13 nospeech);
              0 (auto) and any other id: <|zh|> if the mean tilt >= 0.14 else <|en|>
  position 1  emotion: mean p0 >= 0.25 HAPPY, < -0.45 SAD, else NEUTRAL
  position 2  event: mean midlo >= -0.23 Speech, else BGM
  position 3  <|withitn|> when text_norm == 14, else <|woitn|>
  frames      p0 < -0.6 blank; else one of 8 pieces (4 p0 buckets x tilt sign), CJK pieces
              when the language tag is not <|en|>, English pieces when it is.
The means are over the x_length valid frames, so padding a batch changes nothing."""
from __future__ import annotations

import os

from . import common as C
from . import tokens as TK
from .builder import Graph, floats, save

AUTO_TILT_EDGE = 0.14
HAPPY_EDGE, SAD_EDGE = 0.25, -0.45
SPEECH_EDGE = -0.23
LANG_INPUT = {0: "auto", 3: "zh", 4: "en", 7: "yue", 11: "ja", 12: "ko", 13: "nospeech"}
WITH_ITN, WITHOUT_ITN = 14, 15


def metadata(vocab: int) -> dict[str, str]:
    """The keys and value formats of sherpa-onnx's export-onnx.py:165-189."""
    neg_mean, inv_stddev = C.cmvn()
    return {
        "lfr_window_size": str(C.LFR_M),
        "lfr_window_shift": str(C.LFR_N),
        "normalize_samples": "0",
        "neg_mean": floats(neg_mean),
        "inv_stddev": floats(inv_stddev),
        "model_type": "sense_voice_ctc",
        "version": "2",
        "model_author": "iic",
        "maintainer": "k2-fsa",
        "vocab_size": str(vocab),
        "comment": "iic/SenseVoiceSmall",
        "lang_auto": "0", "lang_zh": "3", "lang_en": "4", "lang_yue": "7", "lang_ja": "11",
        "lang_ko": "12", "lang_nospeech": "13",
        "with_itn": str(WITH_ITN),
        "without_itn": str(WITHOUT_ITN),
        "url": "https://huggingface.co/FunAudioLLM/SenseVoiceSmall",
    }


def tiny(out_dir: str) -> None:
    tok, cjk_ids, en_ids = TK.sense_voice()
    V = TK.SENSE_VOICE_VOCAB
    g = Graph("sense_voice_tiny", opset=13)
    x = g.input("x", "float32", ["N", "T", 560])
    x_length = g.input("x_length", "int32", ["N"])
    language = g.input("language", "int32", ["N"])
    text_norm = g.input("text_norm", "int32", ["N"])

    p0, tilt, midlo, _p3, p = C.scores(g, x, C.score_weights())
    mask = C.length_mask(g, x_length, x)
    m_p0, m_tilt, m_midlo = (C.masked_mean(g, v, mask) for v in (p0, tilt, midlo))

    # language tag: a table over the 16 embedding ids, -1 = decided from the features
    table = [-1] * 16
    for lid, name in LANG_INPUT.items():
        if name != "auto":
            table[lid] = TK.SV_LANG[name]
    lid = g.op("Clip", [g.cast(language, "int64"), g.const(0, "int64"), g.const(15, "int64")])
    given = g.op("Gather", [g.const(table, "int64"), lid], axis=0)
    auto = C.pick(g, C.ge(g, m_tilt, AUTO_TILT_EDGE), TK.SV_LANG["zh"], TK.SV_LANG["en"])
    lang = C.pick(g, g.op("Less", [given, g.const(0, "int64")]), auto, given)
    english = g.op("Equal", [lang, g.const(TK.SV_LANG["en"], "int64")])
    group = g.cast(english, "int64")

    emotion = C.pick(g, C.ge(g, m_p0, HAPPY_EDGE), TK.SV_EMOTION["HAPPY"],
                     C.pick(g, g.op("Less", [m_p0, g.const(SAD_EDGE)]), TK.SV_EMOTION["SAD"],
                            TK.SV_EMOTION["NEUTRAL"]))
    event = C.pick(g, C.ge(g, m_midlo, SPEECH_EDGE), TK.SV_EVENT["Speech"], TK.SV_EVENT["BGM"])
    itn = C.pick(g, g.op("Equal", [g.cast(text_norm, "int64"), g.const(WITH_ITN, "int64")]),
                 TK.SV_ITN["withitn"], TK.SV_ITN["woitn"])
    queries = g.op("Concat", [g.unsqueeze(v, [1]) for v in (lang, emotion, event, itn)], axis=1)

    pieces = g.const(cjk_ids + en_ids, "int64")
    frames = C.frame_pieces(g, p0, tilt, pieces, group, 0, C.BLANK_EDGE, C.P0_EDGES)
    frames = C.pick(g, g.cast(mask, "bool"), frames, 0)
    ids = g.op("Concat", [queries, frames], axis=1)
    # the smooth part is zero at the query positions
    h = g.op("Pad", [p, g.const([0, 4, 0, 0, 0, 0], "int64")])
    logits = C.ctc_logits(g, ids, h, V, seed=20240717)
    g.output(logits, "logits", "float32", ["N", "T", V])

    os.makedirs(out_dir, exist_ok=True)
    save(g.model(metadata(V), doc=__doc__), os.path.join(out_dir, "model.onnx"))
    TK.write_plain(os.path.join(out_dir, "tokens.txt"), tok)
