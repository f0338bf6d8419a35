/**
 * The Express adapter: mounts the routes table (api/routes.ts) — the API
 * key, the failed-auth throttle and (uploads) the declared size and the
 * upload rate checked before a body is read (guard.ts), the request handed
 * to its handler as an ApiRequest, the reply written back — plus Bull Board,
 * and turns every error into `{"error":{"code","message"}}` with its status.
 */
import { pipeline } from 'node:stream/promises';
import type { HttpConfig } from '@voxfleet/config';
import type { BlobStore } from '@voxfleet/storage';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ApiReply, ApiRequest, Route } from '../api/types.js';
import type { ApiKeyAuth } from '../auth.js';
import { ApiError, unavailableError } from '../errors.js';
import { parseUpload } from './upload.js';
import { mountAdmin } from './admin.js';
import { RequestGuard, type UploadLimit } from './guard.js';
import { observeRequests, type RequestObserver } from './observe.js';
import { storeRawBody } from './raw-body.js';

export interface AppDeps {
  routes: Route[];
  auth: ApiKeyAuth;
  admin: { user: string; password: string };
  /** the queues Bull Board shows (one per model) */
  board: Queue[];
  blobs: BlobStore;
  trustProxy: boolean;
  /** timeouts and rate limits */
  http: HttpConfig;
  /** the upload routes (POST) by path, with their body limits */
  uploads: Record<string, UploadLimit>;
  /** request spans and durations (telemetry) */
  observe?: RequestObserver;
}

function sendError(res: Response, err: ApiError): void {
  res.set(err.headers).status(err.status).json(err.toBody());
}

function apiRequest(req: Request, res: Response, owner: string, blobs: BlobStore, guard: RequestGuard): ApiRequest {
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  return {
    owner,
    params: req.params as Record<string, string>,
    query: req.query as Record<string, unknown>,
    header: (name) => req.get(name),
    signal: gone.signal,
    multipart: /^multipart\/form-data/i.test(req.headers['content-type'] ?? ''),
    upload: (maxBytes) => guard.readBody(req, res, (signal) => parseUpload(req, blobs, maxBytes, { signal })),
    rawBody: (maxBytes) => guard.readBody(req, res, (signal) => storeRawBody(req, blobs, maxBytes, { signal })),
    discardBody: () => guard.refuse(req, res),
  };
}

async function send(res: Response, reply: ApiReply): Promise<void> {
  res.status(reply.status);
  if (reply.headers) res.set(reply.headers);
  if ('empty' in reply) {
    res.end();
  } else if ('json' in reply) {
    res.json(reply.json);
  } else if ('text' in reply) {
    res.type(reply.contentType).send(reply.text);
  } else {
    res.type(reply.contentType);
    try {
      await pipeline(reply.stream, res);
    } catch {
      // client went away, or the export failed mid-stream (headers are sent: nothing else to tell)
      res.destroy();
    }
  }
}

export function createApp(d: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', d.trustProxy);
  const guard = new RequestGuard(d.http, d.auth);
  if (d.observe) app.use(observeRequests(d.observe));
  mountAdmin(app, d.board, d.admin, guard);

  for (const route of d.routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'delete';
    const upload = route.method === 'POST' ? d.uploads[route.path] : undefined;
    app[method](route.path, async (req: Request, res: Response) => {
      let owner = '';
      try {
        if (route.auth === 'tenant') owner = guard.tenant(req);
        if (upload) guard.admitUpload(req, owner, upload);
      } catch (err) {
        await guard.refuse(req, res);
        throw err;
      }
      await send(res, await route.handler(apiRequest(req, res, owner, d.blobs, guard)));
    });
  }

  app.use(async (req: Request, res: Response) => {
    await guard.refuse(req, res);
    sendError(res, new ApiError(404, 'not_found', 'no such endpoint'));
  });

  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err instanceof ApiError) return sendError(res, err);
    const unavailable = unavailableError(err); // Redis down or not answering: 503 + Retry-After, never a hang
    if (unavailable) return sendError(res, unavailable);
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendError(res, new ApiError(status, 'bad_request', (err as Error).message));
    }
    console.error('unhandled error', err);
    sendError(res, new ApiError(500, 'internal', 'internal server error'));
  });
  return app;
}
