"""Whisper as sherpa-onnx exports it (scripts/whisper/export-onnx.py; archives
sherpa-onnx-whisper-{tiny,base,...}; contract §5a): two graphs named after the model, opset 17.

  {name}-encoder.onnx / {name}-encoder.int8.onnx
    mel f32 [n_audio, n_mels, T]  (both dynamic: sherpa-onnx feeds min(T + 1000, 3000) frames)
    -> n_layer_cross_k, n_layer_cross_v f32 [n_text_layer, n_audio, T', n_text_state], T' = ceil(T / 2)
  {name}-decoder.onnx / {name}-decoder.int8.onnx
    tokens i64 [n_audio, n_tokens], in_n_layer_self_k_cache / in_n_layer_self_v_cache
    f32 [n_text_layer, n_audio, 448, n_text_state], n_layer_cross_k / n_layer_cross_v (as the
    encoder's), offset i64 [1]
    -> logits f32 [n_audio, n_tokens, n_vocab], out_n_layer_self_k_cache / out_n_layer_self_v_cache
       (the input caches with rows [offset, offset + n_tokens) written)
  {name}-tokens.txt: tiktoken's form, `<base64 of the bytes> <rank>`, ranks 0..50256; the
    special tokens (eot 50257 ...) are not listed.
  Metadata on the encoder, every key export-onnx.py writes (multilingual ids of tiny/base/small).
  int8 as the export makes it: quantize_dynamic on MatMul, QInt8 weights (per tensor).

Tiny graphs (no learning; every decision a bucket with wide margins):
encoder: per input frame the mean p0 of all bins, tilt (bins 0-19 minus the top 20) and a
valid flag (any bin non-zero: sherpa-onnx pads with zeros after normalisation); a stride-2
convolution (kernel 3, padding 1, as Whisper's second conv) pools them to T' frames. Layer 0
of cross_k holds [valid, p0, tilt]; cross_v holds the same values times 2 (the decoder reads
both).
decoder: each token's row in the self caches is a fixed embedding (is text, language group,
is no_timestamps, is translate, 1, is timestamp, is sot); the decoder writes its rows at
`offset`, and reads cumulative sums over the cache prefix (so every position sees itself and
what came before it: the cache matters, as in a real decoder). From them:
  the [sot] step (language detection): a language token from the mean p0 of all valid frames
    (>= 0 en, >= -0.2 de, >= -0.27 ja, else zh);
  with no_timestamps in the prompt: after c text tokens, the piece of chunk c (pooled frames
    [40c, 40c + 40), 0.8 s) from its mean p0 (edges -0.3, 0, 0.2) and tilt (>= 0.5), in a
    table picked by the prompt's language group (en 0, zh 1, other 2) + 3 when translating;
    eot once chunk c holds no valid frame;
  without it (segment timestamps): <|begin of chunk c|> piece <|end of chunk c|> per chunk,
    then eot;
  the chosen token gets logit 24, plus a smooth part tanh(features) @ W, |W| <= 0.3.
"""
from __future__ import annotations

import base64
import os

import numpy as np
import onnx

from convert.int8 import quantize_model

from .builder import Graph, save

OPSET = 17
NAME = "tiny"
N_MELS = 80
N_AUDIO_CTX = 1500
N_AUDIO_STATE = 8
N_TEXT_CTX = 448
N_TEXT_STATE = 8
N_TEXT_LAYER = 2
N_VOCAB = 51865
EOT, SOT = 50257, 50258
LANG_FIRST = 50259
TRANSLATE, TRANSCRIBE, SOT_LM, SOT_PREV, NO_SPEECH, NO_TIMESTAMPS = 50358, 50359, 50360, 50361, 50362, 50363
TIMESTAMP_BEGIN = NO_TIMESTAMPS + 1
CHUNK = 40           # pooled frames (20 ms each) per piece
SCALE = 24.0
P0_EDGES = [-0.3, 0.0, 0.2]
TILT_EDGE = 0.5
# openai-whisper's tokenizer LANGUAGES order (tiny..large-v2: 99 codes; v3 adds yue)
LANGUAGES = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr "
             "bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn "
             "yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su").split()
assert len(LANGUAGES) == 99 and LANG_FIRST + 99 == TRANSLATE
DETECT = [("zh", None), ("ja", -0.27), ("de", -0.2), ("en", 0.0)]   # mean p0 >= edge -> that language
# the pieces the graph emits: groups en / zh / other, then the same three when translating
PIECES = [
    [" the", " a", " cat", " and", " to", " sing", " of", " red"],
    ["你", "好", "语", "音", "识", "别", "中", "文"],
    [" der", " die", " und", " ist", " ein", " nicht", " mit", " von"],
    [" one", " two", " three", " four", " five", " six", " seven", " eight"],
    [" nine", " ten", " eleven", " twelve", " north", " south", " east", " west"],
    [" blue", " green", " black", " white", " gold", " silver", " iron", " stone"],
]
SMOOTH = 4


def lang_token(code: str) -> int:
    return LANG_FIRST + LANGUAGES.index(code)


def lang_group(token: int) -> int:
    return 0 if token == lang_token("en") else 1 if token == lang_token("zh") else 2


def _byte_order() -> list[int]:
    """GPT-2's byte-level order of the 256 single-byte ranks (printable first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    return bs + [b for b in range(256) if b not in bs]


def vocabulary() -> tuple[list[bytes], list[list[int]]]:
    """(the 50257 byte strings by rank, the piece ids per group)."""
    toks: list[bytes] = [bytes([b]) for b in _byte_order()]
    used = set(toks)
    ids: list[list[int]] = []
    for group in PIECES:
        row = []
        for p in group:
            b = p.encode("utf-8")
            assert b not in used, p
            used.add(b)
            row.append(len(toks))
            toks.append(b)
        ids.append(row)
    n = 0
    while len(toks) < EOT:   # filler pieces: unique lowercase words with and without a leading space
        n += 1
        k, s = n, ""
        while k > 0:
            k -= 1
            s = chr(ord("a") + k % 26) + s
            k //= 26
        for cand in ((" " + s).encode(), s.encode()):
            if cand not in used and len(toks) < EOT:
                used.add(cand)
                toks.append(cand)
    return toks, ids


def write_tokens(path: str, toks: list[bytes]) -> None:
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for i, b in enumerate(toks):
            f.write(f"{base64.b64encode(b).decode('ascii')} {i}\n")


def metadata() -> dict[str, str]:
    """export-onnx.py:501-534, with the multilingual tokenizer's ids (tiny, base, small, medium, large-v2)."""
    non_speech = [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93]  # not used at run time
    return {
        "model_type": f"whisper-{NAME}",
        "version": "1",
        "maintainer": "k2-fsa",
        "n_mels": str(N_MELS),
        "n_audio_ctx": str(N_AUDIO_CTX),
        "n_audio_state": str(N_AUDIO_STATE),
        "n_audio_head": "1",
        "n_audio_layer": "1",
        "n_vocab": str(N_VOCAB),
        "n_text_ctx": str(N_TEXT_CTX),
        "n_text_state": str(N_TEXT_STATE),
        "n_text_head": "1",
        "n_text_layer": str(N_TEXT_LAYER),
        "sot_sequence": f"{SOT},{lang_token('en')},{TRANSCRIBE}",
        "all_language_tokens": ",".join(str(LANG_FIRST + i) for i in range(len(LANGUAGES))),
        "all_language_codes": ",".join(LANGUAGES),
        "sot": str(SOT),
        "sot_index": "0",
        "eot": str(EOT),
        "blank_id": "220",
        "is_multilingual": "1",
        "no_speech": str(NO_SPEECH),
        "non_speech_tokens": ",".join(map(str, non_speech)),
        "transcribe": str(TRANSCRIBE),
        "translate": str(TRANSLATE),
        "sot_prev": str(SOT_PREV),
        "sot_lm": str(SOT_LM),
        "no_timestamps": str(NO_TIMESTAMPS),
    }


def slice_last(g: Graph, x: str, start: int, end: int) -> str:
    return g.op("Slice", [x, g.const([start], "int64"), g.const([end], "int64"), g.const([-1], "int64")])


def encoder() -> onnx.ModelProto:
    g = Graph("whisper_encoder_tiny", opset=OPSET)
    mel = g.input("mel", "float32", ["n_audio", N_MELS, "T"])
    x = g.op("Transpose", [mel], perm=[0, 2, 1])                      # [N, T, mels]
    w = np.zeros((N_MELS, 2), np.float32)
    w[:, 0] = 1.0 / N_MELS
    w[:20, 1] = 1.0 / 20
    w[-20:, 1] = -1.0 / 20
    s = g.matmul(x, g.weight("score_w", w))                            # [N, T, 2]: p0, tilt
    absum = g.reduce_sum(g.op("Abs", [x]), [2], keepdims=1)           # [N, T, 1]
    valid = g.cast(g.op("Greater", [absum, g.const(1e-3)]), "float32")
    feats = g.op("Concat", [valid, s], axis=2)                        # [N, T, 3]: valid, p0, tilt
    ch = g.op("Transpose", [feats], perm=[0, 2, 1])                   # [N, 3, T]
    kern = np.zeros((3, 1, 3), np.float32)
    kern[:, 0, 1:] = 0.5                                              # frames 2j and 2j+1 (padding 1 on each side)
    pooled = g.op("Conv", [ch, g.weight("pool", kern)], group=3, kernel_shape=[3], pads=[1, 1], strides=[2])
    pooled = g.op("Transpose", [pooled], perm=[0, 2, 1])              # [N, T', 3]
    share = slice_last(g, pooled, 0, 1)                               # 1, 0.5 (last real frame + padding) or 0
    pv = g.cast(g.op("Greater", [share, g.const(0.25)]), "float32")
    # the mean over the pair's real frames (padding frames are all zeros)
    pf = g.div(slice_last(g, pooled, 1, 3), g.op("Max", [share, g.const(0.5)]))
    row = g.op("Concat", [pv, pf], axis=2)                            # [N, T', 3]
    row = g.op("Pad", [row, g.const([0, 0, 0, 0, 0, N_TEXT_STATE - 3], "int64")])   # [N, T', D]
    k0 = g.unsqueeze(row, [0])
    k1 = g.unsqueeze(g.mul(row, g.const(-1.0)), [0])
    cross_k = g.op("Concat", [k0, k1], axis=0)                        # [L, N, T', D]
    cross_v = g.mul(cross_k, g.const(2.0))
    g.output(cross_k, "n_layer_cross_k", "float32", [N_TEXT_LAYER, "n_audio", "T_2", N_TEXT_STATE])
    g.output(cross_v, "n_layer_cross_v", "float32", [N_TEXT_LAYER, "n_audio", "T_2", N_TEXT_STATE])
    return g.model(metadata(), doc="VoxFleet tiny Whisper encoder test graph (sherpa-onnx export layout)")


# embedding columns of the self-cache rows
E_TEXT, E_GROUP, E_NOTS, E_TRANSLATE, E_ONE, E_TS, E_SOT = range(7)


def embedding() -> np.ndarray:
    e = np.zeros((N_VOCAB, N_TEXT_STATE), np.float32)
    e[:EOT, E_TEXT] = 1.0
    e[:, E_ONE] = 1.0
    for i in range(len(LANGUAGES)):
        e[LANG_FIRST + i, E_GROUP] = lang_group(LANG_FIRST + i)
    e[NO_TIMESTAMPS, E_NOTS] = 1.0
    e[TRANSLATE, E_TRANSLATE] = 1.0
    e[TIMESTAMP_BEGIN:, E_TS] = 1.0
    e[SOT, E_SOT] = 1.0
    return e


def decoder(piece_ids: list[list[int]]) -> onnx.ModelProto:
    g = Graph("whisper_decoder_tiny", opset=OPSET)
    tokens = g.input("tokens", "int64", ["n_audio", "n_tokens"])
    kin = g.input("in_n_layer_self_k_cache", "float32", [N_TEXT_LAYER, "n_audio", N_TEXT_CTX, N_TEXT_STATE])
    vin = g.input("in_n_layer_self_v_cache", "float32", [N_TEXT_LAYER, "n_audio", N_TEXT_CTX, N_TEXT_STATE])
    ck = g.input("n_layer_cross_k", "float32", [N_TEXT_LAYER, "n_audio", "T", N_TEXT_STATE])
    cv = g.input("n_layer_cross_v", "float32", [N_TEXT_LAYER, "n_audio", "T", N_TEXT_STATE])
    offset = g.input("offset", "int64", [1])

    emb = g.op("Gather", [g.weight("token_embedding", embedding()), tokens], axis=0)   # [N, n, D]
    n_tok = g.dim(tokens, 1)
    end = g.add(offset, n_tok)

    def write(cache: str, rows: str) -> str:
        """The cache with rows [offset, offset + n) replaced by rows [L, N, n, D]."""
        head = g.op("Slice", [cache, g.const([0], "int64"), offset, g.const([2], "int64")])
        tail = g.op("Slice", [cache, end, g.const([N_TEXT_CTX], "int64"), g.const([2], "int64")])
        return g.op("Concat", [head, rows, tail], axis=2)

    e1 = g.unsqueeze(emb, [0])
    kout = write(kin, g.op("Concat", [e1, g.mul(e1, g.const(2.0))], axis=0))
    vout = write(vin, g.op("Concat", [g.mul(e1, g.const(0.5)), g.mul(e1, g.const(-1.0))], axis=0))

    def prefix_cumsum(cache: str, layer: int, scale: float) -> str:
        """[N, n, D]: sums over cache rows 0..offset+j of the layer, for each new position j."""
        lay = g.squeeze(g.op("Slice", [cache, g.const([layer], "int64"), g.const([layer + 1], "int64"), g.const([0], "int64")]), [0])
        pre = g.op("Slice", [lay, g.const([0], "int64"), end, g.const([1], "int64")])
        cs = g.op("CumSum", [pre, g.const(1, "int64")])
        return g.mul(g.op("Slice", [cs, offset, end, g.const([1], "int64")]), g.const(scale))

    sk = prefix_cumsum(kout, 1, 0.5)    # k layer 1 holds 2 x the embedding
    sv = prefix_cumsum(vout, 0, 2.0)    # v layer 0 holds 0.5 x the embedding
    # audio: layer 0 of cross_k (valid, p0, tilt) and of cross_v (the same x 2)
    ak = g.squeeze(g.op("Slice", [ck, g.const([0], "int64"), g.const([1], "int64"), g.const([0], "int64")]), [0])  # [N, T, D]
    av = g.squeeze(g.op("Slice", [cv, g.const([0], "int64"), g.const([1], "int64"), g.const([0], "int64")]), [0])
    valid = slice_last(g, ak, 0, 1)                       # [N, T, 1]
    feats = g.mul(slice_last(g, av, 1, 3), g.const(0.5))  # [N, T, 2]: p0, tilt
    pos = offset_f(g, offset, tokens)
    logits = decide(g, tokens, sk, sv, valid, feats, pos, piece_ids)
    # outputs in the export's order: sherpa-onnx takes them by position (logits, self k, self v)
    g.output(logits, "logits", "float32", ["n_audio", "n_tokens", N_VOCAB])
    g.output(kout, "out_n_layer_self_k_cache", "float32", [N_TEXT_LAYER, "n_audio", N_TEXT_CTX, N_TEXT_STATE])
    g.output(vout, "out_n_layer_self_v_cache", "float32", [N_TEXT_LAYER, "n_audio", N_TEXT_CTX, N_TEXT_STATE])
    return g.model({}, doc="VoxFleet tiny Whisper decoder test graph (sherpa-onnx export layout)")


def decide(g: Graph, tokens: str, sk: str, sv: str, valid: str, feats: str, pos: str, piece_ids: list[list[int]]) -> str:
    """logits [N, n, V] from the cumulative sums over the self cache (sk: from a 2 x embedding, sv: from a
    0.5 x embedding, both rescaled to the embedding), the audio frames (valid [N, T, 1], p0/tilt [N, T, 2])
    and the absolute positions pos [N, n]."""
    col = lambda t, c: g.squeeze(slice_last(g, t, c, c + 1), [2])    # noqa: E731  [N, n]
    c_text = g.cast(g.op("Round", [col(sv, E_TEXT)]), "int64")
    c_ts = g.cast(g.op("Round", [col(sk, E_TS)]), "int64")
    group = g.cast(g.op("Round", [col(sk, E_GROUP)]), "int64")
    translate = g.cast(g.op("Round", [col(sv, E_TRANSLATE)]), "int64")
    no_ts = g.op("Greater", [col(sv, E_NOTS), g.const(0.5)])
    count = g.cast(g.op("Round", [col(sv, E_ONE)]), "int64")
    is_sot = g.op("Equal", [tokens, g.const(SOT, "int64")])
    detect = g.op("And", [is_sot, g.op("Equal", [count, g.const(1, "int64")])])

    t_len = g.squeeze(g.dim(valid, 1), [0])
    frames = g.op("Range", [g.const(0, "int64"), t_len, g.const(1, "int64")])     # [T]
    n_valid = g.reduce_sum(valid, [1, 2], keepdims=0)     # [N]

    def chunk_of(c: str) -> tuple[str, str, str]:
        """for chunk indices c [N, n]: mean p0, mean tilt [N, n] and the valid frame count [N, n]."""
        lo = g.unsqueeze(g.mul(c, g.const(CHUNK, "int64")), [2])
        hi = g.add(lo, g.const(CHUNK, "int64"))
        f = g.unsqueeze(g.unsqueeze(frames, [0]), [0])
        inside = g.cast(g.op("And", [g.op("Not", [g.op("Less", [f, lo])]), g.op("Less", [f, hi])]), "float32")   # [N, n, T]
        m = g.mul(inside, g.op("Transpose", [valid], perm=[0, 2, 1]))
        sums = g.matmul(m, feats)                                   # [N, n, 2]
        cnt = g.reduce_sum(m, [2], keepdims=0)
        mean = g.div(sums, g.unsqueeze(g.op("Max", [cnt, g.const(1.0)]), [2]))
        return col(mean, 0), col(mean, 1), cnt

    def bucket(v: str, edges: list[float]) -> str:
        acc = None
        for e in edges:
            b = g.cast(g.op("Not", [g.op("Less", [v, g.const(e)])]), "int64")
            acc = b if acc is None else g.add(acc, b)
        return acc

    p0, tilt, cnt = chunk_of(c_text)
    idx = g.add(g.mul(bucket(p0, P0_EDGES), g.const(2, "int64")), g.cast(g.op("Not", [g.op("Less", [tilt, g.const(TILT_EDGE)])]), "int64"))
    grp = g.add(g.op("Clip", [group, g.const(0, "int64"), g.const(2, "int64")]), g.mul(translate, g.const(3, "int64")))
    table = g.weight("pieces", np.asarray(piece_ids, np.int64).reshape(-1))
    piece = g.op("Gather", [table, g.add(g.mul(grp, g.const(8, "int64")), idx)], axis=0)
    empty = g.op("Less", [cnt, g.const(0.5)])
    text_next = g.op("Where", [empty, g.const(EOT, "int64"), piece])

    # segment timestamps: d = timestamps - 2 x text tokens: 0 -> begin of chunk c (or eot), 1 -> piece, -1 -> end of chunk c-1
    d = g.sub(c_ts, g.mul(c_text, g.const(2, "int64")))
    nv = g.unsqueeze(g.cast(n_valid, "int64"), [1])
    begin = g.add(g.mul(c_text, g.const(CHUNK, "int64")), g.const(TIMESTAMP_BEGIN, "int64"))
    end_ts = g.add(g.op("Min", [g.mul(c_text, g.const(CHUNK, "int64")), nv]), g.const(TIMESTAMP_BEGIN, "int64"))
    ts_next = g.op("Where", [g.op("Equal", [d, g.const(1, "int64")]), piece,
                             g.op("Where", [g.op("Equal", [d, g.const(0, "int64")]),
                                            g.op("Where", [empty, g.const(EOT, "int64"), begin]), end_ts])])

    # language detection: mean p0 over every valid frame
    all_p0 = g.div(g.reduce_sum(g.mul(slice_last(g, feats, 0, 1), valid), [1, 2], keepdims=0), g.op("Max", [n_valid, g.const(1.0)]))
    lang = g.const(lang_token(DETECT[0][0]), "int64")
    for code, edge in DETECT[1:]:
        lang = g.op("Where", [g.op("Not", [g.op("Less", [all_p0, g.const(edge)])]), g.const(lang_token(code), "int64"), lang])
    lang = g.unsqueeze(lang, [1])

    chosen = g.op("Where", [detect, g.op("Expand", [lang, g.op("Shape", [tokens])]), g.op("Where", [no_ts, text_next, ts_next])])
    onehot = g.op("OneHot", [chosen, g.const([N_VOCAB], "int64"), g.const([0.0, SCALE])], axis=-1)
    h = g.op("Concat", [g.unsqueeze(p0, [2]), g.unsqueeze(tilt, [2]), g.unsqueeze(g.cast(c_text, "float32"), [2]),
                        g.unsqueeze(g.cast(pos, "float32"), [2])], axis=2)   # [N, n, 4]
    rng = np.random.default_rng(1405)
    w = rng.uniform(-0.3, 0.3, size=(SMOOTH, N_VOCAB)).astype(np.float32)
    logits = g.add(onehot, g.matmul(g.op("Tanh", [g.mul(h, g.const(0.1))]), g.weight("smooth_w", w)))
    return logits

def offset_f(g: Graph, offset: str, tokens: str) -> str:
    """[N, n] int64: the absolute position of each new token (offset + j)."""
    n = g.squeeze(g.dim(tokens, 1), [0])
    j = g.op("Range", [g.const(0, "int64"), n, g.const(1, "int64")])
    pos = g.add(g.unsqueeze(j, [0]), offset)
    return g.op("Expand", [pos, g.op("Shape", [tokens])])


def tiny(out: str) -> int:
    toks, piece_ids = vocabulary()
    write_tokens(os.path.join(out, f"{NAME}-tokens.txt"), toks)
    enc, dec = encoder(), decoder(piece_ids)
    save(enc, os.path.join(out, f"{NAME}-encoder.onnx"))
    save(dec, os.path.join(out, f"{NAME}-decoder.onnx"))
    n = 0
    for part, m in (("encoder", enc), ("decoder", dec)):
        q, k = quantize_model(onnx.load(os.path.join(out, f"{NAME}-{part}.onnx")), "int8", per_channel=False)
        save(q, os.path.join(out, f"{NAME}-{part}.int8.onnx"))
        n += k
    return n


# large-v3 / large-v3-turbo: 128 mel bins and 100 languages (yue last), so every id from translate on
# moves up by one (openai-whisper's tokenizer with num_languages=100) and n_vocab is 51866
V3 = {
    "NAME": "turbo", "N_MELS": 128, "N_VOCAB": 51866, "LANGUAGES": LANGUAGES + ["yue"],
    "TRANSLATE": 50359, "TRANSCRIBE": 50360, "SOT_LM": 50361, "SOT_PREV": 50362, "NO_SPEECH": 50363,
    "NO_TIMESTAMPS": 50364, "TIMESTAMP_BEGIN": 50365,
}


def tiny_v3(out: str) -> int:
    """The tiny graphs with large-v3-turbo's mel bins and ids (files turbo-*: export-onnx.py names them after
    the model; the real turbo export keeps its weights in turbo-*.weights, these graphs are small enough not to)."""
    g = globals()
    saved = {k: g[k] for k in V3}
    g.update(V3)
    try:
        return tiny(out)
    finally:
        g.update(saved)
