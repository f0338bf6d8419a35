import { describe, expect, it } from 'vitest';
import { createFrontEnd } from '../src/frontend/index.js';
import {
  ModelMetadataError,
  SymbolTable,
  TokensFormatError,
  UnsupportedVocabularyError,
  ctcBlankId,
  decodeNemoCtc,
  decodeParaformer,
  decodeSenseVoice,
  nemoCtcFrontEndSpec,
  nemoCtcLogitFrames,
  nemoCtcModelInfo,
  paraformerFrontEndSpec,
  paraformerModelInfo,
  senseVoiceFrontEndSpec,
  senseVoiceLogitFrames,
  senseVoiceModelInfo,
  sherpaFixed2,
  sherpaJsonView,
  sherpaText,
} from '../src/families/index.js';

const f32 = Math.fround;

/** One-hot score rows: row t has its maximum at ids[t]. */
function onehot(ids: readonly number[], vocab: number): Float32Array {
  const out = new Float32Array(ids.length * vocab).fill(-5);
  ids.forEach((id, t) => (out[t * vocab + id] = 0));
  return out;
}

function b64(s: string | Uint8Array): string {
  return Buffer.from(typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');
}

const opts = { durationSec: 2 };

describe('SymbolTable (sherpa-onnx symbol-table.cc)', () => {
  it('reads "symbol id" lines, a lone id as the space symbol, any whitespace, CRLF, blank lines', () => {
    const t = SymbolTable.parse('a 0\r\n 1\n\nb\t\t2  \n▁c 3\n▁▁d 4\n');
    expect([t.symbol(0), t.symbol(1), t.symbol(2), t.symbol(3)]).toEqual(['a', ' ', 'b', '▁c']);
    expect(t.size).toBe(5);
    expect(t.idOf('b')).toBe(2);
    expect(t.idOf(' ')).toBe(1);
    // only the leading "▁" becomes a space
    expect(Buffer.from(t.textBytesOf(3)).toString()).toBe(' c');
    expect(Buffer.from(t.textBytesOf(4)).toString()).toBe(' ▁d');
    expect(t.textBytesOf(99).length).toBe(0);
  });

  it('the first entry wins for a repeated id or symbol (two maps, as in sherpa-onnx)', () => {
    const t = SymbolTable.parse('a 0\na 1\nb 0\n');
    expect(t.symbol(0)).toBe('a');
    expect(t.idOf('a')).toBe(0);
    expect(t.idOf('b')).toBe(0);
    expect(t.symbol(1)).toBe('a');
  });

  it('rejects malformed lines with their line number', () => {
    for (const bad of ['a 0\nb c d\n', 'a x\n', 'a 1.5\n', 'x\n', '', '\n\n', 'a -1\n']) {
      expect(() => SymbolTable.parse(bad), JSON.stringify(bad)).toThrow(TokensFormatError);
    }
    expect(() => SymbolTable.parse('a 0\nb c d\n')).toThrow(/line 2/);
  });

  it('byte fallback: <0xHH> becomes a byte, except 0x00-0x0F (sherpa-onnx prints the offset unpadded)', () => {
    const lines = ['<blk> 0', '▁hi 1'];
    for (let b = 0; b < 256; b++) lines.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}> ${b + 2}`);
    const t = SymbolTable.parse(lines.join('\n'));
    expect(t.hasByteFallback).toBe(true);
    expect(Array.from(t.textBytesOf(0xe4 + 2))).toEqual([0xe4]);
    expect(Array.from(t.textBytesOf(0x41 + 2))).toEqual([0x41]);
    expect(Buffer.from(t.textBytesOf(0x0a + 2)).toString()).toBe('<0x0A>');
    expect(t.isByteFallback(0xe4 + 2)).toBe(true);
    expect(t.isTag(0xe4 + 2)).toBe(false);
    expect(t.isTag(0x0a + 2)).toBe(true);
    expect(t.isTag(0)).toBe(true);
    // not 255 ids apart: no byte fallback
    expect(SymbolTable.parse('<0x00> 0\n<0xFF> 1\n').hasByteFallback).toBe(false);
  });

  it('detects icefall byte-level BPE, which keeps "▁" as is', () => {
    const bbpe = SymbolTable.parse('Ɛ 0\n▁a 1\nĀĂ 2\n');
    expect(bbpe.isByteBpe).toBe(true);
    expect(Buffer.from(bbpe.textBytesOf(1)).toString()).toBe('▁a');
    expect(SymbolTable.parse('中 0\n▁a 1\n').isByteBpe).toBe(false);
    expect(SymbolTable.parse('a 0\n▁b 1\n').isByteBpe).toBe(false);
  });

  it('base64 tables: decoded bytes, a lone id is the empty symbol, sherpa-onnx\'s "=" quirk, bad base64 rejected', () => {
    const t = SymbolTable.parse(
      [`${b64('中')} 0`, ' 1', 'YQ 2', '=AAA 3', `${b64('▁hi')} 4`, `${b64(Uint8Array.of(0xe4, 0xb8))} 5`, 'YWI 6'].join('\n'),
      { base64: true },
    );
    expect(t.symbol(0)).toBe('中');
    expect(t.symbolBytes(1).length).toBe(0);
    expect(t.symbol(2)).toBe('a');
    expect(t.symbol(3)).toBe(' ');
    expect(Buffer.from(t.textBytesOf(4)).toString()).toBe(' hi');
    expect(Array.from(t.symbolBytes(5))).toEqual([0xe4, 0xb8]);
    expect(t.symbol(6)).toBe('ab');
    expect(t.idOf('中')).toBe(0);
    expect(() => SymbolTable.parse('a!b= 0', { base64: true })).toThrow(TokensFormatError);
    expect(() => SymbolTable.parse('YQ==Y 0', { base64: true })).toThrow(/truncated/);
  });
});

describe('sherpa-onnx text post-processing', () => {
  it('drops bytes that start no well-formed UTF-8 sequence, then leading spaces', () => {
    const bytes = (...xs: number[]) => Uint8Array.from(xs);
    expect(sherpaText(bytes(0x20, 0x20, 0x61))).toBe('a');
    expect(sherpaText(bytes(0xe4, 0x20, 0x61))).toBe('a'); // the lone lead byte goes first, then the space
    expect(sherpaText(bytes(0x61, 0xe4, 0xb8, 0xad, 0xde, 0x62))).toBe('a中b');
    expect(sherpaText(bytes(0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x63))).toBe('c'); // overlong, surrogate, > U+10FFFF
    expect(sherpaText(bytes(0xf0, 0x9f, 0x98, 0x80))).toBe('😀');
    expect(sherpaText(bytes(0x20, 0x09, 0x61))).toBe('\ta'); // only ' ' is a leading space
  });
});

describe('sherpa-onnx JSON rounding', () => {
  it('prints timestamps as %.2f of the float value, ties to even', () => {
    expect(sherpaFixed2(0.125)).toBe(0.12);
    expect(sherpaFixed2(0.375)).toBe(0.38);
    expect(sherpaFixed2(f32(0.015))).toBe(0.01); // 0.0149999996...
    expect(sherpaFixed2(f32(0.025))).toBe(0.03); // 0.0250000004...
    expect(sherpaFixed2(f32(3 * f32(0.06)))).toBe(0.18);
    expect(sherpaFixed2(0)).toBe(0);
  });
});

const SV_TOKENS = [
  '<unk> 0',
  '<|zh|> 1',
  '<|en|> 2',
  '<|NEUTRAL|> 3',
  '<|Speech|> 4',
  '<|woitn|> 5',
  '<|withitn|> 6',
  '▁the 7',
  '▁cat 8',
  's 9',
  '中 10',
  '国 11',
  '。 12',
  '. 13',
].join('\n');
const SV = { variant: 'sensevoice', blankId: 0, lfrWindowShift: 6 } as const;

describe('SenseVoice decoder', () => {
  const table = SymbolTable.parse(SV_TOKENS);
  const V = 14;

  it('tags from the first 4 tokens, text and times from the rest, exactly as sherpa-onnx', () => {
    const ids = [2, 3, 4, 5, 7, 7, 0, 8, 9, 0, 13];
    const r = decodeSenseVoice({ data: onehot(ids, V), frames: ids.length, vocab: V }, table, SV, opts);
    expect(r.sherpa).toEqual({
      text: 'the cats.',
      tokens: [' the', ' cat', 's', '.'],
      timestamps: [0, 3, 4, 6].map((t) => f32(t * f32(0.06))),
      lang: '<|en|>',
      emotion: '<|NEUTRAL|>',
      event: '<|Speech|>',
    });
    expect(sherpaJsonView(r.sherpa).timestamps).toEqual([0, 0.18, 0.24, 0.36]);
    expect([r.language, r.emotion, r.event, r.itn]).toEqual(['en', 'NEUTRAL', 'Speech', false]);
    expect(r.text).toBe('the cats.');
    expect(r.tokens.map((t) => [t.text, t.start, t.end])).toEqual([
      [' the', 0, 0.12],
      [' cat', 0.18, 0.24],
      ['s', 0.24, 0.3],
      ['.', 0.36, 0.42],
    ]);
    expect(r.segments).toEqual([{ start: 0, end: 0.42, text: 'the cats.' }]);
    expect(r.durationSec).toBe(2);
  });

  it('reads only x_length + 4 rows of its batch row', () => {
    const T = 10;
    const rowA = [1, 3, 4, 6, 10, 11, 12, 0, 0, 0];
    const rowB = [2, 3, 4, 6, 8, 0, 9, 9, 9, 9]; // rows 7.. are padding and must be ignored
    const batch = new Float32Array(2 * T * V);
    batch.set(onehot(rowA, V), 0);
    batch.set(onehot(rowB, V), T * V);
    const frames = senseVoiceLogitFrames(SV, 3);
    expect(frames).toBe(7);
    const b = decodeSenseVoice({ data: batch, offset: T * V, frames, vocab: V }, table, SV, opts);
    expect(b.sherpa.text).toBe('cats');
    expect(b.itn).toBe(true);
    const a = decodeSenseVoice({ data: batch, offset: 0, frames: T, vocab: V }, table, SV, opts);
    expect([a.sherpa.text, a.text, a.language]).toEqual(['中国。', '中国。', 'zh']);
  });

  it('fewer than 3 decoded tokens leave lang/emotion/event empty; tags later in the text stay in sherpa text only', () => {
    const short = decodeSenseVoice({ data: onehot([2, 3, 0], V), frames: 3, vocab: V }, table, SV, opts);
    expect([short.sherpa.lang, short.sherpa.text, short.language, short.text]).toEqual(['', '', undefined, '']);
    const mid = decodeSenseVoice({ data: onehot([2, 3, 4, 5, 10, 1, 11], V), frames: 7, vocab: V }, table, SV, opts);
    expect(mid.sherpa.text).toBe('中<|zh|>国');
    expect(mid.text).toBe('中国');
    expect(mid.tokens.map((t) => t.text)).toEqual(['中', '国']);
  });

  it('segments at pauses and sentence ends; CJK characters are never spaced apart inside a segment', () => {
    const ids = [2, 3, 4, 5, 7, 13, 0, 8, ...new Array(12).fill(0), 10, 11];
    const r = decodeSenseVoice({ data: onehot(ids, V), frames: ids.length, vocab: V }, table, SV, opts);
    expect(r.segments.map((s) => s.text)).toEqual(['the.', 'cat', '中国']);
    expect(r.text).toBe('the. cat 中国');
    expect(r.sherpa.text).toBe('the. cat中国');
    expect(r.segments[2]).toMatchObject({ start: 0.96, end: 1.08 });
  });

  it('Nano CTC variant: base64 tokens, no tags, times from frame 0, blank = vocab - 1', () => {
    const nanoTable = SymbolTable.parse(
      [`${b64('▁hello')} 0`, `${b64(Uint8Array.of(0xe4, 0xb8))} 1`, `${b64(Uint8Array.of(0xad))} 2`, ' 3', `${b64('<blank>')} 4`].join('\n'),
      { base64: true },
    );
    const info = { variant: 'nano', blankId: 4, lfrWindowShift: 6 } as const;
    const ids = [0, 4, 1, 2, 2, 3, 4];
    const r = decodeSenseVoice({ data: onehot(ids, 5), frames: senseVoiceLogitFrames(info, ids.length), vocab: 5 }, nanoTable, info, opts);
    expect(r.sherpa).toEqual({
      text: 'hello中',
      tokens: [' hello', '\ufffd', '<0xAD>', ''],
      timestamps: [0, 2, 3, 5].map((t) => f32(t * f32(0.06))),
      lang: '',
      emotion: '',
      event: '',
    });
    expect(r.text).toBe('hello中');
    expect(r.language).toBeUndefined();
  });

  it('bad shapes throw RangeError; ids outside tokens.txt give empty text, not a crash', () => {
    expect(() => decodeSenseVoice({ data: new Float32Array(10), frames: 3, vocab: V }, table, SV, opts)).toThrow(RangeError);
    const r = decodeSenseVoice({ data: onehot([2, 3, 4, 5, 19], 20), frames: 5, vocab: 20 }, table, SV, opts);
    expect(r.sherpa.tokens).toEqual(['']);
    expect(r.text).toBe('');
  });
});

describe('Paraformer decoder', () => {
  const table = SymbolTable.parse(
    ['<blank> 0', '<s> 1', '</s> 2', '中 3', '国 4', 'hel@@ 5', 'lo 6', 'world 7', '<unk> 8', 'a@ 9'].join('\n'),
  );
  const V = 10;
  const run = (ids: number[], extra: Parameters<typeof decodeParaformer>[2] = opts) =>
    decodeParaformer({ data: onehot(ids, V), rows: ids.length, vocab: V }, table, extra);

  it('stops at the first </s> and ignores the rows after it', () => {
    const r = run([3, 4, 2, 7, 7]);
    expect([r.sherpa.text, r.sherpa.tokens, r.timed]).toEqual(['中国', ['中', '国'], false]);
    expect(r.sherpa.timestamps).toEqual([]);
    expect(r.segments).toEqual([{ start: 0, end: 2, text: '中国' }]);
  });

  it('joins "@@" pieces, spaces ASCII words, spaces CJK only after ASCII (sherpa-onnx Convert)', () => {
    expect(run([5, 6, 7, 3]).sherpa).toMatchObject({ text: 'hello world 中', tokens: ['hel@@', 'lo', 'world', '中'] });
    expect(run([3, 7, 4]).sherpa.text).toBe('中 world 国');
    expect(run([5, 3]).sherpa.text).toBe('hel 中');
    // a two-byte piece ending in "@" counts as ending in "@@": it vanishes and joins the next
    expect(run([9, 6]).sherpa.text).toBe('lo');
    expect(run([5, 6, 7]).text).toBe('hello world');
  });

  it('times from us_cif_peak: index x 20 ms, last peak dropped, used only when counts match', () => {
    const peaks = new Float32Array(20).fill(0.2);
    peaks[2] = 1;
    peaks[5] = f32(0.99995);
    peaks[9] = 1;
    peaks[12] = f32(0.9999); // just below 1 - 1e-4
    const r = run([3, 4, 2], { ...opts, peaks: { data: peaks, length: 20 } });
    expect(r.timed).toBe(true);
    expect(r.sherpa.timestamps).toEqual([f32(2 * f32(0.02)), f32(5 * f32(0.02))]);
    expect(r.tokens.map((t) => [t.text, t.start, t.end])).toEqual([
      ['中', 0.04, 0.1],
      ['国', 0.1, 0.18],
    ]);
    const few = run([3, 4, 2], { ...opts, peaks: { data: peaks.subarray(0, 6), length: 6 } });
    expect([few.timed, few.sherpa.timestamps]).toEqual([false, []]);
    // a batched peak row is read from its offset
    const batch = new Float32Array(40);
    batch.set(peaks, 20);
    expect(run([3, 4, 2], { ...opts, peaks: { data: batch, offset: 20, length: 20 } }).timed).toBe(true);
  });

  it('needs </s>; <unk> stays in sherpa text only', () => {
    expect(() => decodeParaformer({ data: onehot([0], 2), rows: 1, vocab: 2 }, SymbolTable.parse('a 0\nb 1'), opts)).toThrow(
      UnsupportedVocabularyError,
    );
    // <unk> is ASCII to sherpa-onnx, so it is spaced; the Transcript's text is assembled without it
    const r = run([3, 8, 4]);
    expect([r.sherpa.text, r.text]).toEqual(['中 <unk> 国', '中国']);
  });
});

describe('NeMo CTC decoder', () => {
  const table = SymbolTable.parse(['▁hello 0', '▁world 1', 's 2', '</s> 3', '<blk> 4'].join('\n'));
  const info = { subsamplingFactor: 8 };

  it('blank <blk>, leading space dropped, frame x 80 ms in float32', () => {
    expect(ctcBlankId(table)).toBe(4);
    const ids = [4, 0, 0, 4, 1, 2, 2, 4];
    const r = decodeNemoCtc({ data: onehot(ids, 5), frames: ids.length, vocab: 5 }, table, info, opts);
    expect(r.sherpa).toEqual({
      text: 'hello worlds',
      tokens: [' hello', ' world', 's'],
      timestamps: [1, 4, 5].map((t) => f32(t * f32(0.08))),
      lang: '',
      emotion: '',
      event: '',
    });
    expect(sherpaJsonView(r.sherpa).timestamps).toEqual([0.08, 0.32, 0.4]);
    expect(r.text).toBe('hello worlds');
    expect(r.tokens.map((t) => [t.start, t.end])).toEqual([
      [0.08, 0.24],
      [0.32, 0.4],
      [0.4, 0.56],
    ]);
  });

  it('</s> (and SIL) leave text and tokens but keep their timestamps', () => {
    const ids = [0, 3, 1];
    const r = decodeNemoCtc({ data: onehot(ids, 5), frames: 3, vocab: 5 }, table, info, opts);
    expect(r.sherpa.tokens).toEqual([' hello', ' world']);
    expect(r.sherpa.timestamps.length).toBe(3);
    expect(r.sherpa.text).toBe('hello world');
  });

  it('reads floor(T / subsampling) rows; byte-fallback tokens as <0xHH>, assembled into UTF-8', () => {
    expect(nemoCtcLogitFrames(info, 103)).toBe(12);
    const lines = ['▁a 0'];
    for (let b = 0; b < 256; b++) lines.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}> ${b + 1}`);
    lines.push('<blk> 257');
    const bt = SymbolTable.parse(lines.join('\n'));
    const ids = [0, 0xe4 + 1, 0xb8 + 1, 0xad + 1, 0x41 + 1, 0x0a + 1, 257];
    const r = decodeNemoCtc({ data: onehot(ids, 258), frames: 6, vocab: 258 }, bt, info, opts);
    expect(r.sherpa.text).toBe('a中A<0x0A>');
    expect(r.sherpa.tokens).toEqual([' a', '<0xE4>', '<0xB8>', '<0xAD>', 'A', '<0x0A>']);
    expect(r.text).toBe('a中A');
  });

  it('refuses vocabularies it cannot decode', () => {
    expect(() => ctcBlankId(SymbolTable.parse('a 0\nb 1'))).toThrow(UnsupportedVocabularyError);
    const bbpe = SymbolTable.parse('Ɛ 0\n<blk> 1');
    expect(() => decodeNemoCtc({ data: onehot([0], 2), frames: 1, vocab: 2 }, bbpe, info, opts)).toThrow(UnsupportedVocabularyError);
  });
});

describe('model metadata -> front-end spec', () => {
  const cmvn = { neg_mean: new Array(560).fill('-1.5').join(','), inv_stddev: new Array(560).fill('0.25').join(',') };
  const senseVoiceMeta = {
    lfr_window_size: '7',
    lfr_window_shift: '6',
    normalize_samples: '0',
    vocab_size: '25055',
    lang_auto: '0',
    lang_zh: '3',
    lang_en: '4',
    lang_yue: '7',
    lang_ja: '11',
    lang_ko: '12',
    with_itn: '14',
    without_itn: '15',
    comment: 'iic/SenseVoiceSmall',
    ...cmvn,
  };

  it('SenseVoice: LFR 7/6 with FunASR padding, x32768, CMVN from metadata', () => {
    const info = senseVoiceModelInfo(senseVoiceMeta);
    expect(info).toMatchObject({ variant: 'sensevoice', blankId: 0, scale: 32768, withItnId: 14, withoutItnId: 15 });
    expect(info.languageIds).toEqual({ auto: 0, zh: 3, en: 4, ja: 11, ko: 12, yue: 7 });
    const spec = senseVoiceFrontEndSpec(info);
    expect(spec).toMatchObject({ kind: 'funasr', lfr: { m: 7, n: 6, padding: 'funasr' } });
    const fe = createFrontEnd(spec);
    expect(fe.dim).toBe(560);
    expect(fe.frames(16000)).toBe(17);
    const { neg_mean: _n, ...noCmvn } = senseVoiceMeta;
    expect(() => senseVoiceModelInfo(noCmvn)).toThrow(ModelMetadataError);
    expect(() => senseVoiceModelInfo({ ...senseVoiceMeta, lfr_window_shift: '-6' })).toThrow(ModelMetadataError);
  });

  it('Nano CTC: recognised by its comment; no CMVN, blank from metadata', () => {
    const info = senseVoiceModelInfo({ lfr_window_size: '7', lfr_window_shift: '6', normalize_samples: '0', vocab_size: '60515', blank_id: '60514', comment: 'Fun-ASR-Nano CTC' });
    expect(info).toMatchObject({ variant: 'nano', blankId: 60514, cmvn: null });
    expect(senseVoiceFrontEndSpec(info)).toMatchObject({ cmvn: null, lfr: { padding: 'funasr' } });
  });

  it('Paraformer and NeMo CTC', () => {
    const p = paraformerModelInfo({ vocab_size: '8404', lfr_window_size: '7', lfr_window_shift: '6', ...cmvn });
    expect(createFrontEnd(paraformerFrontEndSpec(p)).dim).toBe(560);
    expect(() => paraformerModelInfo({ vocab_size: '8404', lfr_window_size: '7', lfr_window_shift: '6', ...cmvn, inv_stddev: '1,2' })).toThrow(
      /560/,
    );
    const n = nemoCtcModelInfo({ vocab_size: '1024', normalize_type: 'per_feature', subsampling_factor: '8' });
    expect(n).toEqual({ vocabSize: 1024, subsamplingFactor: 8, normalize: 'per_feature' });
    expect(nemoCtcModelInfo({ vocab_size: '1024', normalize_type: 'NA', subsampling_factor: '8' }).normalize).toBe('none');
    expect(() => nemoCtcModelInfo({ vocab_size: '1024', normalize_type: 'all_features', subsampling_factor: '8' })).toThrow(ModelMetadataError);
    const fe = createFrontEnd(nemoCtcFrontEndSpec(n, 128));
    expect([fe.dim, fe.layout, fe.frames(16000)]).toEqual([128, 'channels-first', 100]);
  });
});
