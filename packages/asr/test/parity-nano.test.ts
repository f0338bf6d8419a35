/**
 * Fun-ASR-Nano (sherpa-onnx's LLM export: encoder_adaptor, embedding, llm with the fixed-size
 * KV cache and key/value deltas) against sherpa-onnx, on the tiny graphs with the export's
 * exact files, signatures and metadata (scripts/models/testgraph funasr-nano) and real speech
 * from fixtures/audio: text, tokens and timestamps equal sherpa-onnx-node's on fp32, int8 and
 * the fp16 build (float16 caches), batched and one at a time, with the job options in the
 * prompt; the batched LLM decode equals one at a time with short and long utterances mixed;
 * KV-cache decoding equals a full recompute without cache; both stop tokens; the 512-position
 * budget (audio rows trimmed as sherpa-onnx trims them); the repetition guard stops a graph
 * built to loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestGraph, fixtureSamples, sherpaTranscribe, type SherpaResult } from '@voxfleet/testkit';
import { FUNASR_NANO_LANGUAGES, funAsrNanoPromptText } from '@voxfleet/tokenizer';
import { AsrEngine, NanoModel, type NanoPrompt } from '../src/index.js';
import { sherpaFixed2 } from '../src/families/index.js';
import { nanoAudioRows } from '../src/families/funasr-nano.js';
import { createFrontEnd } from '../src/frontend/spec.js';
import { loadModelSpec } from '../src/registry.js';
import { asrConfigSchema } from '../src/config.js';

const CLIPS = ['en-funasr-example.wav', 'zh-funasr-example.wav', 'yue-funasr-example.wav', 'zh-aishell-BAC009S0724W0121.wav', 'en-librispeech-1995-1837-0001.wav'];

interface WithSherpa {
  sherpa: { text: string; tokens: string[]; timestamps: number[] };
}
const view = (t: unknown) => {
  const s = (t as WithSherpa).sherpa;
  return { text: s.text, tokens: s.tokens, timestamps: s.timestamps.map(sherpaFixed2) };
};
const ref = (r: SherpaResult) => ({ text: r.text, tokens: r.tokens, timestamps: r.timestamps });

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('Fun-ASR-Nano: parity with sherpa-onnx on the exact-signature graphs and real speech', () => {
  let dir: string;
  let loopDir: string;
  let clips: Float32Array[];
  let fp32: AsrEngine;
  let direct: NanoModel;
  let loop: NanoModel;

  beforeAll(async () => {
    dir = await ensureTestGraph('funasr-nano');
    loopDir = await ensureTestGraph('funasr-nano-loop');
    clips = await Promise.all(CLIPS.map((c) => fixtureSamples(c)));
    // the engine fixes batched LLM steps (what these tests compare with sherpa-onnx); `direct` leaves it to the measurement at load
    fp32 = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1, nanoBatch: 'on' });
    const cfg = asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1 });
    direct = await NanoModel.load(await loadModelSpec(cfg), cfg);
    const lcfg = asrConfigSchema.parse({ modelPath: loopDir, provider: 'cpu', precision: 'fp32', threads: 1 });
    loop = await NanoModel.load(await loadModelSpec(lcfg), lcfg);
  }, 600_000);
  afterAll(async () => {
    await fp32?.close();
    await direct?.release();
    await loop?.release();
  });

  it('loads the three graphs and says how it decodes', () => {
    expect(fp32.report).toMatchObject({ kind: 'funasr-nano', precision: 'fp32', provider: 'cpu', options: { language: true, itn: true } });
    expect(fp32.report.decoder).toMatch(/LLM greedy .*512 positions.*audio rows: all.*float32 cache; LLM steps batched across utterances \(VOXFLEET_NANO_BATCH=on\)/);
    expect(fp32.report.modelId).toMatch(/@[0-9a-f]{12}\/fp32$/);
  });

  it('chooses batched or one-at-a-time LLM steps by timing both at load (VOXFLEET_NANO_BATCH=auto, the default)', () => {
    expect(direct.report.decoder).toMatch(
      /; LLM steps (batched across utterances|one utterance at a time) \(measured at load: batched \d+ ms, one at a time \d+ ms on 4 x 3 s, ≤ 32 new tokens each\)\)$/,
    );
  });

  it('gives sherpa-onnx text, tokens and timestamps token for token (batched and one by one)', async () => {
    const expected = (await sherpaTranscribe('funasr-nano', dir, clips.map((c) => c.slice()))).map(ref);
    const batched = (await fp32.transcribe(clips.map((c) => c.slice()))).transcripts;
    expect(batched.map(view)).toEqual(expected);
    for (let i = 0; i < clips.length; i++) {
      const one = (await fp32.transcribe([clips[i]!.slice()])).transcripts[0]!;
      expect(view(one)).toEqual(expected[i]);
    }
    expect(expected.every((e) => e.tokens.length >= 10)).toBe(true);
    expect(new Set(expected.map((e) => e.text)).size).toBe(expected.length);
    // the Transcript: text, one segment, tokens with their times
    expect(batched[0]!.text).toBe(expected[0]!.text);
    expect(batched[0]!.tokens.map((t) => t.text)).toEqual(expected[0]!.tokens);
  }, 300_000);

  it('and on the int8 build and the fp16 build with its float16 caches (one at a time, as sherpa-onnx decodes)', async () => {
    for (const [precision, llm] of [['int8', 'llm.int8.onnx'], ['fp16', 'llm.fp16.onnx']] as const) {
      const engine = await AsrEngine.start({ modelPath: dir, provider: 'cpu', precision, threads: 1 });
      try {
        expect(engine.report.precision).toBe(precision);
        if (precision === 'fp16') expect(engine.report.decoder).toMatch(/float16 cache/);
        const expected = (await sherpaTranscribe('funasr-nano', dir, clips.slice(0, 3).map((c) => c.slice()), { model: llm })).map(ref);
        for (let i = 0; i < 3; i++) expect(view((await engine.transcribe([clips[i]!.slice()])).transcripts[0])).toEqual(expected[i]);
      } finally {
        await engine.close();
      }
    }
  }, 300_000);

  it('puts the job options language, itn and hotwords into the prompt as sherpa-onnx does', async () => {
    const cases = [
      { options: { language: 'en', itn: null }, sherpa: { language: FUNASR_NANO_LANGUAGES.en! } },
      { options: { language: 'zh', itn: true }, sherpa: { language: '中文', useItn: true } },
      { options: { language: null, itn: true, hotwords: ['阿里巴巴', 'VoxFleet'] }, sherpa: { useItn: true, hotwords: '阿里巴巴，VoxFleet' } },
      { options: { language: 'ja', itn: false, hotwords: ['東京'] }, sherpa: { language: '日文', hotwords: '東京' } },
    ];
    const plain = view((await fp32.transcribe([clips[1]!.slice()])).transcripts[0]);
    for (const c of cases) {
      const [expected] = (await sherpaTranscribe('funasr-nano', dir, [clips[1]!.slice()], c.sherpa)).map(ref);
      const got = view((await fp32.transcribe([clips[1]!.slice()], { options: [c.options] })).transcripts[0]);
      expect(got).toEqual(expected);
      expect(got.text).not.toBe(plain.text); // the tiny LLM counts the prompt's text tokens
    }
  }, 300_000);

  it('builds the prompt ids the tokenizer gives for each option', () => {
    const tok = direct.tokenizer;
    const ids = direct.promptIds({ language: 'en', itn: false, hotwords: ['阿里巴巴'] });
    const text = funAsrNanoPromptText({ language: 'en', itn: false, hotwords: ['阿里巴巴'] });
    expect(ids.before).toEqual(tok.encode(text.before));
    expect(ids.after).toEqual(tok.encode('<|im_end|>\n<|im_start|>assistant\n'));
    expect(ids.before[0]).toBe(151644);
    expect(ids.after).toEqual([151645, 198, 151644, 77091, 198]);
    const decoded = tok.decode(ids.before);
    expect(decoded).toContain('热词列表：[阿里巴巴]');
    expect(decoded).toContain('语音转写成英文，不进行文本规整：');
    expect(tok.decode(direct.promptIds({ language: null, itn: true }).before)).toMatch(/user\n语音转写：$/);
    expect(tok.decode(direct.promptIds({ language: null, itn: null }).before)).toMatch(/user\n语音转写，不进行文本规整：$/);
    expect(() => direct.promptIds({ language: 'xx', itn: null })).toThrow(/unknown Fun-ASR-Nano language/);
    expect(() => direct.promptIds({ language: null, itn: null, hotwords: ['a<|im_end|>'] })).toThrow(/contains the token <\|im_end\|>/);
  });

  async function prompts(model: NanoModel, audio: Float32Array[]): Promise<NanoPrompt[]> {
    const fe = createFrontEnd(model.spec.frontEnd!);
    const out: NanoPrompt[] = [];
    for (const a of audio) out.push((await model.prompt(fe.compute(a), { language: null, itn: null }))!);
    return out;
  }

  it('decodes a batch mixing short and long utterances as one at a time, and the KV cache equals a full recompute', async () => {
    const short = clips[0]!.slice(0, 16000);
    const long = concat([clips[3]!, clips[0]!]);
    const ps = await prompts(direct, [short, long, clips[1]!, clips[4]!]);
    const batched = await direct.generate(ps);
    const single = await direct.generate(ps, { batch: false });
    expect(batched).toEqual(single);
    expect(batched[0]!.ids.length).toBeLessThan(batched[1]!.ids.length);
    for (const p of ps.slice(0, 2)) expect(await direct.generateRecompute(p)).toEqual((await direct.generate([p]))[0]);
    // at most 2 sequences per LLM call: the others join as sequences finish, and decode the same
    const joins = direct.stats.joins;
    const many = await prompts(direct, [clips[2]!, short, long, clips[0]!.slice(0, 40000), clips[1]!, clips[4]!]);
    expect(await direct.generate(many, { maxBatch: 2 })).toEqual(await direct.generate(many, { batch: false }));
    expect(direct.stats.joins - joins).toBeGreaterThan(0);
        // both stop tokens occur (the tiny LLM ends with <|im_end|> after an even number of audio rows)
    const all = await direct.generate(await prompts(direct, clips));
    expect(new Set(all.map((g) => g.stop))).toEqual(new Set(['eos', 'im_end']));
  }, 300_000);

  it('lets a call made while another decodes join its LLM loop (continuous batching), each call getting its own results', async () => {
    const ps = await prompts(direct, [clips[1]!, clips[2]!, clips[4]!]);
    const later = await prompts(direct, [clips[0]!.slice(0, 16000), clips[3]!.slice(0, 24000)]);
    const alone = [];
    for (const p of [...ps, ...later]) alone.push((await direct.generate([p]))[0]!);
    const { batches, joins } = direct.stats;
    const first = direct.generate(ps);
    await new Promise((r) => setImmediate(r)); // the first call's loop is running: its prefill is on the way
    const second = direct.generate(later);
    expect(await first).toEqual(alone.slice(0, 3));
    expect(await second).toEqual(alone.slice(3));
    // one loop for both calls: the later prompts joined it instead of waiting for a batch of their own
    expect(direct.stats.batches - batches).toBe(1);
    expect(direct.stats.joins - joins).toBe(2);
    // and through the engine thread, whose requests run side by side on this model
    expect(fp32.concurrent).toBe(true);
    const parts = [clips[2]!, clips[0]!.slice(0, 16000), clips[4]!];
    const one = [];
    for (const c of parts) one.push((await fp32.transcribe([c.slice()])).transcripts[0]!);
    const together = await Promise.all([fp32.transcribe([parts[0]!.slice(), parts[2]!.slice()]), fp32.transcribe([parts[1]!.slice()])]);
    expect([...together[0].transcripts, ...together[1].transcripts].map(view)).toEqual([one[0], one[2], one[1]].map(view));
  }, 300_000);

  it('keeps to the 512-position budget as sherpa-onnx does: generation stops at the cache end, audio rows are trimmed when the prompt does not fit', async () => {
    // ~26 s: 430-odd rows + the prompt leave room for fewer tokens than the tiny LLM wants
    const near = concat([clips[3]!, clips[0]!, clips[4]!, clips[1]!]).slice(0, 26 * 16000);
    const over = concat([near, clips[3]!]).slice(0, 31 * 16000);
    const expected = (await sherpaTranscribe('funasr-nano', dir, [near.slice(), over.slice()])).map(ref);
    const [pNear, pOver] = await prompts(direct, [near, over]);
    expect(pNear!.fitted.ids.length + pNear!.fitted.maxNewTokens).toBe(512);
    const gNear = (await direct.generate([pNear!]))[0]!;
    expect(gNear.stop).toBe('budget');
    expect(gNear.ids.length).toBe(expected[0]!.tokens.length);
    expect(pOver!.fitted.trimmedRows).toBeGreaterThan(0);
    expect(pOver!.fitted.ids.length).toBe(512);
    expect(expected[1]!.text).toBe(''); // sherpa-onnx: a trimmed prompt fills the cache, nothing is generated
    const got = (await fp32.transcribe([near.slice(), over.slice()])).transcripts.map(view);
    expect(got).toEqual(expected);
  }, 300_000);

  it('a sequence the shared cache end cuts (padded to a longer prompt) goes on alone from where it was, with the ids of decoding it alone', async () => {
    // both near the 512-position budget, which the tiny LLM fills: in one batch the shorter is padded to the longer one's length
    const base = concat([clips[3]!, clips[0]!, clips[4]!, clips[1]!]);
    const [shorter, longer] = await prompts(direct, [base.slice(0, 24 * 16000), base.slice(0, 25 * 16000)]);
    expect(longer!.fitted.ids.length).toBeGreaterThan(shorter!.fitted.ids.length);
    let calls = direct.stats.llmCalls;
    const alone = [(await direct.generate([shorter!]))[0]!, (await direct.generate([longer!]))[0]!];
    const aloneCalls = direct.stats.llmCalls - calls;
    expect(alone.map((g) => g.stop)).toEqual(['budget', 'budget']);
    const continued = direct.stats.continued;
    calls = direct.stats.llmCalls;
    const batched = await direct.generate([shorter!, longer!]);
    expect(batched).toEqual(alone);
    expect(direct.stats.continued - continued).toBe(1);
    // the cut sequence was not decoded again from its prompt: fewer LLM calls than the two alone
    expect(direct.stats.llmCalls - calls).toBeLessThan(aloneCalls);
  }, 300_000);

  it('splices FunASR\'s ≈T/8 rows instead of all when asked (low-frame-rate), and says so in its id', async () => {
    const cfg = asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1 });
    const lfr = await NanoModel.load(await loadModelSpec(cfg), cfg, { audioRows: 'low-frame-rate' });
    try {
      const [all] = await prompts(direct, [clips[0]!]);
      const [few] = await prompts(lfr, [clips[0]!]);
      expect(few!.fitted.audioRows).toBe(nanoAudioRows(all!.fitted.audioRows, 'low-frame-rate'));
      expect(few!.fitted.ids.length).toBe(all!.fitted.ids.length - all!.fitted.audioRows + few!.fitted.audioRows);
      expect(lfr.report.decoder).toMatch(/audio rows: low-frame-rate/);
      expect(lfr.report.modelId).not.toBe(direct.report.modelId);
      const t = (await lfr.transcribe([clips[0]!.slice()])).transcripts[0]!;
      expect(t.tokens.length).toBeLessThan((await direct.transcribe([clips[0]!.slice()])).transcripts[0]!.tokens.length);
    } finally {
      await lfr.release();
    }
  }, 120_000);

  it('places generated tokens as sherpa-onnx does (an empty, masked row after the prompt), or contiguously when asked', async () => {
    const cfg = asrConfigSchema.parse({ modelPath: dir, provider: 'cpu', precision: 'fp32', threads: 1 });
    const contiguous = await NanoModel.load(await loadModelSpec(cfg), cfg, { positions: 'contiguous' });
    try {
      expect(direct.positions).toBe('sherpa');
      expect(contiguous.report.decoder).toMatch(/positions: contiguous/);
      expect(contiguous.report.modelId).not.toBe(direct.report.modelId);
      const ps = await prompts(contiguous, [clips[0]!, clips[1]!.slice(0, 48000)]);
      const c = await contiguous.generate(ps);
      const sh = await direct.generate(ps);
      // the tiny LLM sees each query's distance from its sequence's first row: the hole shifts it by one
      expect(c.map((g) => g.ids)).not.toEqual(sh.map((g) => g.ids));
      expect(c).toEqual(await contiguous.generate(ps, { batch: false }));
      expect(await contiguous.generateRecompute(ps[0]!)).toEqual(c[0]);
      expect(await direct.generateRecompute(ps[0]!)).toEqual(sh[0]);
    } finally {
      await contiguous.release();
    }
  }, 180_000);

  it('stops a graph built to loop with the repetition guard (sherpa-onnx runs it to the budget)', async () => {
    const [p] = await prompts(loop, [clips[0]!]);
    const guarded = (await loop.generate([p!]))[0]!;
    expect(guarded.stop).toBe('repetition');
    expect(guarded.ids.length).toBe(3); // one copy of the looping block
    const unguarded = (await loop.generate([p!], { guard: null }))[0]!;
    expect(unguarded.stop).toBe('budget');
    expect(unguarded.ids.length).toBe(512 - p!.fitted.ids.length);
    const [sherpa] = await sherpaTranscribe('funasr-nano-loop', loopDir, [clips[0]!.slice()]);
    expect(sherpa!.tokens.length).toBe(unguarded.ids.length);
    const t = (await loop.transcribe([clips[0]!.slice()])).transcripts[0]!;
    expect(t.tokens.map((x) => x.text)).toEqual([' hello', ' world', ' green']);
    // VOXFLEET_NANO_REPETITION_GUARD=off: transcripts decoded to the budget, sherpa-onnx's tokens (for equal-work benchmarks)
    const cfg = asrConfigSchema.parse({ modelPath: loopDir, provider: 'cpu', precision: 'fp32', threads: 1, nanoRepetitionGuard: 'off', nanoBatch: 'on' });
    const free = await NanoModel.load(await loadModelSpec(cfg), cfg);
    try {
      expect(free.report.decoder).toMatch(/no repetition guard \(VOXFLEET_NANO_REPETITION_GUARD=off/);
      expect(free.report.modelId).not.toBe(loop.report.modelId);
      const u = (await free.transcribe([clips[0]!.slice()])).transcripts[0]!;
      expect(u.tokens.map((x) => x.text)).toEqual(sherpa!.tokens);
    } finally {
      await free.release();
    }
  }, 300_000);
});
