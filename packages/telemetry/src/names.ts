/**
 * Every metric VoxFleet exports: its name (as Prometheus shows it), kind,
 * unit, attributes and which process exports it. Instruments are built from
 * this list only, and the dashboard/alert-rule test checks PromQL against it,
 * so a metric renamed here fails that test instead of leaving a blank panel.
 */

export type MetricKind = 'counter' | 'histogram' | 'gauge';
export type MetricProcess = 'gateway' | 'worker' | 'both';

export interface MetricDef {
  /** the Prometheus name; counters end in `_total` (the exporter would add it otherwise) */
  name: string;
  kind: MetricKind;
  /** UCUM unit, as OpenTelemetry takes it ('1' for plain numbers) */
  unit: string;
  description: string;
  /** the attribute (label) names it carries */
  attributes: readonly string[];
  process: MetricProcess;
  /** histogram bucket boundaries */
  buckets?: readonly number[];
}

/** Latency buckets from 5 ms to 10 min: HTTP calls are milliseconds, a long file's job is minutes. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

function def<N extends string, K extends MetricKind>(name: N, kind: K, unit: string, process: MetricProcess, attributes: readonly string[], description: string, buckets?: readonly number[]): MetricDef & { name: N; kind: K } {
  return { name, kind, unit, process, attributes, description, ...(buckets ? { buckets } : {}) };
}

export const METRICS = {
  // gateway
  httpRequestDuration: def('voxfleet_http_request_duration_seconds', 'histogram', 's', 'gateway', ['method', 'route', 'status'], 'HTTP requests by route template and status: the count is the request rate.', SECONDS),
  queueJobs: def('voxfleet_queue_jobs', 'gauge', '1', 'gateway', ['queue', 'state'], 'Jobs in each model\'s BullMQ queue (transcribe-<model>) by state, read at scrape time.'),
  workers: def('voxfleet_workers', 'gauge', '1', 'gateway', ['model', 'status'], 'Live worker processes holding each configured model, by status (ready, draining).'),
  tasksTotal: def('voxfleet_tasks_total', 'counter', '1', 'gateway', ['outcome'], 'Tasks finished fleet-wide by outcome (completed, failed, cancelled), from the fleet counters in Redis.'),
  cacheLookups: def('voxfleet_cache_lookups_total', 'counter', '1', 'gateway', ['model', 'result'], 'Result-cache lookups of new jobs: hit (answered from the cache), attach (joined a task in flight), miss (a new task).'),
  // worker
  jobDuration: def('voxfleet_job_duration_seconds', 'histogram', 's', 'worker', ['model', 'outcome'], 'Job end to end: from submission at the gateway to its outcome on the worker.', SECONDS),
  jobQueueWait: def('voxfleet_job_queue_wait_seconds', 'histogram', 's', 'worker', ['model'], 'Time a job waited in the queue before a worker took it up.', SECONDS),
  jobRtfx: def('voxfleet_job_rtfx', 'histogram', '1', 'worker', ['model'], 'Real-time factor of a completed job: audio seconds per second of worker time.', [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]),
  audioSeconds: def('voxfleet_audio_seconds_total', 'counter', 's', 'worker', ['model'], 'Seconds of audio transcribed.'),
  batchSize: def('voxfleet_batch_size', 'histogram', '1', 'worker', ['model'], 'Pieces of audio per inference batch.', [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256]),
  batchPadding: def('voxfleet_batch_padding_ratio', 'histogram', '1', 'worker', ['model'], 'Share of a batch\'s padded frames that are padding (0: equal lengths).', [0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1]),
  inferenceDuration: def('voxfleet_inference_duration_seconds', 'histogram', 's', 'worker', ['model', 'stage'], 'Engine time per batch, by stage (frontend: features, inference: model and decoder), measured on the engine thread.', SECONDS),
  modelLoadSeconds: def('voxfleet_model_load_seconds', 'gauge', 's', 'worker', ['model', 'provider', 'precision'], 'How long the model took to load (including provider and precision selection).'),
  modelLoaded: def('voxfleet_model_loaded', 'gauge', '1', 'worker', ['model'], '1 while the model is loaded and taking jobs, 0 once it is draining or closed.'),
  gpuMemoryUsed: def('voxfleet_gpu_memory_used_bytes', 'gauge', 'By', 'worker', ['gpu', 'name'], 'GPU memory in use (nvidia-smi; absent without an NVIDIA GPU).'),
  gpuMemoryTotal: def('voxfleet_gpu_memory_total_bytes', 'gauge', 'By', 'worker', ['gpu', 'name'], 'GPU memory in total (nvidia-smi; absent without an NVIDIA GPU).'),
  gpuUtilization: def('voxfleet_gpu_utilization_ratio', 'gauge', '1', 'worker', ['gpu', 'name'], 'GPU busy share over nvidia-smi\'s last sample period, 0–1 (absent without an NVIDIA GPU).'),
  // both
  processMemory: def('voxfleet_process_memory_bytes', 'gauge', 'By', 'both', ['type'], 'This process\'s memory (rss, heap_used, heap_total, external, array_buffers).'),
} as const;

export type MetricKey = keyof typeof METRICS;

/** Every series name a metric puts on a Prometheus page (a histogram's buckets, sum and count). */
export function seriesNames(m: MetricDef): string[] {
  return m.kind === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name];
}

/** All series names VoxFleet exports. */
export function exportedSeries(): Set<string> {
  return new Set(Object.values(METRICS).flatMap((m) => seriesNames(m)));
}
