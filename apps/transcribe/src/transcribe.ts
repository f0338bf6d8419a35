/**
 * npm run transcribe -- [options] <files...>
 * Transcribes local audio files offline with the engine and prints the text
 * with timestamps (or JSON with --json). Long files take the worker's path
 * (@voxfleet/segmenter transcribeLong: streamed decode and VAD on the
 * segmenter thread, pieces of ≤ 30 s cut at pauses, stitched), with the
 * pieces of a file batched into engine calls of up to --batch.
 */
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { AsrEngine, asrConfigFromEnv, type Transcript } from '@voxfleet/asr';
import { batchingSubmit, transcribeLong } from '@voxfleet/segmenter';

const USAGE = `usage: npm run transcribe -- [--json] [--model DIR|FILE] [--provider cpu|webgpu|cuda|auto]
                             [--precision fp32|fp16|int8|auto] [--threads N] [--batch N] <files...>`;

function clock(sec: number): string {
  const m = Math.floor(sec / 60);
  const s = sec - m * 60;
  return `${String(m).padStart(2, '0')}:${s.toFixed(2).padStart(5, '0')}`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      model: { type: 'string' },
      provider: { type: 'string' },
      precision: { type: 'string' },
      threads: { type: 'string' },
      batch: { type: 'string', default: '8' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length === 0) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const config = asrConfigFromEnv(process.env, {
    ...(values.model ? { modelPath: values.model } : {}),
    ...(values.provider ? { provider: values.provider as never } : {}),
    ...(values.precision ? { precision: values.precision as never } : {}),
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  });
  const engine = await AsrEngine.start(config);
  const r = engine.report;
  console.error(`model ${r.modelId} (${r.precision} on ${r.provider}, decoder ${r.decoder}) loaded in ${r.loadMs} ms`);
  const batchSize = Math.max(1, Number(values.batch));
  const submit = batchingSubmit(engine, { maxBatch: batchSize });
  let failures = 0;
  const results: { file: string; transcript?: Transcript; error?: string }[] = [];
  try {
    for (const file of positionals) {
      try {
        // one batch fills while the previous one runs
        const { text, segments, tokens, durationSec } = await transcribeLong(file, submit, { maxInflight: 2 * batchSize });
        const transcript: Transcript = { text, segments, tokens, durationSec };
        results.push({ file, transcript });
        if (!values.json) {
          console.log(`${basename(file)}: ${transcript.text}`);
          for (const s of transcript.segments) console.log(`  [${clock(s.start)} → ${clock(s.end)}] ${s.text}`);
        }
      } catch (err) {
        failures++;
        const msg = err instanceof Error ? err.message : String(err);
        results.push({ file, error: msg });
        if (!values.json) console.error(`${file}: error: ${msg}`);
      }
    }
  } finally {
    await engine.close();
  }
  if (values.json) console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
