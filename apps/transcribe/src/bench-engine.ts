/**
 * npm run bench:engine [-- --threads N --rounds N]
 * CPU RTFx of the engine (audio seconds ÷ processing seconds, after warm-up)
 * at batch 1, 4 and 8 for every precision the default model ships, with the
 * greedy decoder and with the model's default (beam search + LM), in one run.
 * Clips: the held-out synthetic fixtures plus the real English clips, sorted by length.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { AsrEngine, asrConfigFromEnv, listVariants } from '@voxfleet/asr';
import { decodeFile } from '@voxfleet/audio';

const ROOT = new URL('../../../', import.meta.url).pathname;

async function clips(): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const dir of ['fixtures/heldout', 'fixtures/audio']) {
    const names = (await readdir(join(ROOT, dir)).catch(() => [])).filter((n) => /\.(wav|flac)$/.test(n)).sort();
    for (const n of names) if (dir.includes('heldout') || n.startsWith('en-')) out.push(await decodeFile(join(ROOT, dir, n)));
  }
  // Sorted by length, as the worker's batcher groups them: padding stays small.
  return out.sort((a, b) => a.length - b.length);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string', default: '0' }, rounds: { type: 'string', default: '5' } } });
  const base = asrConfigFromEnv(process.env, { provider: 'cpu', threads: Number(values.threads) });
  const audio = await clips();
  const audioSec = audio.reduce((a, s) => a + s.length / 16000, 0);
  const rounds = Number(values.rounds);
  console.log(`${audio.length} clips, ${audioSec.toFixed(1)} s of audio, ${rounds} timed rounds; ${cpus()[0]?.model} × ${cpus().length}`);
  const rows: string[] = [];
  // fp32 greedy first: it is the baseline of the ratio column.
  const variants = (await listVariants(base.modelPath)).sort((a, b) => Number(b.precision === 'fp32') - Number(a.precision === 'fp32'));
  const runs = variants.flatMap((v) => (['greedy', 'auto'] as const).map((decoder) => ({ precision: v.precision, decoder })));
  const baseline: Record<number, number> = {};
  for (const v of runs) {
    const engine = await AsrEngine.start({ ...base, precision: v.precision, decoder: v.decoder });
    const decoder = engine.report.decoder.replace(/ \(.*$/, '');
    if (v.decoder === 'auto' && decoder === 'greedy') {
      await engine.close();
      continue; // the model has no LM: the greedy row already covers it
    }
    try {
      for (const batch of [1, 4, 8]) {
        const run = async (): Promise<{ wall: number; infer: number }> => {
          let infer = 0;
          const t0 = performance.now();
          for (let i = 0; i < audio.length; i += batch) {
            const r = await engine.transcribe(audio.slice(i, i + batch).map((a) => a.slice()));
            infer += r.timing.inferenceMs;
          }
          return { wall: (performance.now() - t0) / 1000, infer: infer / 1000 };
        };
        await run(); // warm-up
        let wall = 0;
        let infer = 0;
        for (let r = 0; r < rounds; r++) {
          const m = await run();
          wall += m.wall;
          infer += m.infer;
        }
        const rtfx = (audioSec * rounds) / wall;
        if (v.precision === 'fp32' && v.decoder === 'greedy') baseline[batch] = rtfx;
        const ratio = baseline[batch] ? ` | ${(rtfx / baseline[batch]).toFixed(2)}×` : ' | –';
        rows.push(`| ${v.precision} | ${decoder} | ${batch} | ${rtfx.toFixed(1)} | ${((audioSec * rounds) / infer).toFixed(1)}${ratio} |`);
        console.error(rows.at(-1));
      }
    } finally {
      await engine.close();
    }
  }
  console.log('\n| precision | decoder | batch | RTFx (end to end: front-end + inference + decode) | RTFx (inference + decode) | vs fp32 greedy, same batch |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
