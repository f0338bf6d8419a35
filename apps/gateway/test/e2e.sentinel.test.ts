/**
 * Redis high availability end to end: a primary, a replica and three
 * sentinels (testkit `startSentinelRedis`, AOF on, noeviction), the gateway
 * and a worker process with the default model, both reaching Redis only
 * through the sentinels (VOXFLEET_REDIS_URL names a port nothing listens on).
 * While a well-behaved client uploads distinct clips (retrying 503 after
 * Retry-After), the primary is killed with SIGKILL mid-run: the sentinels
 * promote the replica, the gateway and the worker reconnect to it, the old
 * primary comes back and is made a replica of the new one — and every job
 * whose upload was acknowledged (202/200) completes. Acknowledged means
 * replicated (VOXFLEET_REDIS_ACK_REPLICAS=1, the default with Sentinel), so
 * no acknowledged job can be only on the primary that died.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, baseEnv, spawnWorker, startSentinelRedis, type TestSentinelRedis, type TestWorker } from '@voxfleet/testkit';
import { distinctShortClips, mapLimit, uploadWithRetry, finalViews, type Timed } from '../../../chaos/load.js';
import type { RunningGateway } from '../src/index.js';
import { startTestGateway } from './harness.js';

const KEY = 'sentinel-test-key-0123456789abcdef';
const JOBS = 24;

describe('Redis Sentinel failover under load (primary + replica + 3 sentinels, gateway, a worker)', () => {
  let ha: TestSentinelRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-sentinel-var-'));
    ha = await startSentinelRedis();
    // Port 9 (discard): nothing listens there, so a connection that bypassed the sentinels would fail.
    const env = { ...baseEnv('redis://127.0.0.1:9', varDir), ...ha.env };
    worker = await spawnWorker('ws', env);
    gw = await startTestGateway({ ...env, VOXFLEET_API_KEYS: KEY });
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await gw?.close();
    await ha?.stop();
    if (varDir) await rm(varDir, { recursive: true, force: true });
  }, 60_000);

  it('SIGKILL of the primary mid-run: the replica is promoted, the stack reconnects, no acknowledged job is lost', async () => {
    const api = new Client(gw.url, KEY);
    const clips = await distinctShortClips(JOBS, 7);
    const oldPrimary = ha.primary.port;
    expect(await ha.primaryPort()).toBe(oldPrimary);

    const answers: { status: number; at: number; message: string }[] = [];
    const acknowledged: { id: string; at: number }[] = [];
    let killedAt = 0;
    let failedOverAt = 0;

    const uploads = mapLimit(clips, 3, async (bytes, i) => {
      const t: Timed & { tries: number } = await uploadWithRetry(gw.url, KEY, bytes, `clip-${i}.wav`, (a, at) => answers.push({ status: a.status, at, message: String((a.body?.error as { message?: string } | undefined)?.message ?? '') }), 90);
      if (t.status === 200 || t.status === 202) acknowledged.push({ id: String(t.body!.id), at: Date.now() });
      return t;
    });

    const chaos = (async () => {
      // Mid-run: a quarter of the uploads acknowledged, the rest still to come (and some of those queued or running).
      for (let i = 0; i < 600 && acknowledged.length < JOBS / 4; i++) await new Promise((r) => setTimeout(r, 50));
      killedAt = Date.now();
      await ha.kill(ha.primary);
      const promoted = await ha.waitForFailover(oldPrimary, 60_000);
      failedOverAt = Date.now();
      expect(promoted).toBe(ha.replica.port);
      // The dead primary returns with its AOF; the sentinels make it a replica of the promoted one,
      // after which acknowledgements (WAIT for one replica) succeed again.
      await ha.restart(ha.primary);
      await ha.waitForReplica(ha.primary, 60_000);
    })();

    const results = await uploads;
    await chaos;
    const refused = answers.filter((a) => a.status === 503);
    console.info(
      `sentinel failover: promoted ${((failedOverAt - killedAt) / 1000).toFixed(1)} s after the kill; ${acknowledged.filter((a) => a.at < killedAt).length} of ${JOBS} uploads acknowledged before it; ` +
        `${refused.length} answers 503 (${refused.length ? `${((refused.at(-1)!.at - refused[0]!.at) / 1000).toFixed(1)} s from first to last` : 'none'})`,
    );

    // Every upload was eventually acknowledged; meanwhile each answer was a 2xx or a 503 with Retry-After, nothing else.
    expect(results.map((r) => r.status).filter((s) => s !== 200 && s !== 202)).toEqual([]);
    expect(answers.map((a) => a.status).filter((s) => s !== 200 && s !== 202 && s !== 503)).toEqual([]);
    expect(acknowledged).toHaveLength(JOBS);
    expect(acknowledged.filter((a) => a.at < killedAt).length).toBeGreaterThanOrEqual(JOBS / 4);
    expect(acknowledged.filter((a) => a.at > failedOverAt).length).toBeGreaterThan(0); // the gateway works on the new primary
    // Between the promotion and the old primary's return as a replica nothing can be replicated: those uploads were refused as not acknowledged.
    expect(refused.filter((a) => a.at > failedOverAt && /not acknowledged/.test(a.message)).length).toBeGreaterThan(0);

    // No acknowledged job lost: each one's record is there and it completed (transcribed by the same worker process).
    const views = await finalViews(api, acknowledged.map((a) => a.id), 30);
    expect(views.filter((v) => v.status !== 'completed').map((v) => `${v.id}: ${v.status} ${v.error?.code ?? ''}`)).toEqual([]);
    expect(worker.proc.exitCode).toBeNull();

    // The stack runs on the promoted node: it is the primary, with the old one as its replica.
    expect(await ha.primaryPort()).toBe(ha.replica.port);
    const info = await ha.client(ha.replica).info('replication');
    expect(info).toMatch(/^role:master/m);
    expect(info).toMatch(/^connected_slaves:1/m);
  }, 300_000);
});
