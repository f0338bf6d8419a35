/* eslint-disable @typescript-eslint/no-explicit-any -- API answers are inspected field by field */
/**
 * Many hosts, made by the test itself: four network namespaces on one bridge
 * (testkit netns.ts; iproute2, as root) — `store` (redis-server with AOF and
 * noeviction, a password, and s3rver, both bound to its address), `gateway`
 * (the gateway process on its own address, auth on), `worker-a` and
 * `worker-b` (a worker process each). They reach each other only by address:
 * each has its own loopback, its own var dir, TMPDIR and HOME (so no blob,
 * temp file or compile cache is shared: blobs live in the bucket, S3), and the
 * test talks HTTP to the gateway from the root namespace. No mocks: real
 * processes, real TCP between namespaces.
 *
 * Single jobs and an archive batch complete. Then worker-b's bridge port is
 * set down mid-batch (the cable pulled at the switch: packets dropped, no
 * connection reset): its locks expire, worker-a's stalled check puts its
 * tasks back and runs them (run 2), and every entry of the batch completes
 * exactly once while worker-b is still cut off. Once the link is back,
 * worker-b's connections (still open: nothing reset them) deliver what it
 * had sent into the void, it heartbeats again and takes new work; nothing it
 * says late changes a finished job: the runs it still had in hand end with
 * their outcome dropped (its lock is gone, so its fenced write does not land),
 * and the fleet counts every task once. Skipped (with the reason) only when not
 * root or namespaces / veth / bridges are not permitted here.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetStats } from '@voxfleet/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  baseEnv,
  createNetwork,
  distinctClips,
  filesUnder,
  fixtureSamples,
  netnsUnavailable,
  spawnGateway,
  spawnWorker,
  startRedis,
  startS3,
  zipOf,
  type TestGatewayProcess,
  type TestNetwork,
  type TestRedis,
  type TestS3,
  type TestWorker,
} from '@voxfleet/testkit';

const unavailable = await netnsUnavailable();
if (unavailable) console.warn(`multihost: skipped — ${unavailable}`);

const KEY = 'multihost-key-0123456789abcdef';
const REDIS_PASSWORD = 'multihost-redis-password';
// Short locks so a cut-off worker's tasks come back within seconds; small batches so a batch spans many rounds.
const FLEET = {
  VOXFLEET_LOCK_MS: '4000',
  VOXFLEET_STALLED_INTERVAL_MS: '1000',
  VOXFLEET_HEARTBEAT_TTL_MS: '3000',
  VOXFLEET_BATCH_MAX: '4',
  VOXFLEET_WORKER_CONCURRENCY: '4',
  VOXFLEET_BATCH_WAIT_MS: '50',
  VOXFLEET_WORKER_DRAIN_MS: '5000',
  VOXFLEET_GATEWAY_DRAIN_MS: '3000',
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const taskIds = (log: string, what: 'started' | 'completed'): Set<string> => new Set([...log.matchAll(new RegExp(`task ${what} taskId=(\\S+)`, 'g'))].map((m) => m[1]!));
/** Tasks whose run ended after it had lost its lock: the processor's outcome write refused, the run dropped. */
const droppedIds = (log: string): Set<string> => new Set([...log.matchAll(/late run dropped: its outcome is not written taskId=(\S+)/g)].map((m) => m[1]!));

describe.skipIf(unavailable !== null)(`many hosts in network namespaces (redis + s3rver | gateway | worker | worker)${unavailable ? ` — skipped: ${unavailable}` : ''}`, () => {
  let net: TestNetwork;
  let redis: TestRedis;
  let s3: TestS3;
  let gw: TestGatewayProcess;
  let root: string;
  let api: Client;
  let samples: Float32Array;
  const workers = new Map<string, TestWorker>();
  const varDirs = new Map<string, string>();
  /** tasks sent so far (each with audio no other has: no cache hits, no dedup) */
  let tasks = 0;

  /** The environment of a process on `host`: its own var dir, temp dir and home, Redis and the bucket by address. */
  const hostEnv = async (host: string): Promise<Record<string, string>> => {
    const dir = join(root, host);
    await mkdir(join(dir, 'tmp'), { recursive: true });
    varDirs.set(host, join(dir, 'var'));
    return { ...baseEnv(redis.url, join(dir, 'var')), ...s3.env(), ...FLEET, TMPDIR: join(dir, 'tmp'), HOME: dir };
  };
  const worker = (id: string): TestWorker => workers.get(id)!;
  const readyWorkers = async (): Promise<string[]> => ((await api.get('/readyz')).body.workers as { id: string; status: string }[]).filter((w) => w.status === 'ready').map((w) => w.id).sort();
  const backlog = async (): Promise<Record<string, number>> => ((await api.get('/v1/models')).body.models as { name: string; backlog: Record<string, number> }[]).find((m) => m.name === 'voxfleet-en-char-ctc')!.backlog;
  const entries = async (batchId: string): Promise<Record<string, any>[]> => (await api.get(`/v1/batches/${batchId}/jobs?limit=1000`)).body.entries;
  const jobsOf = (list: Record<string, any>[]): Promise<Record<string, any>[]> => Promise.all(list.map(async (e) => (await api.get(`/v1/jobs/${e.jobId}`)).body));
  const batchOf = (prefix: string, clips: Uint8Array[]): Promise<Uint8Array> => zipOf(clips.map((data, i) => ({ name: `${prefix}/${String(i).padStart(3, '0')}.wav`, data })));

  beforeAll(async () => {
    net = await createNetwork(['store', 'gateway', 'worker-a', 'worker-b']);
    root = await mkdtemp(join(tmpdir(), 'voxfleet-multihost-'));
    const store = net.host('store');
    [redis, s3] = await Promise.all([
      startRedis({ host: store.ip, port: 6379, wrap: net.wrap('store'), appendonly: true, password: REDIS_PASSWORD }),
      startS3('voxfleet-multihost', { host: store.ip, port: 9000, wrap: net.wrap('store') }),
    ]);
    const gwHost = net.host('gateway');
    const [gwEnv, aEnv, bEnv] = await Promise.all([hostEnv('gateway'), hostEnv('worker-a'), hostEnv('worker-b')]);
    const [g, a, b] = await Promise.all([
      spawnGateway({ ...gwEnv, VOXFLEET_HOST: gwHost.ip, VOXFLEET_PORT: '8080', VOXFLEET_API_KEYS: KEY, VOXFLEET_ADMIN_PASSWORD: 'multihost-admin-password', VOXFLEET_CLEANUP_INTERVAL_SEC: '0' }, { wrap: net.wrap('gateway') }),
      spawnWorker('worker-a', aEnv, { wrap: net.wrap('worker-a') }),
      spawnWorker('worker-b', bEnv, { wrap: net.wrap('worker-b') }),
    ]);
    gw = g;
    workers.set('worker-a', a).set('worker-b', b);
    api = new Client(gw.url, KEY);
    samples = await fixtureSamples('en-librispeech-1995-1837-0001.wav');
    for (let i = 0; i < 100 && (await readyWorkers()).length < 2; i++) await sleep(100);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    await gw?.stop();
    await redis?.stop();
    await s3?.stop();
    await net?.destroy();
    if (root) await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('each host reaches the store by address only, and the gateway listens on its own', async () => {
    const store = net.host('store');
    expect(gw.url).toBe(`http://${net.host('gateway').ip}:8080`);
    for (const h of ['gateway', 'worker-a', 'worker-b']) {
      expect(await net.reachable(h, store.ip, 6379)).toBe(true);
      expect(await net.reachable(h, store.ip, 9000)).toBe(true);
      // a loopback of its own: Redis is not on it
      expect(await net.reachable(h, '127.0.0.1', 6379)).toBe(false);
    }
    expect(await net.reachable('worker-a', net.host('gateway').ip, 8080)).toBe(true);
    expect(await readyWorkers()).toEqual(['worker-a', 'worker-b']);
  }, 60_000);

  it('single jobs complete with transcripts; the audio lives only in the bucket', async () => {
    const clips = distinctClips(samples, 4, 2.0);
    const created = await Promise.all(clips.map((c, i) => api.upload(c, `single-${i}.wav`)));
    for (const c of created) expect(c.status).toBe(202);
    tasks += clips.length;
    const done = await Promise.all(created.map((c) => api.waitFinal(c.body.id, 60)));
    for (const d of done) {
      expect(d.status).toBe('completed');
      expect(d.result.text.trim().length).toBeGreaterThan(5);
      expect(['worker-a', 'worker-b']).toContain(d.processing.workerId);
    }
    const objects = (await filesUnder(join(s3.dir, s3.bucket))).filter((f) => f.endsWith('._S3rver_object'));
    expect(objects.length).toBeGreaterThanOrEqual(clips.length);
    for (const dir of varDirs.values()) expect(existsSync(join(dir, 'blobs'))).toBe(false);
  }, 180_000);

  it('an archive batch of 24 entries completes across both worker hosts', async () => {
    const created = await api.uploadBatch(await batchOf('calls', distinctClips(samples.subarray(8000), 24, 1.2)), 'calls.zip');
    expect(created.status).toBe(202);
    expect(created.body.entries).toMatchObject({ total: 24, audio: 24 });
    tasks += 24;
    const done = await api.waitBatch(created.body.id);
    expect(done.status).toBe('completed');
    expect(done.counts).toMatchObject({ completed: 24, failed: 0, queued: 0, processing: 0, cached: 0 });
    const list = await entries(done.id);
    expect(new Set(list.map((e) => e.path)).size).toBe(24);
    for (const e of list) expect(e.text.trim().length).toBeGreaterThan(0);
    const byWorker = new Set((await jobsOf(list)).map((j) => j.processing.workerId));
    expect([...byWorker].sort()).toEqual(['worker-a', 'worker-b']);
  }, 300_000);

  // what the cut-off scenario found, for the rejoin checks
  const cut = { batchId: '', held: new Set<string>(), snapshot: new Map<string, { text: string; workerId: string; attempts: number }>(), stats: { completed: 0, failed: 0 } };

  it('a worker host cut off mid-batch loses nothing: its locks expire, the other worker finishes its tasks, every entry completes once', async () => {
    const b = worker('worker-b');
    const mark = b.output().length;
    const N = 40;
    const created = await api.uploadBatch(await batchOf('cut', distinctClips(samples.subarray(16000), N, 2.5)), 'cut.zip');
    expect(created.status).toBe(202);
    tasks += N;
    cut.batchId = created.body.id;
    // Mid-batch: worker-b holds started, unfinished tasks.
    const held = (): Set<string> => {
      const log = b.output().slice(mark);
      const finished = taskIds(log, 'completed');
      return new Set([...taskIds(log, 'started')].filter((t) => !finished.has(t)));
    };
    for (let i = 0; i < 1200 && held().size < 2; i++) await sleep(25);
    expect(held().size).toBeGreaterThan(0);
    await net.cut('worker-b');
    // A run counts as started once Redis answered its run count: let the lines already on their way arrive.
    await sleep(500);
    const cutAt = b.output().length;
    cut.held = held();
    expect((await api.get(`/v1/batches/${cut.batchId}`)).body.status).not.toBe('completed');
    expect(await net.reachable('worker-b', net.host('store').ip, 6379)).toBe(false);

    const done = await api.waitBatch(cut.batchId);
    // still cut off, still running
    expect(b.proc.exitCode).toBeNull();
    expect(await net.reachable('worker-b', net.host('store').ip, 6379)).toBe(false);
    expect(done.status).toBe('completed');
    expect(done.counts).toMatchObject({ completed: N, failed: 0, queued: 0, processing: 0, cached: 0 });
    const list = await entries(cut.batchId);
    expect(list).toHaveLength(N);
    expect(new Set(list.map((e) => e.path)).size).toBe(N);
    const jsonl = (await api.get(`/v1/batches/${cut.batchId}/results?format=jsonl`)).text.trim().split('\n').map((l: string) => JSON.parse(l) as Record<string, any>);
    expect(jsonl).toHaveLength(N);
    expect(new Set(jsonl.map((r) => r.path)).size).toBe(N);
    expect(jsonl.every((r) => r.status === 'completed' && r.text.trim().length > 0)).toBe(true);

    const jobs = await jobsOf(list);
    const reruns = jobs.filter((j) => j.processing.attempts > 1);
    // worker-a re-ran what worker-b held; nothing ran more than twice; worker-b finished nothing after the cut
    expect(reruns.length).toBeGreaterThan(0);
    expect(reruns.length).toBeLessThanOrEqual(cut.held.size);
    for (const j of reruns) expect(j.processing).toMatchObject({ workerId: 'worker-a', attempts: 2 });
    expect(jobs.every((j) => j.processing.attempts <= 2)).toBe(true);
    const afterCut = b.output().slice(cutAt);
    expect(taskIds(afterCut, 'started').size).toBe(0);
    for (const j of jobs) cut.snapshot.set(j.id, { text: j.result.text, workerId: j.processing.workerId, attempts: j.processing.attempts });

    // the queue: every task completed once, none waiting, running or failed
    expect(await backlog()).toMatchObject({ waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: tasks });
    expect(await readyWorkers()).toEqual(['worker-a']);
    const stats = await new FleetStats(redis.client, 'voxfleet').read();
    cut.stats = { completed: stats.tasks.completed, failed: stats.tasks.failed };
    expect(cut.stats).toEqual({ completed: tasks, failed: 0 });
  }, 400_000);

  it('restored, the cut-off worker rejoins: it heartbeats and takes work again, and nothing it sent late changes a finished job', async () => {
    expect(cut.batchId).not.toBe('');
    const b = worker('worker-b');
    const mark = b.output().length;
    await net.restore('worker-b');
    // the bridge port comes up and ARP resolves again within moments of the link going up, not at once (one clean-clone CI run saw a single try fail)
    let reachable = false;
    for (let i = 0; i < 10 && !reachable; i++) reachable = await net.reachable('worker-b', net.host('store').ip, 6379);
    expect(reachable).toBe(true);
    // Its old connections were never reset: TCP retransmits what it wrote during the cut (backing off, so this can take a while).
    let back = false;
    for (let i = 0; i < 1800 && !back && b.proc.exitCode === null; i++) {
      back = (await readyWorkers()).includes('worker-b');
      if (!back) await sleep(100);
    }
    expect({ back, exitCode: b.proc.exitCode }).toEqual({ back: true, exitCode: null });
    await sleep(3000); // a few stalled-check rounds after its first heartbeat: whatever it still had queued has landed

    // The batch and its jobs are as they were.
    const view = (await api.get(`/v1/batches/${cut.batchId}`)).body;
    expect(view.status).toBe('completed');
    expect(view.counts).toMatchObject({ completed: cut.snapshot.size, failed: 0 });
    const jobs = await jobsOf(await entries(cut.batchId));
    for (const j of jobs) {
      expect(j.status).toBe('completed');
      expect({ text: j.result.text, workerId: j.processing.workerId, attempts: j.processing.attempts }).toEqual(cut.snapshot.get(j.id));
    }
    expect(await backlog()).toMatchObject({ waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: tasks });
    const late = b.output().slice(mark);
    // late, worker-b ends nothing but what it had in hand at the cut (it starts nothing until it is back), and those
    // runs are dropped: their locks are gone, so their outcome writes do not land (nor does BullMQ let them complete
    // the jobs). A completion logged late is one whose write landed before the cut, its reply held up by it.
    const dropped = droppedIds(late);
    for (const t of [...dropped, ...taskIds(late, 'completed')]) expect(cut.held.has(t)).toBe(true);
    for (const t of dropped) expect(taskIds(late, 'completed').has(t)).toBe(false);

    // New work: both hosts take part.
    const created = await api.uploadBatch(await batchOf('after', distinctClips(samples.subarray(24000), 16, 1.3)), 'after.zip');
    expect(created.status).toBe(202);
    tasks += 16;
    const done = await api.waitBatch(created.body.id);
    expect(done.counts).toMatchObject({ completed: 16, failed: 0 });
    const byWorker = new Set((await jobsOf(await entries(done.id))).map((j) => j.processing.workerId));
    expect(byWorker.has('worker-b')).toBe(true);
    expect(await backlog()).toMatchObject({ active: 0, failed: 0, completed: tasks });
    // The fleet's tasks_completed (voxfleet_tasks_total) counts each task once: the runs worker-b ended late
    // wrote no outcome and counted nothing; the runs that owned their tasks did.
    const lateDropped = [...droppedIds(b.output().slice(mark))].filter((t) => cut.held.has(t));
    const stats = await new FleetStats(redis.client, 'voxfleet').read();
    expect({ completed: stats.tasks.completed, failed: stats.tasks.failed }).toEqual({ completed: tasks, failed: 0 });
    console.info(`multihost: tasks ${tasks}, tasks_completed ${stats.tasks.completed}; worker-b held ${cut.held.size} at the cut and dropped ${lateDropped.length} of them after the link came back`);

    // Nothing on any host's disk but its own temporary copies, and those are gone.
    for (const dir of varDirs.values()) {
      expect(existsSync(join(dir, 'blobs'))).toBe(false);
      expect(await readdir(join(dir, 'blob-tmp')).catch(() => [])).toEqual([]);
    }
    // and it still drains and exits cleanly
    expect(await b.stop()).toBe(0);
    workers.delete('worker-b');
    console.info(`multihost: worker-b after the link came back:\n${late.split('\n').filter((l) => /WARN|ERROR|task /.test(l)).slice(0, 40).join('\n')}`);
  }, 400_000);
});
