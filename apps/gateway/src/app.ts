/**
 * Express adapter: routes → JobService calls, ApiError → JSON error bodies.
 * Bull Board is mounted at /admin/queues behind HTTP basic auth.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import { checkBasicAuth, type ApiKeyAuth } from './auth.js';
import { mountBatchRoutes } from './batch-routes.js';
import type { BatchService } from './batches.js';
import { ApiError } from './errors.js';
import { renderMetrics, type MetricsSource } from './metrics.js';
import { parseFormat } from './render.js';
import type { JobService } from './service.js';
import { drain, parseUpload } from './upload.js';
import type { BlobStore } from '@voxfleet/storage';
import type { JobStore } from '@voxfleet/storage';

export const ADMIN_PATH = '/admin/queues';

export interface AppDeps {
  service: JobService;
  auth: ApiKeyAuth;
  admin: { user: string; password: string };
  queue: Queue;
  blobs: BlobStore;
  jobs: JobStore;
  maxUploadBytes: number;
  trustProxy: boolean;
  metrics: MetricsSource;
  idempotencyTtlSec: number;
  /** archive batches (`/v1/batches`); absent: those routes are not mounted */
  batches?: { service: BatchService; maxArchiveBytes: number };
}

declare module 'express-serve-static-core' {
  interface Request {
    owner?: string;
  }
}

function sendError(res: Response, err: ApiError): void {
  res.set(err.headers).status(err.status).json(err.toBody());
}

export function createApp(d: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', d.trustProxy);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await d.service.readiness();
    res.status(r.ready ? 200 : 503).json({
      ready: r.ready,
      redis: r.redis,
      workers: r.workers.map((w) => ({ id: w.workerId, status: w.status, model: w.modelId, provider: w.provider, loadMs: w.loadMs })),
    });
  });

  // Bull Board: browsers prompt for basic-auth credentials on the 401 challenge.
  const board = new ExpressAdapter();
  board.setBasePath(ADMIN_PATH);
  createBullBoard({ queues: [new BullMQAdapter(d.queue)], serverAdapter: board, options: { uiConfig: { boardTitle: 'VoxFleet' } } });
  app.use(
    ADMIN_PATH,
    (req, res, next) => {
      if (checkBasicAuth(req.headers.authorization, d.admin.user, d.admin.password)) return next();
      res
        .status(401)
        .set('WWW-Authenticate', 'Basic realm="VoxFleet admin", charset="UTF-8"')
        .json({ error: { code: 'unauthorized', message: 'admin credentials required (HTTP basic auth)' } });
    },
    board.getRouter() as express.Router,
  );

  const bearer = (req: Request, _res: Response, next: NextFunction): void => {
    req.owner = d.auth.check(req.headers.authorization);
    next();
  };

  app.get('/metrics', bearer, async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await renderMetrics(d.metrics));
  });

  app.post('/v1/jobs', async (req, res) => {
    try {
      req.owner = d.auth.check(req.headers.authorization);
    } catch (err) {
      await drain(req);
      throw err;
    }
    const owner = req.owner;
    const idemKey = req.get('idempotency-key');
    if (idemKey !== undefined) {
      if (idemKey.length < 1 || idemKey.length > 255) {
        await drain(req);
        throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 characters');
      }
      const prior = await d.jobs.claimIdempotency(owner || 'anon', idemKey, d.idempotencyTtlSec);
      if (prior !== null) {
        await drain(req);
        if (prior === 'pending') throw new ApiError(409, 'idempotency_conflict', 'a request with this Idempotency-Key is still in progress');
        const job = await d.service.getJob(prior, owner);
        res.status(job.status === 'queued' || job.status === 'processing' ? 202 : 200).set('Idempotent-Replayed', 'true').json(job);
        return;
      }
    }
    try {
      const upload = await parseUpload(req, d.blobs, d.maxUploadBytes);
      const { httpStatus, job } = await d.service.createJob({
        blob: upload.blob,
        filename: upload.filename,
        language: upload.fields.language,
        priority: upload.fields.priority,
        owner,
      });
      if (idemKey !== undefined) await d.jobs.resolveIdempotency(owner || 'anon', idemKey, job.id, d.idempotencyTtlSec);
      res.status(httpStatus).location(job.links.self).json(job);
    } catch (err) {
      if (idemKey !== undefined) await d.jobs.resolveIdempotency(owner || 'anon', idemKey, null, d.idempotencyTtlSec);
      throw err;
    }
  });

  app.get('/v1/jobs', bearer, async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    res.json(await d.service.listJobs(req.owner!, { status: q.status, limit: q.limit, cursor: q.cursor }));
  });

  app.get('/v1/jobs/:id', bearer, async (req, res) => {
    const raw = req.query.wait;
    let waitSec = 0;
    if (raw !== undefined) {
      waitSec = Number(raw);
      if (!Number.isFinite(waitSec) || waitSec < 0) throw new ApiError(400, 'invalid_wait', 'wait must be a number of seconds ≥ 0');
    }
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    res.json(await d.service.getJob(String(req.params.id), req.owner!, { waitSec, signal: gone.signal }));
  });

  app.get('/v1/jobs/:id/transcript', bearer, async (req, res) => {
    const rendered = await d.service.transcript(String(req.params.id), req.owner!, parseFormat(req.query.format));
    res.type(rendered.contentType).send(rendered.body);
  });

  app.delete('/v1/jobs/:id', bearer, async (req, res) => {
    res.json(await d.service.cancelJob(String(req.params.id), req.owner!));
  });

  if (d.batches) mountBatchRoutes(app, { batches: d.batches.service, auth: d.auth, blobs: d.blobs, maxArchiveBytes: d.batches.maxArchiveBytes });

  app.use((_req, res) => {
    sendError(res, new ApiError(404, 'not_found', 'no such endpoint'));
  });

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err instanceof ApiError) return sendError(res, err);
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendError(res, new ApiError(status, 'bad_request', (err as Error).message));
    }
    console.error('unhandled error', err);
    sendError(res, new ApiError(500, 'internal', 'internal server error'));
  });
  return app;
}
