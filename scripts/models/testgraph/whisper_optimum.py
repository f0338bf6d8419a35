"""Whisper as transformers.js / optimum export it (contract §5b; e.g. onnx-community/whisper-tiny):

  onnx/encoder_model.onnx (+ onnx/encoder_model_quantized.onnx, transformers.js's q8 suffix)
    input_features f32 [batch_size, 80, 3000] (only the batch dynamic)
    -> last_hidden_state f32 [batch_size, 1500, d_model]
  onnx/decoder_model_merged.onnx (+ _quantized)
    input_ids i64 [batch_size, decoder_sequence_length], encoder_hidden_states f32 [batch_size, 1500, d_model],
    past_key_values.{i}.decoder.key/value f32 [batch_size, heads, past_decoder_sequence_length, head_dim],
    past_key_values.{i}.encoder.key/value f32 [batch_size, heads, encoder_sequence_length_out, head_dim],
    use_cache_branch bool [1]
    -> logits f32 [batch_size, decoder_sequence_length, 51865], present.{i}.decoder.key/value (past + new rows),
       present.{i}.encoder.key/value: computed from encoder_hidden_states when use_cache_branch is false; with
       the cache branch an If returns placeholders (zero rows), as merged exports do: the caller keeps step 1's
  config.json, generation_config.json (ids: decoder_start_token_id, lang_to_id, task_to_id,
  no_timestamps_token_id, eos, begin_suppress_tokens, suppress_tokens), preprocessor_config.json,
  tokenizer.json (byte-level BPE, the specials and the timestamps as added tokens, the timestamps not special) +
  tokenizer_config.json.

The tiny graphs decide as the sherpa-onnx layout's (whisper.py `decide`): the same embedding rows in the
self caches, the same chunk pieces, language detection on [sot]; the encoder's valid flag is "above the
input's floor" (transformers.js pads the audio to 30 s, so padding frames sit at max - 8, not at 0).
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

from convert.int8 import quantize_model

from . import whisper as W
from .builder import Graph, save

D_MODEL = 8
HEADS = 1
HEAD_DIM = 8
LAYERS = 2
FRAMES = 3000
ENC_LEN = 1500
# suppress lists of generation_config.json: chosen among the filler ids (the real files list symbols)
SUPPRESS = [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359, 503, 522]
BEGIN_SUPPRESS = [220, W.EOT]


def encoder() -> onnx.ModelProto:
    g = Graph("whisper_optimum_encoder_tiny", opset=W.OPSET)
    feats_in = g.input("input_features", "float32", ["batch_size", W.N_MELS, FRAMES])
    x = g.op("Transpose", [feats_in], perm=[0, 2, 1])                       # [B, T, mels]
    w = np.zeros((W.N_MELS, 2), np.float32)
    w[:, 0] = 1.0 / W.N_MELS
    w[:20, 1] = 1.0 / 20
    w[-20:, 1] = -1.0 / 20
    s = g.matmul(x, g.weight("score_w", w))                                  # [B, T, 2]
    fmax = g.op("ReduceMax", [x], axes=[2], keepdims=1)                      # [B, T, 1]
    floor = g.op("ReduceMin", [x], axes=[1, 2], keepdims=1)                  # [B, 1, 1]
    valid = g.cast(g.op("Greater", [g.sub(fmax, floor), g.const(1e-3)]), "float32")
    f3 = g.op("Concat", [valid, s], axis=2)
    ch = g.op("Transpose", [f3], perm=[0, 2, 1])
    kern = np.zeros((3, 1, 3), np.float32)
    kern[:, 0, 1:] = 0.5
    pooled = g.op("Transpose", [g.op("Conv", [ch, g.weight("pool", kern)], group=3, kernel_shape=[3], pads=[1, 1], strides=[2])], perm=[0, 2, 1])
    share = W.slice_last(g, pooled, 0, 1)
    pv = g.cast(g.op("Greater", [share, g.const(0.25)]), "float32")
    # padding frames carry real (floor) values here: the mean over the pair counts only valid frames when one is
    pf = g.div(W.slice_last(g, pooled, 1, 3), g.op("Max", [share, g.const(0.5)]))
    row = g.op("Concat", [pv, pf], axis=2)
    row = g.op("Pad", [row, g.const([0, 0, 0, 0, 0, D_MODEL - 3], "int64")])
    g.output(row, "last_hidden_state", "float32", ["batch_size", ENC_LEN, D_MODEL])
    return g.model({}, doc="VoxFleet tiny Whisper encoder test graph (optimum / transformers.js layout)")


def decoder(piece_ids: list[list[int]]) -> onnx.ModelProto:
    g = Graph("whisper_optimum_decoder_merged_tiny", opset=W.OPSET)
    ids = g.input("input_ids", "int64", ["batch_size", "decoder_sequence_length"])
    hidden = g.input("encoder_hidden_states", "float32", ["batch_size", "encoder_sequence_length / 2", D_MODEL])
    past = {}
    for i in range(LAYERS):
        for side in ("decoder", "encoder"):
            for kv in ("key", "value"):
                seq = "past_decoder_sequence_length" if side == "decoder" else "encoder_sequence_length_out"
                past[(i, side, kv)] = g.input(f"past_key_values.{i}.{side}.{kv}", "float32", ["batch_size", HEADS, seq, HEAD_DIM])
    use_cache = g.input("use_cache_branch", "bool", [1])

    # encoder K/V: computed from the encoder output (no cache), else the past ones are used and placeholders returned
    h4 = g.unsqueeze(hidden, [1])                                            # [B, 1, T, D]
    scale = {(0, "key"): 1.0, (0, "value"): 2.0, (1, "key"): -1.0, (1, "value"): -2.0}
    names = [(i, kv) for i in range(LAYERS) for kv in ("key", "value")]
    computed = {k: g.mul(h4, g.const(scale[k])) for k in names}
    then_nodes, then_outs, else_nodes, else_outs = [], [], [], []
    used, present_enc = {}, {}
    for (i, kv) in names:
        u, p = f"enc_used_{i}_{kv}", f"enc_present_{i}_{kv}"
        used[(i, kv)], present_enc[(i, kv)] = u, p
        src = past[(i, "encoder", kv)]
        then_nodes.append(helper.make_node("Identity", [src], [u + "_t"]))
        then_nodes.append(helper.make_node("Slice", [src, g.const([0], "int64"), g.const([0], "int64"), g.const([2], "int64")], [p + "_t"]))
        else_nodes.append(helper.make_node("Identity", [computed[(i, kv)]], [u + "_e"]))
        else_nodes.append(helper.make_node("Identity", [computed[(i, kv)]], [p + "_e"]))
        for lst, sfx in ((then_outs, "_t"), (else_outs, "_e")):
            lst.append(helper.make_tensor_value_info(u + sfx, TensorProto.FLOAT, None))
            lst.append(helper.make_tensor_value_info(p + sfx, TensorProto.FLOAT, None))
    then_g = helper.make_graph(then_nodes, "optimum_merged_with_past", [], then_outs)
    else_g = helper.make_graph(else_nodes, "optimum_merged_without_past", [], else_outs)
    outs = [x for k in names for x in (used[k], present_enc[k])]
    g.nodes.append(helper.make_node("If", [g.cast(use_cache, "bool")], outs, name="optimum::if", then_branch=then_g, else_branch=else_g))

    emb = g.op("Gather", [g.weight("token_embedding", W.embedding()), ids], axis=0)      # [B, n, D]
    e4 = g.unsqueeze(emb, [1])                                                           # [B, 1, n, D]
    rows = {(0, "key"): 1.0, (0, "value"): 0.5, (1, "key"): 2.0, (1, "value"): -1.0}
    present_dec = {k: g.op("Concat", [past[(k[0], "decoder", k[1])], g.mul(e4, g.const(v))], axis=2) for k, v in rows.items()}
    past_len = g.dim(past[(0, "decoder", "key")], 2)

    def cum(t: str, scale_: float) -> str:
        """[B, n, D]: sums over rows 0..past+j for each new position j (scaled back to the embedding)."""
        cs = g.op("CumSum", [g.squeeze(t, [1]), g.const(1, "int64")])
        end = g.add(past_len, g.dim(ids, 1))
        return g.mul(g.op("Slice", [cs, past_len, end, g.const([1], "int64")]), g.const(scale_))

    sk = cum(present_dec[(1, "key")], 0.5)
    sv = cum(present_dec[(0, "value")], 2.0)
    ak = g.squeeze(used[(0, "key")], [1])
    av = g.squeeze(used[(0, "value")], [1])
    valid = W.slice_last(g, ak, 0, 1)
    feats = g.mul(W.slice_last(g, av, 1, 3), g.const(0.5))
    n = g.squeeze(g.dim(ids, 1), [0])
    j = g.op("Range", [g.const(0, "int64"), n, g.const(1, "int64")])
    pos = g.op("Expand", [g.add(g.unsqueeze(j, [0]), past_len), g.op("Shape", [ids])])
    logits = W.decide(g, ids, sk, sv, valid, feats, pos, piece_ids)
    g.output(logits, "logits", "float32", ["batch_size", "decoder_sequence_length", W.N_VOCAB])
    for i in range(LAYERS):
        for kv in ("key", "value"):
            g.output(present_dec[(i, kv)], f"present.{i}.decoder.{kv}", "float32", ["batch_size", HEADS, "past_decoder_sequence_length + 1", HEAD_DIM])
            g.output(present_enc[(i, kv)], f"present.{i}.encoder.{kv}", "float32", ["batch_size", HEADS, "encoder_sequence_length_out", HEAD_DIM])
    return g.model({}, doc="VoxFleet tiny Whisper merged decoder test graph (optimum / transformers.js layout)")


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def special_tokens() -> list[str]:
    """ids 50257.. 51864: eot, sot, the 99 languages, translate, transcribe, sot_lm, sot_prev, nocaptions, notimestamps, timestamps."""
    out = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{c}|>" for c in W.LANGUAGES]
    out += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    out += [f"<|{k * 0.02:.2f}|>" for k in range(1501)]
    assert len(out) == W.N_VOCAB - W.EOT
    return out


def tokenizer_json(toks: list[bytes]) -> dict:
    b2u = _bytes_to_unicode()
    vocab = {"".join(b2u[b] for b in t): i for i, t in enumerate(toks)}
    assert len(vocab) == len(toks)
    # the timestamp tokens are added tokens that are not special, as in the Hub's Whisper tokenizers (added with
    # add_tokens, transformers PR 24476): transformers.js's _decode_asr reads them as timestamps only then
    added = [{"id": W.EOT + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": W.EOT + k < W.TIMESTAMP_BEGIN}
             for k, s in enumerate(special_tokens())]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": []},
    }


def configs() -> dict[str, dict]:
    lang_to_id = {f"<|{c}|>": W.lang_token(c) for c in W.LANGUAGES}
    return {
        "config.json": {
            "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"], "d_model": D_MODEL,
            "encoder_layers": 1, "decoder_layers": LAYERS, "encoder_attention_heads": HEADS, "decoder_attention_heads": HEADS,
            "num_mel_bins": W.N_MELS, "vocab_size": W.N_VOCAB, "max_source_positions": ENC_LEN, "max_target_positions": W.N_TEXT_CTX,
            "decoder_start_token_id": W.SOT, "eos_token_id": W.EOT, "bos_token_id": W.EOT, "pad_token_id": W.EOT,
            "is_encoder_decoder": True, "use_cache": True,
        },
        "generation_config.json": {
            "decoder_start_token_id": W.SOT, "eos_token_id": W.EOT, "bos_token_id": W.EOT, "pad_token_id": W.EOT,
            "is_multilingual": True, "lang_to_id": lang_to_id, "task_to_id": {"transcribe": W.TRANSCRIBE, "translate": W.TRANSLATE},
            "no_timestamps_token_id": W.NO_TIMESTAMPS, "max_length": W.N_TEXT_CTX, "max_initial_timestamp_index": 50,
            "begin_suppress_tokens": BEGIN_SUPPRESS, "suppress_tokens": SUPPRESS, "return_timestamps": False,
        },
        "preprocessor_config.json": {
            "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": W.N_MELS, "n_fft": 400, "hop_length": 160,
            "chunk_length": 30, "n_samples": 480000, "nb_max_frames": FRAMES, "sampling_rate": 16000, "padding_value": 0.0,
            "padding_side": "right", "return_attention_mask": False, "processor_class": "WhisperProcessor",
        },
        "tokenizer_config.json": {
            "tokenizer_class": "WhisperTokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "model_max_length": 1024, "clean_up_tokenization_spaces": False,
        },
    }


def tiny(out: str) -> int:
    toks, piece_ids = W.vocabulary()
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    for name, obj in configs().items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(toks), f, ensure_ascii=False)
    n = 0
    for part, m in (("encoder_model", encoder()), ("decoder_model_merged", decoder(piece_ids))):
        path = os.path.join(out, "onnx", f"{part}.onnx")
        save(m, path)
        q, k = quantize_model(onnx.load(path), "uint8", per_channel=False)
        save(q, os.path.join(out, "onnx", f"{part}_quantized.onnx"))
        n += k
    return n
