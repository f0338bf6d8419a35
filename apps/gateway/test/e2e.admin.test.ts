/**
 * Bull Board at /admin/queues: 401 with a basic-auth challenge without
 * credentials; with them the dashboard renders in headless Chromium and shows
 * the queue.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../src/index.js';
import { baseEnv, startRedis, type TestRedis } from '@voxfleet/testkit';
import { startTestGateway } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';

describe('Bull Board behind basic auth', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let varDir: string;

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    redis = await startRedis();
    gw = await startTestGateway({ ...baseEnv(redis.url, varDir), VOXFLEET_ADMIN_USER: 'ops', VOXFLEET_ADMIN_PASSWORD: 'board-secret-123' });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await redis?.stop();
    if (varDir) await rm(varDir, { recursive: true, force: true });
  });

  it('answers 401 with a Basic challenge without or with wrong credentials', async () => {
    const none = await fetch(`${gw.url}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const wrong = await fetch(`${gw.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    // The API key is not an admin credential here (a password is configured), and bearer tokens do not open the board.
    const bearer = await fetch(`${gw.url}/admin/queues`, { headers: { authorization: `Bearer ${gw.apiKeys.keys[0]}` } });
    expect(bearer.status).toBe(401);
    const ok = await fetch(`${gw.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:board-secret-123').toString('base64')}` } });
    expect(ok.status).toBe(200);
  });

  it.skipIf(!existsSync(CHROMIUM))('renders in headless Chromium with credentials and shows the queue', async () => {
    const profile = await mkdtemp(join(tmpdir(), 'voxfleet-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      httpCredentials: { username: 'ops', password: 'board-secret-123' },
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const res = await page.goto(`${gw.url}/admin/queues`, { waitUntil: 'domcontentloaded' });
      expect(res?.status()).toBe(200);
      await page.getByText('transcribe', { exact: false }).first().waitFor({ state: 'visible', timeout: 30_000 });
      expect(await page.title()).toMatch(/VoxFleet|Bull/i);
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 90_000);
});
