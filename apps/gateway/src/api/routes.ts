/**
 * The gateway's routes table: every endpoint, its auth and its handler in
 * one place. The HTTP adapter (http/express.ts) mounts it as it is.
 */
import { batchHandlers, type BatchHandlerDeps } from './batches.js';
import { jobHandlers, type JobHandlerDeps } from './jobs.js';
import { systemHandlers, type SystemHandlerDeps } from './system.js';
import type { Route } from './types.js';

export interface RouteDeps {
  jobs: JobHandlerDeps;
  /** absent: the batch routes are not mounted */
  batches?: BatchHandlerDeps;
  system: SystemHandlerDeps;
}

export function routes(d: RouteDeps): Route[] {
  const sys = systemHandlers(d.system);
  const jobs = jobHandlers(d.jobs);
  const table: Route[] = [
    { method: 'GET', path: '/healthz', auth: 'none', handler: sys.healthz },
    { method: 'GET', path: '/readyz', auth: 'none', handler: sys.readyz },
    { method: 'GET', path: '/metrics', auth: 'tenant', handler: sys.metrics },
    { method: 'GET', path: '/v1/models', auth: 'tenant', handler: sys.listModels },
    { method: 'POST', path: '/v1/jobs', auth: 'tenant', handler: jobs.createJob },
    { method: 'GET', path: '/v1/jobs', auth: 'tenant', handler: jobs.listJobs },
    { method: 'GET', path: '/v1/jobs/:id', auth: 'tenant', handler: jobs.getJob },
    { method: 'GET', path: '/v1/jobs/:id/transcript', auth: 'tenant', handler: jobs.transcript },
    { method: 'POST', path: '/v1/jobs/:id/cancel', auth: 'tenant', handler: jobs.cancelJob },
    { method: 'DELETE', path: '/v1/jobs/:id', auth: 'tenant', handler: jobs.deleteJob },
  ];
  if (d.batches) {
    const b = batchHandlers(d.batches);
    table.push(
      { method: 'POST', path: '/v1/batches', auth: 'tenant', handler: b.createBatch },
      { method: 'GET', path: '/v1/batches/:id', auth: 'tenant', handler: b.getBatch },
      { method: 'GET', path: '/v1/batches/:id/jobs', auth: 'tenant', handler: b.listEntries },
      { method: 'POST', path: '/v1/batches/:id/cancel', auth: 'tenant', handler: b.cancelBatch },
      { method: 'DELETE', path: '/v1/batches/:id', auth: 'tenant', handler: b.deleteBatch },
      { method: 'GET', path: '/v1/batches/:id/results', auth: 'tenant', handler: b.results },
    );
  }
  return table;
}
