/** Handlers for the process itself: liveness, readiness (Redis + a ready worker), metrics. */
import type { Heartbeats } from '@voxfleet/queue';
import { renderMetrics, type MetricsSource } from '../metrics.js';
import { json, type ApiReply } from './types.js';

export interface SystemHandlerDeps {
  /** true when Redis answers */
  ping: () => Promise<boolean>;
  heartbeats: Heartbeats;
  metrics: MetricsSource;
}

export function systemHandlers(d: SystemHandlerDeps) {
  async function healthz(): Promise<ApiReply> {
    return json({ status: 'ok' });
  }

  async function readyz(): Promise<ApiReply> {
    let redis = false;
    let workers: Awaited<ReturnType<Heartbeats['list']>> = [];
    try {
      redis = await d.ping();
      workers = await d.heartbeats.list();
    } catch {
      /* Redis unreachable: not ready */
    }
    const ready = redis && workers.some((w) => w.status === 'ready');
    return json(
      {
        ready,
        redis,
        workers: workers.map((w) => ({ id: w.workerId, status: w.status, model: w.modelId, provider: w.provider, precision: w.precision, loadMs: w.loadMs })),
      },
      ready ? 200 : 503,
    );
  }

  async function metrics(): Promise<ApiReply> {
    return { status: 200, text: await renderMetrics(d.metrics), contentType: 'text/plain; version=0.0.4' };
  }

  return { healthz, readyz, metrics };
}
