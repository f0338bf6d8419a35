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
import { CancelSignals, FleetEvents, FleetStats, Heartbeats, ReplicationAck, TaskQueue, createRedis, describeRedis } from '@voxfleet/queue';
import { BatchStore, JobStore, ResultCache, ResultStore, RetentionLock, cleanupExpired, createBlobStore } from '@voxfleet/storage';
import { startTelemetry, type Telemetry } from '@voxfleet/telemetry';
import { routes } from './api/routes.js';
import { ApiKeyAuth, loadAdminCredentials, loadApiKeys, ownerOf, type AdminCredentials, type LoadedKeys } from './auth.js';
import { callbackSecretForKey } from './batches/callback.js';
import { BatchService } from './batches/service.js';
import { EventHub } from './events.js';
import { createApp } from './http/express.js';
import { uploadLimits } from './http/guard.js';
import { createHttpServer } from './http/server.js';
import { acknowledgement } from './jobs/acknowledge.js';
import { JobService } from './jobs/service.js';
import { gatewayMetrics } from './metrics.js';
import { TaskService } from './jobs/tasks.js';
import { ModelCatalog } from './models.js';

export interface RunningGateway {
  url: string;
  port: number;
  apiKeys: LoadedKeys;
  adminUser: string;
  adminPassword: string;
  /** where the admin password came from (`file`, `generated` on first start) */
  admin: AdminCredentials;
  service: JobService;
  batches: BatchService;
  /** this gateway's OpenTelemetry (meter, tracer, Prometheus listener) */
  telemetry: Telemetry;
  /** runs retention cleanup now (also runs periodically) */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** telemetry started by the caller (tests: with an in-memory span exporter), left running at close; default: one from cfg.telemetry, stopped at close */
  telemetry?: Telemetry;
  /** the telemetry this gateway starts is registered as the process's OpenTelemetry SDK (NodeSDK; the process entry point) */
  registerTelemetry?: boolean;
}

export async function startGateway(cfg: GatewayAppConfig, log: Logger = createLogger('gateway'), opts: GatewayOptions = {}): Promise<RunningGateway> {
  const g = cfg.gateway;
  const prefix = cfg.redis.keyPrefix;
  const retentionSec = cfg.storage.retentionSec;
  // Credentials first: a refused admin password stops the start before any connection is open.
  const apiKeys = g.authEnabled ? await loadApiKeys(g.apiKeys, cfg.storage.varDir) : { keys: [], generated: false };
  const auth = new ApiKeyAuth(apiKeys.keys, g.authEnabled);
  const admin = await loadAdminCredentials(g.adminUser, g.adminPassword, apiKeys.keys, cfg.storage.varDir);
  // Before any connection: a metrics port in use stops the start with nothing to close.
  const t = cfg.telemetry;
  const telemetry = opts.telemetry ?? (await startTelemetry({ service: 'voxfleet-gateway', prometheusPort: t.metricsPort, prometheusHost: t.metricsHost, otlpEndpoint: t.otlpEndpoint, otlpIntervalMs: t.otlpIntervalMs, register: opts.registerTelemetry }));
  log.info('telemetry', { sdk: telemetry.registered ? 'NodeSDK (registered)' : 'private providers', prometheus: telemetry.prometheusUrl ?? 'GET /metrics only', otlp: telemetry.otlp ? 'on (see configuration)' : 'off' });
  if (telemetry.note) log.warn(telemetry.note);
  // Behind HTTP requests: Redis calls fail fast during an outage (503), they never wait for it.
  const redis = createRedis(cfg.redis, 'gateway', { role: 'client' });
  const subscriber = createRedis(cfg.redis, 'gateway-sub');
  const bull = createRedis(cfg.redis, 'gateway-bull', { role: 'producer' });
  // Redis WAIT blocks its connection, so acknowledging submissions gets one of its own (ReplicationAck).
  const ackConnection = cfg.redis.ackReplicas > 0 ? createRedis(cfg.redis, 'gateway-ack', { role: 'client' }) : null;
  const connections = [redis, subscriber, bull, ...(ackConnection ? [ackConnection] : [])];
  for (const c of connections) c.on('error', (err: Error) => log.warn('redis error', { message: err.message }));
  const acknowledge = acknowledgement(new ReplicationAck(ackConnection, prefix, cfg.redis.ackReplicas, cfg.redis.ackTimeoutMs));
  log.info('redis', { at: describeRedis(cfg.redis), ackReplicas: cfg.redis.ackReplicas, ...(ackConnection ? { ackTimeoutMs: cfg.redis.ackTimeoutMs } : {}) });

  const heartbeats = new Heartbeats(redis, prefix);
  // One queue per model; a job goes to its model's queue, where only workers holding that model take it.
  const models = new ModelCatalog({
    models: cfg.models,
    heartbeats,
    queueBase: cfg.queue.name,
    makeQueue: (name) => new TaskQueue({ ...cfg.queue, name }, bull, retentionSec, { timeoutMs: cfg.redis.commandTimeoutMs }),
  });
  const events = new FleetEvents(redis, prefix);
  const blobs = createBlobStore(cfg.storage);
  const jobs = new JobStore(redis, prefix, retentionSec);
  const results = new ResultStore(redis, prefix, retentionSec);
  const cache = new ResultCache(redis, prefix, cfg.storage.cacheTtlSec);
  const hub = new EventHub();
  await hub.start(events, subscriber);


  const stats = new FleetStats(redis, prefix);
  const metrics = gatewayMetrics(telemetry.meter, { queues: () => models.modelQueues(), heartbeats, stats });
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
    cacheLookup: metrics.cacheLookup,
    tracer: telemetry.tracer,
  });
  const resolveModel = (requested: string | null): Promise<string> => models.resolve(requested);
  const checkOptions = (model: string, options: { language: string | null; itn: boolean | null; hotwords?: string[] | null }): Promise<void> => models.checkOptions(model, options);
  const service = new JobService({ config: cfg, tasks, blobs, jobs, events, hub, resolveModel, checkOptions });
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
    resolveModel,
    checkOptions,
    secretFor: (owner) => (g.authEnabled ? (secrets.get(owner) ?? null) : cfg.batch.callbackSecret || null),
    log,
  });
  batches.start();
  const app = createApp({
    routes: routes({
      jobs: {
        service,
        jobs,
        maxUploadBytes: g.maxUploadBytes,
        idempotencyTtlSec: 24 * 3600,
        // as long as a request may run (its upload is bounded by the request timeout), a minute more
        idempotencyPendingTtlSec: Math.ceil((cfg.http.requestTimeoutMs > 0 ? cfg.http.requestTimeoutMs : 3600_000) / 1000) + 60,
        acknowledge,
      },
      batches: { service: batches, maxArchiveBytes: cfg.batch.maxArchiveBytes, discard: (b) => service.discard(b), eraseJob: (r) => service.erase(r), acknowledge },
      system: {
        ping: async () => (await redis.ping()) === 'PONG',
        heartbeats,
        models,
        metricsText: () => telemetry.metricsText(),
      },
    }),
    auth,
    admin,
    board: models.queues().map((q) => q.bull),
    blobs,
    trustProxy: g.trustProxy,
    http: cfg.http,
    uploads: uploadLimits(g.maxUploadBytes, cfg.batch.maxArchiveBytes),
    observe: { tracer: telemetry.tracer, record: metrics.request },
  });

  // Header and request timeouts from config; a stalled upload body is cut by the body timeout (http/guard.ts).
  const server: Server = createHttpServer(app, cfg.http);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(g.port, g.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
      metrics.stop();
      if (!opts.telemetry) await telemetry.shutdown();
      await Promise.all(models.queues().map((q) => q.close()));
      await Promise.all(connections.map((c) => c.quit().catch(() => undefined)));
    })());

  return { url, port, apiKeys, adminUser: g.adminUser, adminPassword: admin.password, admin, service, batches, telemetry, cleanup, close };
}
