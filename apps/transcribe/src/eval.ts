/**
 * npm run eval [-- --heldout DIR] [--json] [--precision P]
 * Accuracy table of the engine: the held-out synthetic set (voices and
 * sentences never used in training) and the real human clips of fixtures/audio.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import {
  AsrEngine,
  asrConfigFromEnv,
  charErrors,
  rate,
  sumCounts,
  wordErrors,
  type ErrorCounts,
} from '@voxfleet/asr';
import { decodeFile } from '@voxfleet/audio';

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
    },
  });
  const engine = await AsrEngine.start(
    asrConfigFromEnv(process.env, {
      provider: 'cpu',
      ...(values.precision ? { precision: values.precision as never } : {}),
      ...(values.model ? { modelPath: values.model } : {}),
    }),
  );
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
  console.log(`model ${r.modelId}, ${r.precision} on ${r.provider}\n`);
  console.log('| set | utterances | audio (s) | CER | WER |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const s of results) {
    console.log(`| ${s.set} | ${s.n} | ${s.audioSec.toFixed(1)} | ${(s.cer * 100).toFixed(1)} % | ${(s.wer * 100).toFixed(1)} % |`);
  }
  console.log('\nexamples (reference → hypothesis):');
  for (const s of results.filter((r) => !r.set.includes(' only'))) for (const e of s.examples) console.log(`  ${s.set} ${e.file}\n    ref: ${e.ref}\n    hyp: ${e.hyp}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
