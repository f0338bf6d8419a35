/**
 * Builds and starts a gateway from its config: Redis connections, queue,
 * stores, API keys, the HTTP server and the periodic retention cleanup.
 * Used by main.ts and by the end-to-end tests.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { GatewayAppConfig, Logger } from '@voxfleet/config';
import { createLogger } from '@voxfleet/config';
import { createQueue, createRedis, fleetKeys } from '@voxfleet/queue';
import { JobStore, LocalBlobStore, ResultCache, ResultStore, cleanupExpired } from '@voxfleet/storage';
import { ApiKeyAuth, loadApiKeys, ownerOf, type LoadedKeys } from './auth.js';
import { BatchStore } from './batch-store.js';
import { BatchService } from './batches.js';
import { callbackSecretForKey } from './callback.js';
import { createApp } from './app.js';
import { EventHub } from './events.js';
import { JobService } from './service.js';

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
  const keys = fleetKeys(prefix);
  const redis = createRedis(cfg.redis, 'gateway');
  const subscriber = createRedis(cfg.redis, 'gateway-sub');
  const bull = createRedis(cfg.redis, 'gateway-bull');
  for (const c of [redis, subscriber, bull]) c.on('error', (err: Error) => log.warn('redis error', { message: err.message }));

  const queue = createQueue(cfg.queue, bull);
  const blobs = new LocalBlobStore(cfg.storage.blobDir);
  const jobs = new JobStore(redis, prefix, cfg.storage.retentionSec);
  const results = new ResultStore(redis, prefix, cfg.storage.retentionSec);
  const cache = new ResultCache(redis, prefix, cfg.storage.cacheTtlSec);
  const events = new EventHub(subscriber, keys.eventsChannel);
  await events.start();

  const apiKeys = g.authEnabled ? await loadApiKeys(g.apiKeys, cfg.storage.varDir) : { keys: [], generated: false };
  const auth = new ApiKeyAuth(apiKeys.keys, g.authEnabled);
  const adminPassword = g.adminPassword || apiKeys.keys[0] || '';
  if (!adminPassword) log.warn('no admin password (auth off and VOXFLEET_ADMIN_PASSWORD unset): Bull Board is unreachable');

  const service = new JobService({ config: cfg, redis, queue, keys, blobs, jobs, results, cache, events });
  // Callback secrets are derived per API key, so a client can compute its own; with auth off, the configured one.
  const secrets = new Map(apiKeys.keys.map((k) => [ownerOf(k), callbackSecretForKey(k)]));
  const batches = new BatchService({
    config: cfg,
    redis,
    queue,
    keys,
    blobs,
    jobs,
    results,
    cache,
    events,
    service,
    store: new BatchStore(redis, prefix, cfg.storage.retentionSec),
    secretFor: (owner) => (g.authEnabled ? (secrets.get(owner) ?? null) : cfg.batch.callbackSecret || null),
    log,
  });
  batches.start();
  const app = createApp({
    service,
    auth,
    admin: { user: g.adminUser, password: adminPassword || `unset-${Math.random()}` },
    queue,
    blobs,
    jobs,
    maxUploadBytes: g.maxUploadBytes,
    trustProxy: g.trustProxy,
    metrics: { redis, queue, keys },
    idempotencyTtlSec: 24 * 3600,
    batches: { service: batches, maxArchiveBytes: cfg.batch.maxArchiveBytes },
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(g.port, g.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.requestTimeout = 0; // large uploads may take long; idle sockets still time out
  const port = (server.address() as AddressInfo).port;
  const host = g.host.includes(':') ? `[${g.host}]` : g.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;

  const cleanup = async (): Promise<void> => {
    // One gateway at a time does the sweep.
    const lock = await redis.set(`${prefix}:lock:cleanup`, String(process.pid), 'EX', 300, 'NX');
    if (lock !== 'OK') return;
    try {
      const report = await cleanupExpired({ jobs, blobs, retentionSec: cfg.storage.retentionSec });
      const graceMs = cfg.storage.retentionSec * 1000;
      const cleanedCompleted = await queue.clean(graceMs, 1000, 'completed');
      const cleanedFailed = await queue.clean(graceMs, 1000, 'failed');
      if (report.blobs || report.indexEntries || cleanedCompleted.length || cleanedFailed.length) {
        log.info('retention cleanup', { ...report, queueJobs: cleanedCompleted.length + cleanedFailed.length });
      }
    } finally {
      await redis.del(`${prefix}:lock:cleanup`);
    }
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
      await queue.close();
      await Promise.all([redis, subscriber, bull].map((c) => c.quit().catch(() => undefined)));
    })());

  return { url, port, apiKeys, adminUser: g.adminUser, adminPassword, service, batches, cleanup, close };
}
