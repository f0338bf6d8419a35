/* eslint-disable no-control-regex -- the TTY output is checked for its control sequences */
/**
 * The `voxfleet` CLI as a child process against the real stack (redis-server,
 * one worker, the gateway over HTTP — @voxfleet/testkit's e2e helpers): without a
 * TTY (plain lines) and on a TTY (`script`), checking output, downloaded files
 * and exit codes.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@voxfleet/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '@voxfleet/gateway';
import { CLIP, baseEnv, fixtureSamples, freePort, spawnWorker, startGatewayWith, startRedis, wavBytes, type TestRedis, type TestWorker, filesUnder } from '@voxfleet/testkit';
import { zipOf } from '@voxfleet/testkit';

const KEY = 'cli-test-key-0123456789abcdef';
/** The bin itself (it loads tsx relative to itself, so it runs from any folder). */
const MAIN = join(REPO_ROOT, 'packages/cli/bin/voxfleet.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The CLI on a pseudo-terminal: `script -qfec "<cmd>" /dev/null`. */
function cliTty(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  const cmd = [process.execPath, MAIN, ...args].map(shq).join(' ');
  return new Promise((resolve) => {
    execFile('script', ['-qfec', cmd, '/dev/null'], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'xterm', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('voxfleet CLI against the real stack', () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  let worker: TestWorker;
  let varDir: string;
  let work: string;
  let env: Record<string, string>;
  let batchId = '';

  beforeAll(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'voxfleet-var-'));
    work = await mkdtemp(join(tmpdir(), 'voxfleet-cli-'));
    redis = await startRedis();
    const stackEnv = { ...baseEnv(redis.url, varDir), VOXFLEET_BATCH_MAX: '8', VOXFLEET_BATCH_WAIT_MS: '50' };
    worker = await spawnWorker('wcli', stackEnv);
    gw = await startGatewayWith(startGateway, { ...stackEnv, VOXFLEET_API_KEYS: KEY });
    env = { VOXFLEET_URL: gw.url, VOXFLEET_API_KEY: KEY };

    const samples = await fixtureSamples();
    const clip = (i: number, sec = 0.8): Uint8Array => wavBytes(samples.subarray(i * 1601, i * 1601 + Math.round(sec * 16000)));
    for (let i = 0; i < 6; i++) {
      await mkdir(join(work, 'in/meeting', i < 3 ? 'day1' : 'day2'), { recursive: true });
      await writeFile(join(work, 'in/meeting', i < 3 ? 'day1' : 'day2', `part-${i}.wav`), clip(i));
    }
    await writeFile(join(work, 'in/meeting/agenda.txt'), 'not audio');
    await writeFile(join(work, 'in/calls.zip'), await zipOf([{ name: 'q1/a.wav', data: clip(10) }, { name: 'q1/b.wav', data: clip(11) }, { name: 'q2/c.flac', data: await readFile(join(REPO_ROOT, 'fixtures/heldout/heldout-0007.flac')) }]));
    await writeFile(join(work, 'in/single.wav'), await readFile(CLIP));
    await writeFile(join(work, 'in/notes.txt'), 'plain text, not audio\n'.repeat(20));
    for (let i = 0; i < 4; i++) {
      await mkdir(join(work, 'in/tty'), { recursive: true });
      await writeFile(join(work, 'in/tty', `t${i}.wav`), clip(20 + i, 1.1));
    }
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await gw?.close();
    await redis?.stop();
    for (const d of [varDir, work]) if (d) await rm(d, { recursive: true, force: true });
  }, 60_000);

  it('transcribe (no TTY): a folder, an archive and a single file → plain lines, SRTs at mirrored paths, exit 0', async () => {
    const r = await cli(['transcribe', 'in/meeting', 'in/calls.zip', 'in/single.wav', '-o', 'out', '--format', 'srt'], env, work);
    expect(r.stderr).not.toMatch(/\x1b\[|\r/); // no terminal control codes without a TTY
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^batch b_\S+ ingesting: in\/meeting \(6 audio of 7 entries\)$/m);
    expect(r.stdout).toMatch(/^batch b_\S+ ingesting: in\/calls\.zip \(3 audio of 3 entries\)$/m);
    expect(r.stdout).toMatch(/^job j_\S+ (queued|processing|completed): in\/single\.wav$/m);
    expect(r.stdout).toMatch(/^done: 10 completed, 0 cached, 0 failed, 0 cancelled, 1 skipped; 10 files in out\/$/m);
    expect(r.stderr).toMatch(/^upload meeting: .*\(100%\)/m);
    expect(r.stderr).toMatch(/^jobs: 11\/11 \(100%\) ETA 0s$/m); // entries: 10 audio + 1 skipped
    expect(await filesUnder(join(work, 'out'))).toEqual([
      'calls/q1/a.srt',
      'calls/q1/b.srt',
      'calls/q2/c.srt',
      'meeting/day1/part-0.srt',
      'meeting/day1/part-1.srt',
      'meeting/day1/part-2.srt',
      'meeting/day2/part-3.srt',
      'meeting/day2/part-4.srt',
      'meeting/day2/part-5.srt',
      'single.srt',
    ]);
    batchId = /^batch (b_\S+) completed: .*→ out\/calls\//m.exec(r.stdout)![1]!;
  }, 240_000);

  it('transcribe on a TTY (script): progress bars redrawn in place with an ETA', async () => {
    const r = await cliTty(['transcribe', 'in/tty', '-o', 'out-tty', '--format', 'vtt'], env, work);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[2Kupload tty \[[#.]{24}\]/);
    expect(r.stdout).toMatch(/\r\x1b\[2Kjobs \[#{24}\] 100% 4\/4 ETA 0s/);
    expect(r.stdout).toMatch(/done: 4 completed/);
    expect(await filesUnder(join(work, 'out-tty'))).toEqual(['tty/t0.vtt', 'tty/t1.vtt', 'tty/t2.vtt', 'tty/t3.vtt']);
    expect((await readFile(join(work, 'out-tty/tty/t0.vtt'), 'utf8')).startsWith('WEBVTT')).toBe(true);
  }, 240_000);

  it('status, results, cancel and meaningful exit codes', async () => {
    const st = await cli(['status', batchId], env, work);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^batch ${batchId} completed: completed 3 \\(100%\\)$`, 'm'));
    const js = await cli(['status', batchId, '--json'], env, work);
    expect(JSON.parse(js.stdout)).toMatchObject({ id: batchId, status: 'completed', counts: { completed: 3 } });

    const res = await cli(['results', batchId, '-o', 'out2', '--format', 'vtt'], env, work);
    expect(res.code).toBe(0);
    expect(await filesUnder(join(work, 'out2'))).toEqual(['q1/a.vtt', 'q1/b.vtt', 'q2/c.vtt']);
    const csv = await cli(['results', batchId, '-o', 'out3', '--format', 'csv'], env, work);
    expect(csv.code).toBe(0);
    expect((await readFile(join(work, `out3/${batchId}.csv`), 'utf8')).trim().split('\n')).toHaveLength(4);

    const late = await cli(['cancel', batchId], env, work);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/already completed/);
    // delete erases the finished batch: it is gone afterwards
    const erased = await cli(['delete', batchId], env, work);
    expect(erased.code).toBe(0);
    expect(erased.stdout).toMatch(new RegExp(`^${batchId} erased$`, 'm'));
    expect((await cli(['status', batchId], env, work)).code).toBe(4);

    const queued = await cli(['transcribe', 'in/calls.zip', '--no-wait', '--language', 'de'], env, work);
    expect(queued.code).toBe(0);
    const id = /batch (b_\S+)/.exec(queued.stdout)![1]!;
    const c = await cli(['cancel', id], env, work);
    // Either it was cancelled, or (fast worker) it had already finished.
    expect([0, 1]).toContain(c.code);

    expect((await cli([], env, work)).code).toBe(2);
    expect((await cli(['frobnicate'], env, work)).code).toBe(2);
    expect((await cli(['status', 'nonsense'], env, work)).code).toBe(2);
    expect((await cli(['transcribe', 'in/does-not-exist.wav'], env, work)).code).toBe(2);
    const auth = await cli(['status', batchId], { ...env, VOXFLEET_API_KEY: 'wrong-key-0123456789abcdef' }, work);
    expect(auth.code).toBe(3);
    expect(auth.stderr).toMatch(/invalid API key/);
    const missing = await cli(['status', 'b_doesnotexist000'], env, work);
    expect(missing.code).toBe(4);
    const down = await cli(['status', batchId], { ...env, VOXFLEET_URL: `http://127.0.0.1:${await freePort()}` }, work);
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/cannot reach/);
    const rejected = await cli(['transcribe', 'in/notes.txt'], env, work);
    expect(rejected.code).toBe(6);
    expect(rejected.stderr).toMatch(/audio/);
  }, 240_000);
});
