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

async function score(engine: AsrEngine, set: string, dir: string, rows: Row[], batch: number): Promise<Scored> {
  const c: ErrorCounts[] = [];
  const w: ErrorCounts[] = [];
  let audioSec = 0;
  const examples: Scored['examples'] = [];
  for (let i = 0; i < rows.length; i += batch) {
    const group = rows.slice(i, i + batch);
    const audio = await Promise.all(group.map((r) => decodeFile(join(dir, r.file))));
    audioSec += audio.reduce((a, s) => a + s.length / 16000, 0);
    const { transcripts } = await engine.transcribe(audio);
    group.forEach((r, k) => {
      const hyp = transcripts[k]!.text;
      c.push(charErrors(hyp, r.text));
      w.push(wordErrors(hyp, r.text));
      if (examples.length < 3 || set.startsWith('real')) examples.push({ file: r.file, ref: r.text, hyp });
    });
  }
  return { set, n: rows.length, audioSec, cer: rate(sumCounts(c)), wer: rate(sumCounts(w)), examples };
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
    if (hd) results.push(await score(engine, `held-out synthetic (${hd.replace(ROOT, '')})`, hd, await manifest(hd), batch));
    const realDir = join(ROOT, 'fixtures/audio');
    const real = await manifest(realDir);
    for (const lang of [...new Set(real.map((r) => r.lang ?? '?'))]) {
      results.push(await score(engine, `real ${lang}`, realDir, real.filter((r) => r.lang === lang), batch));
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
  for (const s of results) for (const e of s.examples) console.log(`  ${s.set} ${e.file}\n    ref: ${e.ref}\n    hyp: ${e.hyp}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
