/**
 * Builds and starts a gateway from its config — the composition root:
 * Redis connections, the fleet protocol's operations, the stores, the
 * services, the routes table, the HTTP server and the periodic retention
 * cleanup. Used by main.ts and by the end-to-end tests.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { GatewayAppConfig, Logger } from '@voxfleet/config';
import { createLogger } from '@voxfleet/config';
import { CancelSignals, FleetEvents, FleetStats, Heartbeats, TaskQueue, createRedis } from '@voxfleet/queue';
import { BatchStore, JobStore, LocalBlobStore, ResultCache, ResultStore, RetentionLock, cleanupExpired } from '@voxfleet/storage';
import { routes } from './api/routes.js';
import { ApiKeyAuth, loadApiKeys, ownerOf, type LoadedKeys } from './auth.js';
import { callbackSecretForKey } from './batches/callback.js';
import { BatchService } from './batches/service.js';
import { EventHub } from './events.js';
import { createApp } from './http/express.js';
import { JobService } from './jobs/service.js';
import { TaskService } from './jobs/tasks.js';
import { ModelCatalog } from './models.js';

export interface RunningGateway {
  url: string;
  port: number;
  apiKeys: LoadedKeys;
  adminUser: string;
  adminPassword: string;
  service: JobService;
  batches: BatchService;
  /** runs retention cleanup now (also runs periodically) */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export async function startGateway(cfg: GatewayAppConfig, log: Logger = createLogger('gateway')): Promise<RunningGateway> {
  const g = cfg.gateway;
  const prefix = cfg.redis.keyPrefix;
  const retentionSec = cfg.storage.retentionSec;
  // Behind HTTP requests: Redis calls fail fast during an outage (503), they never wait for it.
  const redis = createRedis(cfg.redis, 'gateway', { role: 'client' });
  const subscriber = createRedis(cfg.redis, 'gateway-sub');
  const bull = createRedis(cfg.redis, 'gateway-bull', { role: 'producer' });
  for (const c of [redis, subscriber, bull]) c.on('error', (err: Error) => log.warn('redis error', { message: err.message }));

  const queue = new TaskQueue(cfg.queue, bull, retentionSec);
  const heartbeats = new Heartbeats(redis, prefix);
  const events = new FleetEvents(redis, prefix);
  const blobs = new LocalBlobStore(cfg.storage.blobDir);
  const jobs = new JobStore(redis, prefix, retentionSec);
  const results = new ResultStore(redis, prefix, retentionSec);
  const cache = new ResultCache(redis, prefix, cfg.storage.cacheTtlSec);
  const hub = new EventHub();
  await hub.start(events, subscriber);

  // One queue per model; a job goes to its model's queue, where only workers holding that model take it.
  const models = new ModelCatalog({
    models: cfg.models,
    heartbeats,
    queueBase: cfg.queue.name,
    makeQueue: (name) => new TaskQueue({ ...cfg.queue, name }, bull, retentionSec, { timeoutMs: cfg.redis.commandTimeoutMs }),
  });
  const apiKeys = g.authEnabled ? await loadApiKeys(g.apiKeys, cfg.storage.varDir) : { keys: [], generated: false };
  const auth = new ApiKeyAuth(apiKeys.keys, g.authEnabled);
  const adminPassword = g.adminPassword || apiKeys.keys[0] || '';
  if (!adminPassword) log.warn('no admin password (auth off and VOXFLEET_ADMIN_PASSWORD unset): Bull Board is unreachable');

  const models = new ModelResolver(heartbeats, queue.name);
  const stats = new FleetStats(redis, prefix);
  const tasks = new TaskService({
    retentionSec,
    shareCache: cfg.storage.cacheShared,
    queue: (m) => models.queue(m),
    results,
    cache,
    cancels: new CancelSignals(redis, prefix, retentionSec),
    events,
    stats,
    blobs,
    served: (m) => models.served(m),
    defaultModel: models.defaultModel,
  });
  const resolveModel = (requested: string | null): Promise<string> => models.resolve(requested);
  const service = new JobService({ config: cfg, tasks, blobs, jobs, events, hub, resolveModel });
  // Callback secrets are derived per API key, so a client can compute its own; with auth off, the configured one.
  const secrets = new Map(apiKeys.keys.map((k) => [ownerOf(k), callbackSecretForKey(k)]));
  const batches = new BatchService({
    config: cfg,
    store: new BatchStore(redis, jobs, prefix, retentionSec),
    blobs,
    jobs,
    results,
    queue: (m) => models.queue(m),
    tasks,
    secretFor: (owner) => (g.authEnabled ? (secrets.get(owner) ?? null) : cfg.batch.callbackSecret || null),
    log,
  });
    resolveModel,
  batches.start();
  const app = createApp({
    routes: routes({
      jobs: { service, jobs, maxUploadBytes: g.maxUploadBytes, idempotencyTtlSec: 24 * 3600 },
      batches: { service: batches, maxArchiveBytes: cfg.batch.maxArchiveBytes, discard: (b) => service.discard(b), eraseJob: (r) => service.erase(r) },
      system: {
        ping: async () => (await redis.ping()) === 'PONG',
        heartbeats,
        models,
        metrics: { queues: () => models.queues(), heartbeats, stats },
      },
    }),
    auth,
    admin,
    board: models.queues().map((q) => q.bull),
    blobs,
    trustProxy: g.trustProxy,
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(g.port, g.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.requestTimeout = 0; // large uploads may take long; idle sockets still time out
  const port = (server.address() as AddressInfo).port;
  const host = g.host.includes(':') ? `[${g.host}]` : g.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

  const retentionLock = new RetentionLock(redis, prefix);
  const cleanup = async (): Promise<void> => {
    // One gateway at a time does the sweep.
    await retentionLock.run(async () => {
      const report = await cleanupExpired({ jobs, blobs, retentionSec });
      let queueJobs = 0;
      for (const q of models.queues()) queueJobs += await q.clean(retentionSec * 1000);
      if (report.blobs || report.indexEntries || queueJobs) log.info('retention cleanup', { ...report, queueJobs });
    });
  };
  const runCleanup = (): void => {
    cleanup().catch((err: Error) => log.warn('retention cleanup failed', { message: err.message }));
  };
  const timer = g.cleanupIntervalSec > 0 ? setInterval(runCleanup, g.cleanupIntervalSec * 1000) : undefined;
  timer?.unref();
  if (timer) runCleanup();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (timer) clearInterval(timer);
      await batches.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 5000).unref();
      });
      await Promise.all(models.queues().map((q) => q.close()));
      await Promise.all([redis, subscriber, bull].map((c) => c.quit().catch(() => undefined)));
    })());

  return { url, port, apiKeys, adminUser: g.adminUser, adminPassword, service, batches, cleanup, close };
}
