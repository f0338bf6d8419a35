/**
 * npm run eval [-- --heldout DIR] [--json] [--precision P] [--decoder greedy|beam]
 * Accuracy table of the engine: the held-out synthetic set (voices and
 * sentences never used in training) and the real human clips of fixtures/audio.
 *
 * npm run eval -- --real [--real-dir DIR] [--no-pocketsphinx] [--sets bar,seen-speaker,digits]
 * WER and CER on real human speech the default model never trained on
 * (fixtures/real/split.jsonl: ../shared/audio when present or DIR, else the
 * committed subset in fixtures/real), with pocketsphinx's on the same clips
 * beside them when it is installed (apt-get install pocketsphinx pocketsphinx-en-us).
 *
 * npm run eval -- --tune "alpha,beta[,unk];…" --heldout training/data/dev
 * Scores beam search with the model's LM at each weight pair on a dev set
 * (runs the model once, decodes many times) — tune on dev, never on test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import {
  AsrEngine,
  CtcModel,
  asrConfigFromEnv,
  charErrors,
  rate,
  sumCounts,
  wordErrors,
  type ErrorCounts,
} from '@voxfleet/asr';
import { decodeFile } from '@voxfleet/audio';
import { pocketsphinx, pocketsphinxVersion, POCKETSPHINX, realSource, type RealRow } from './real-speech.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

interface Row {
  file: string;
  text: string;
  lang?: string;
  /** held-out synthetic: no noise/reverb added */
  clean?: boolean;
}

interface Scored {
  set: string;
  n: number;
  audioSec: number;
  cer: number;
  wer: number;
  examples: { file: string; ref: string; hyp: string }[];
}

async function manifest(dir: string): Promise<Row[]> {
  const text = await readFile(join(dir, 'manifest.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}

interface Hyp {
  row: Row;
  hyp: string;
  audioSec: number;
}

/** Transcribes every row once (in batches). */
async function transcribeRows(engine: AsrEngine, dir: string, rows: Row[], batch: number): Promise<Hyp[]> {
  const out: Hyp[] = [];
  for (let i = 0; i < rows.length; i += batch) {
    const group = rows.slice(i, i + batch);
    const audio = await Promise.all(group.map((r) => decodeFile(join(dir, r.file))));
    const secs = audio.map((a) => a.length / 16000);
    const { transcripts } = await engine.transcribe(audio);
    group.forEach((row, k) => out.push({ row, hyp: transcripts[k]!.text, audioSec: secs[k]! }));
  }
  return out;
}

function summarize(set: string, items: Hyp[], allExamples = false): Scored {
  const c: ErrorCounts[] = items.map((h) => charErrors(h.hyp, h.row.text));
  const w: ErrorCounts[] = items.map((h) => wordErrors(h.hyp, h.row.text));
  return {
    set,
    n: items.length,
    audioSec: items.reduce((a, h) => a + h.audioSec, 0),
    cer: rate(sumCounts(c)),
    wer: rate(sumCounts(w)),
    examples: items.slice(0, allExamples ? items.length : 3).map((h) => ({ file: h.row.file, ref: h.row.text, hyp: h.hyp })),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      heldout: { type: 'string' },
      json: { type: 'boolean', default: false },
      precision: { type: 'string' },
      model: { type: 'string' },
      batch: { type: 'string', default: '8' },
      decoder: { type: 'string' },
      tune: { type: 'string' },
      real: { type: 'boolean', default: false },
      'real-dir': { type: 'string' },
      'no-pocketsphinx': { type: 'boolean', default: false },
      sets: { type: 'string' },
      parallel: { type: 'string', default: '2' },
    },
  });
  const config = asrConfigFromEnv(process.env, {
    provider: 'cpu',
    ...(values.precision ? { precision: values.precision as never } : {}),
    ...(values.model ? { modelPath: values.model } : {}),
    ...(values.decoder ? { decoder: values.decoder as never } : {}),
  });
  if (values.tune) {
    if (!values.heldout) throw new Error('--tune needs --heldout DIR (a dev set, not the test set)');
    await tune(config, values.heldout, values.tune, Number(values.batch));
    return;
  }
  if (values.real) {
    await realEval(config, {
      dir: values['real-dir'] ?? join(ROOT, '../shared/audio'),
      pocketsphinx: !values['no-pocketsphinx'],
      sets: values.sets?.split(',').filter(Boolean),
      batch: Number(values.batch),
      parallel: Number(values.parallel),
      json: values.json,
    });
    return;
  }
  const engine = await AsrEngine.start(config);
  const batch = Number(values.batch);
  const results: Scored[] = [];
  try {
    const heldoutDirs = [values.heldout, join(ROOT, 'fixtures/heldout')].filter(
      (d): d is string => !!d && existsSync(join(d, 'manifest.jsonl')),
    );
    const hd = heldoutDirs[0];
    if (hd) {
      const hyps = await transcribeRows(engine, hd, await manifest(hd), batch);
      const name = `held-out synthetic (${hd.replace(ROOT, '')})`;
      results.push(summarize(name, hyps));
      if (hyps.some((h) => h.row.clean)) {
        results.push(summarize(`${name}, clean only`, hyps.filter((h) => h.row.clean)));
        results.push(summarize(`${name}, noise/reverb only`, hyps.filter((h) => !h.row.clean)));
      }
    }
    const realDir = join(ROOT, 'fixtures/audio');
    const real = await manifest(realDir);
    const realHyps = await transcribeRows(engine, realDir, real, batch);
    for (const lang of [...new Set(real.map((r) => r.lang ?? '?'))]) {
      results.push(summarize(`real ${lang}`, realHyps.filter((h) => h.row.lang === lang), true));
    }
  } finally {
    await engine.close();
  }
  const r = engine.report;
  if (values.json) {
    console.log(JSON.stringify({ model: r.modelId, precision: r.precision, provider: r.provider, results }, null, 2));
    return;
  }
  console.log(`model ${r.modelId}, ${r.precision} on ${r.provider}, decoder ${r.decoder}\n`);
  console.log('| set | utterances | audio (s) | CER | WER |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const s of results) {
    console.log(`| ${s.set} | ${s.n} | ${s.audioSec.toFixed(1)} | ${(s.cer * 100).toFixed(1)} % | ${(s.wer * 100).toFixed(1)} % |`);
  }
  console.log('\nexamples (reference → hypothesis):');
  for (const s of results.filter((r) => !r.set.includes(' only'))) for (const e of s.examples) console.log(`  ${s.set} ${e.file}\n    ref: ${e.ref}\n    hyp: ${e.hyp}`);
}

interface RealScore {
  set: string;
  n: number;
  audioSec: number;
  cer: number;
  wer: number;
  ps?: { cer: number; wer: number };
}

/** `--real`: the held-out real clips through the engine and, when installed, pocketsphinx. */
async function realEval(
  config: Parameters<typeof AsrEngine.start>[0],
  opts: { dir: string; pocketsphinx: boolean; sets?: string[]; batch: number; parallel: number; json: boolean },
): Promise<void> {
  const src = await realSource(ROOT, opts.dir);
  const rows = src.rows.filter((r) => !opts.sets || opts.sets.includes(r.set));
  const audio: Float32Array[] = [];
  for (let i = 0; i < rows.length; i += 16) audio.push(...(await Promise.all(rows.slice(i, i + 16).map((r) => decodeFile(r.file)))));
  const engine = await AsrEngine.start(config);
  const hyps: string[] = [];
  try {
    for (let i = 0; i < audio.length; i += opts.batch) {
      // copies: the engine transfers the buffers it is given to its thread
      const { transcripts } = await engine.transcribe(audio.slice(i, i + opts.batch).map((a) => a.slice()));
      hyps.push(...transcripts.map((t) => t.text));
    }
  } finally {
    await engine.close();
  }
  const version = opts.pocketsphinx ? pocketsphinxVersion() : null;
  const ps = version ? await pocketsphinx(audio, version, join(ROOT, 'var/eval-cache/pocketsphinx.json'), opts.parallel) : null;
  const groups: [string, (r: RealRow) => boolean][] = [
    ['bar: read English, never-trained speakers (all)', (r) => r.set === 'bar'],
    ['  bar: LJSpeech (female)', (r) => r.set === 'bar' && r.speaker === 'ljspeech-f'],
    ['  bar: fixtures/audio (LibriSpeech 1995, Fun-ASR en)', (r) => r.set === 'bar' && r.speaker !== 'ljspeech-f'],
    ['seen speaker, held-out sentences (dctts male)', (r) => r.set === 'seen-speaker'],
    ['digits, never-trained FSDD speakers (8 kHz)', (r) => r.set === 'digits'],
  ];
  const scores: RealScore[] = [];
  for (const [set, pick] of groups) {
    const idx = rows.flatMap((r, i) => (pick(r) ? [i] : []));
    if (idx.length === 0) continue;
    const score = (h: string[]): { cer: number; wer: number } => ({
      cer: rate(sumCounts(idx.map((i) => charErrors(h[i]!, rows[i]!.text)))),
      wer: rate(sumCounts(idx.map((i) => wordErrors(h[i]!, rows[i]!.text)))),
    });
    scores.push({ set, n: idx.length, audioSec: idx.reduce((a, i) => a + audio[i]!.length / 16000, 0), ...score(hyps), ...(ps ? { ps: score(ps) } : {}) });
  }
  const r = engine.report;
  if (opts.json) {
    const clips = rows.map((row, i) => ({ file: row.file.replace(ROOT, ''), set: row.set, ref: row.text, hyp: hyps[i], ...(ps ? { pocketsphinx: ps[i] } : {}) }));
    console.log(JSON.stringify({ model: r.modelId, precision: r.precision, decoder: r.decoder, source: src.full ? src.dir : 'fixtures/real (committed subset)', pocketsphinx: version, scores, clips }, null, 2));
    return;
  }
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  console.log(`model ${r.modelId}, ${r.precision} on ${r.provider}, decoder ${r.decoder}`);
  console.log(src.full ? `real speech: the held-out split of ${src.dir} (fixtures/real/split.jsonl)` : `real speech: the committed subset in fixtures/real (no shared audio at ${opts.dir}; --real-dir DIR)`);
  console.log(
    version
      ? `pocketsphinx: ${POCKETSPHINX} ${version} (en-us model), same 16 kHz audio\n`
      : `pocketsphinx: ${opts.pocketsphinx ? 'not installed (apt-get install pocketsphinx pocketsphinx-en-us)' : 'off (--no-pocketsphinx)'}; its columns are skipped\n`,
  );
  console.log('| set | clips | audio (s) | VoxFleet CER | VoxFleet WER | pocketsphinx CER | pocketsphinx WER |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of scores) {
    console.log(`| ${s.set} | ${s.n} | ${s.audioSec.toFixed(1)} | ${pct(s.cer)} | ${pct(s.wer)} | ${s.ps ? pct(s.ps.cer) : '–'} | ${s.ps ? pct(s.ps.wer) : '–'} |`);
  }
  console.log('\nexamples (reference / VoxFleet / pocketsphinx):');
  for (const set of ['bar', 'seen-speaker', 'digits']) {
    for (const i of rows.flatMap((row, k) => (row.set === set ? [k] : [])).slice(0, 3)) {
      console.log(`  ${rows[i]!.file.replace(ROOT, '')}\n    ref: ${rows[i]!.text}\n    vox: ${hyps[i]}${ps ? `\n    ps:  ${ps[i]}` : ''}`);
    }
  }
}

/** CER/WER of beam search with the model's LM at each "alpha,beta[,unkPenalty]" setting; greedy first for reference. */
async function tune(config: Parameters<typeof CtcModel.load>[0], dir: string, grid: string, batch: number): Promise<void> {
  // fp32 unless asked: "auto" would pick whichever precision is fastest at the moment
  const model = await CtcModel.load({ ...config, precision: config.precision === 'auto' ? 'fp32' : config.precision, decoder: 'beam' });
  const active = model.activeDecoder;
  if (active.kind !== 'beam' || !active.options.lm) throw new Error(`${config.modelPath} has no language model (decoder.json)`);
  const rows = await manifest(dir);
  const utts: { scores: Float32Array; durationSec: number; ref: string }[] = [];
  for (let i = 0; i < rows.length; i += batch) {
    const group = rows.slice(i, i + batch);
    const audio = await Promise.all(group.map((r) => decodeFile(join(dir, r.file))));
    const scores = await model.scores(audio.map((a) => model.features(a)));
    scores.forEach((u, k) => {
      const own = u.scores.slice(u.offset, u.offset + u.frames * model.meta.vocab.tokens.length);
      utts.push({ scores: own, durationSec: audio[k]!.length / 16000, ref: group[k]!.text });
    });
  }
  const score = (decoder: Parameters<CtcModel['decode']>[2]): { cer: number; wer: number; ms: number } => {
    const t0 = performance.now();
    const hyps = utts.map((u) => model.decode({ scores: u.scores, offset: 0, frames: u.scores.length / model.meta.vocab.tokens.length }, u.durationSec, decoder).text);
    const ms = performance.now() - t0;
    return {
      cer: rate(sumCounts(hyps.map((h, i) => charErrors(h, utts[i]!.ref)))),
      wer: rate(sumCounts(hyps.map((h, i) => wordErrors(h, utts[i]!.ref)))),
      ms,
    };
  };
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  console.log(`model ${model.report.modelId}, dev set ${dir} (${utts.length} utterances)\n`);
  console.log('| decoder | alpha | beta | unk | CER | WER | decode ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const g = score({ kind: 'greedy' });
  console.log(`| greedy | | | | ${pct(g.cer)} | ${pct(g.wer)} | ${g.ms.toFixed(0)} |`);
  for (const setting of grid.split(';').filter(Boolean)) {
    const [alpha, beta, unk = active.options.unkPenalty] = setting.split(',').map(Number);
    if (![alpha, beta, unk].every(Number.isFinite)) throw new Error(`bad setting "${setting}" (want alpha,beta[,unk])`);
    const r = score({ kind: 'beam', options: { ...active.options, alpha: alpha!, beta: beta!, unkPenalty: unk } });
    console.log(`| beam ${active.options.beamWidth} + LM | ${alpha} | ${beta} | ${unk} | ${pct(r.cer)} | ${pct(r.wer)} | ${r.ms.toFixed(0)} |`);
  }
  await model.release();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
