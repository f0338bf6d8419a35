/** Handlers for the process itself: liveness, readiness (Redis + a ready worker, of one model with `?model=`), metrics. */
import { withTimeout, type Heartbeats } from '@voxfleet/queue';
import type { ModelCatalog } from '../models.js';
import { model as modelField, parseRequest } from './schemas.js';
import { json, type ApiReply, type ApiRequest } from './types.js';
import { z } from 'zod';

export interface SystemHandlerDeps {
  /** true when Redis answers */
  ping: () => Promise<boolean>;
  heartbeats: Heartbeats;
  models: ModelCatalog;
  /** the gateway's metrics in Prometheus text format */
  metricsText: () => Promise<string>;
}

const readyQuery = z.object({ model: modelField });

/** /readyz answers within this even when Redis does not (503, redis: false). */
export const READYZ_TIMEOUT_MS = 800;

export function systemHandlers(d: SystemHandlerDeps) {
  async function healthz(): Promise<ApiReply> {
    return json({ status: 'ok' });
  }

  async function readyz(req: ApiRequest): Promise<ApiReply> {
    const requested = parseRequest(readyQuery, req.query).model;
    const model = requested === null ? null : await d.models.resolve(requested).catch(() => requested);
    let redis = false;
    let workers: Awaited<ReturnType<Heartbeats['list']>> = [];
    try {
      const check = async (): Promise<void> => {
        redis = await d.ping();
        workers = await d.heartbeats.list();
      };
      await withTimeout(check(), READYZ_TIMEOUT_MS, 'readiness check');
    } catch {
      /* Redis unreachable: not ready */
    }
    const ready = redis && workers.some((w) => w.status === 'ready' && (model === null || w.models.some((m) => m.name === model)));
    return json(
      {
        ready,
        redis,
        ...(model !== null ? { model } : {}),
        workers: workers.map((w) => ({
          id: w.workerId,
          status: w.status,
          models: w.models.map((m) => ({ name: m.name, id: m.id, provider: m.provider, precision: m.precision, loadMs: m.loadMs })),
        })),
      },
      ready ? 200 : 503,
    );
  }

  async function metrics(): Promise<ApiReply> {
    return { status: 200, text: await d.metricsText(), contentType: 'text/plain; version=0.0.4' };
  }

  /** `GET /v1/models`: what the fleet serves now — languages, precision, provider, live workers, backlog per model. */
  async function listModels(): Promise<ApiReply> {
    return json({ defaultModel: d.models.defaultModel, models: await d.models.list() });
  }

  return { healthz, readyz, metrics, listModels };
}
