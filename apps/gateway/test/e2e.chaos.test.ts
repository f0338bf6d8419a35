/**
 * The fuzz and tenant parts of the chaos suite (chaos/fuzz.ts,
 * chaos/tenants.ts, which `npm run chaos` runs against `npm start`'s stack)
 * against a real redis-server, the gateway and one worker, with short body
 * and header timeouts so the slow cases finish quickly. Bounds are on
 * counts: every hostile request answered with a JSON 4xx (random audio may
 * also be accepted), none unanswered, no 5xx, the worker still there, no
 * partial upload left; every tenant-isolation check holds.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, spawnWorker, startRedis, stopStack, type TestRedis, type TestWorker } from '@voxfleet/testkit';
import { fuzz } from '../../../chaos/fuzz.js';
import { run as tenants } from '../../../chaos/tenants.js';
import type { ChaosContext } from '../../../chaos/types.js';
import type { RunningGateway } from '../src/index.js';
import { startTestGateway } from './harness.js';

const KEY_A = 'chaos-tenant-a-0123456789abcdef';
const KEY_B = 'chaos-tenant-b-0123456789abcdef';

describe('chaos: fuzz and tenant isolation (redis + gateway + a worker)', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let ctx: ChaosContext;

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-chaos-'));
    redis = await startRedis();
    const env = baseEnv(redis.url, varDir);
    worker = await spawnWorker('wc', env);
    gw = await startTestGateway({ ...env, VOXFLEET_API_KEYS: `${KEY_A},${KEY_B}`, VOXFLEET_BODY_IDLE_TIMEOUT_MS: '1000', VOXFLEET_HEADERS_TIMEOUT_MS: '1000' });
    ctx = { url: gw.url, apiKeys: [KEY_A, KEY_B], admin: { user: gw.adminUser, password: gw.adminPassword }, varDir, deadlineMs: 600_000, log: () => {} };
  }, 120_000);

  afterAll(async () => {
    await stopStack({ worker, gw, redis, varDir });
  }, 60_000);

  it('≥ 300 seeded hostile requests: each a JSON 4xx (or, for random audio, accepted), nothing crashes', async () => {
    const { section, outcomes } = await fuzz(ctx, { bodyIdleTimeoutMs: 1000, headersTimeoutMs: 1000, timeBounds: false });
    const failed = outcomes.filter((o) => !o.ok).map((o) => `${o.family} / ${o.name}: ${o.problem}`);
    expect(failed).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(300);
    expect(outcomes.filter((o) => o.expect === 'reject').length).toBeGreaterThanOrEqual(250);
    expect(section.rows.filter((r) => r.ok === false).map((r) => `${r.check}: ${r.value}`)).toEqual([]);
    expect(worker.proc.exitCode).toBeNull();
  }, 300_000);

  it('tenant B cannot read, list, cancel, delete, download or learn of tenant A’s jobs, batches, cache or dashboard', async () => {
    const section = await tenants(ctx);
    expect(section.rows.filter((r) => r.ok === false).map((r) => `${r.check}: ${r.value} (expected ${r.expect})`)).toEqual([]);
    expect(section.rows.length).toBeGreaterThanOrEqual(20);
  }, 300_000);
});
