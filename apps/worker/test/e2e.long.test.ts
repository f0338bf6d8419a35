/**
 * Long audio through the WORKER path, end to end: real redis-server, one real
 * worker process with the default model, the gateway over real HTTP. A
 * ~1-minute concatenation of ten held-out clips with 1–3 s of silence or low
 * noise between them is uploaded as one file; the worker decodes it as a
 * stream, cuts it at pauses (SpeechSegmenter), sends every segment through
 * its batcher under a small frame budget and stitches the transcript.
 *
 * Sentences are matched by character error rate, as in
 * packages/segmenter/test/e2e.test.ts (the default model is small: held-out
 * CER 10–15 % on held-out synthetic speech, more on long noisy mixes): each reference must be within CER 0.8 of the text found in
 * its own clip's time window and closer to it than to any other window's,
 * which proves order and absolute timestamps. No timing assertions.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { charErrors, rate } from '@voxfleet/asr';
import { decodeFile } from '@voxfleet/audio';
import { REPO_ROOT } from '@voxfleet/config';
import { FleetStats } from '@voxfleet/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { Client, baseEnv, concatWithGaps, spawnWorker, startGatewayWith, startRedis, wavBytes, type Placed, type TestRedis, type TestWorker, stopStack } from '@voxfleet/testkit';

const SR = 16000;
const HELDOUT = join(REPO_ROOT, 'fixtures/heldout');
const PICK = [0, 1, 5, 7, 12, 14, 20, 24, 28, 36];
const WINDOW = 0.5;
const MAX_FRAMES = 600;
/** the fleet's counters now */
const fleetStats = (client: Redis) => new FleetStats(client, 'voxfleet').read();


const cer = (hyp: string, ref: string): number => rate(charErrors(hyp, ref));

describe('long audio through the worker (segmenter + batcher + stitch)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let api: Client;
  let placed: Placed[];
  let durationSec: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the job as JSON
  let job: Record<string, any>;

  beforeAll(async () => {
    const manifest = (await readFile(join(HELDOUT, 'manifest.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; text: string });
    const clips = await Promise.all(
      PICK.map(async (idx) => ({ text: manifest[idx]!.text, samples: await decodeFile(join(HELDOUT, manifest[idx]!.file)) })),
    );
    const joined = concatWithGaps(clips, 7);
    placed = joined.placed;
    const all = joined.samples;
    durationSec = all.length / SR;

    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-long-'));
    redis = await startRedis();
    const env = { ...baseEnv(redis.url, varDir), VOXFLEET_BATCH_MAX: '8', VOXFLEET_BATCH_WAIT_MS: '50', VOXFLEET_BATCH_MAX_FRAMES: String(MAX_FRAMES) };
    worker = await spawnWorker('wl', env);
    gw = await startGatewayWith(startGateway, env);
    api = new Client(gw.url, gw.apiKeys.keys[0]!);
    const created = await api.upload(wavBytes(all), 'long.wav');
    expect(created.status).toBe(202);
    job = await api.waitFinal(created.body.id, 20);
  }, 300_000);

  afterAll(() => stopStack({ worker, gw, redis, varDir }), 60_000);

  it('completes, segmented into pieces that went through the batcher', () => {
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(durationSec).toBeGreaterThan(50);
    expect(job.result.durationSec).toBeCloseTo(durationSec, 1);
    // one or more speech segments per clip, pauses dropped
    expect(job.processing.segments).toBeGreaterThanOrEqual(PICK.length);
    expect(job.processing.batchSizes).toHaveLength(job.processing.segments);
    expect(job.progress).toBe(100);
  });

  it('keeps timestamps absolute and monotonic', () => {
    let last = 0;
    for (const s of job.result.segments as { start: number; end: number }[]) {
      expect(s.start).toBeGreaterThanOrEqual(last);
      expect(s.end).toBeGreaterThanOrEqual(s.start);
      last = s.end;
    }
    expect(last).toBeLessThanOrEqual(durationSec);
  });

  it('finds every reference sentence, in order, inside its clip window', () => {
    const segs = job.result.segments as { start: number; end: number; text: string }[];
    expect(job.result.text.length, 'the model transcribed nothing (an untrained export in models/voxfleet-en-char-ctc?)').toBeGreaterThan(0);
    for (const s of segs) {
      const owners = placed.filter((p) => s.start >= p.start - WINDOW && s.end <= p.end + WINDOW);
      expect(owners, `segment ${JSON.stringify(s)}`).toHaveLength(1);
    }
    const hyps = placed.map((p) =>
      segs
        .filter((s) => s.start >= p.start - WINDOW && s.end <= p.end + WINDOW)
        .map((s) => s.text)
        .join(' '),
    );
    const matrix = placed.map((p) => hyps.map((h) => cer(h, p.text)));
    console.log(
      `own-window CER, reference → transcript in its window:\n${placed.map((p, i) => `${matrix[i]![i]!.toFixed(2)}  ${p.text}  →  ${hyps[i]}`).join('\n')}`,
    );
    placed.forEach((p, i) => {
      const row = matrix[i]!;
      expect(row[i]!, `"${p.text}" vs "${hyps[i]}"`).toBeLessThanOrEqual(0.8);
      expect(row.indexOf(Math.min(...row)), `"${p.text}" best matches another window`).toBe(i);
    });
  });

  it('never exceeds the frame budget', async () => {
    const max = (await fleetStats(redis.client)).paddedFramesMax.wl ?? 0;
    expect(max).toBeLessThanOrEqual(MAX_FRAMES);
    const items = (await fleetStats(redis.client)).batchItems;
    expect(items).toBe(job.processing.segments);
  });
});
