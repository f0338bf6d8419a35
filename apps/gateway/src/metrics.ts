/** Prometheus text exposition: queue depth, live workers, fleet counters and the batch-size histogram. */
import type { FleetStats, Heartbeats, TaskQueue } from '@voxfleet/queue';

export interface MetricsSource {
  /** every model's queue */
  queues: () => TaskQueue[];
  heartbeats: Heartbeats;
  stats: FleetStats;
}

export async function renderMetrics({ queues, heartbeats, stats }: MetricsSource): Promise<string> {
  const lines: string[] = [];
  lines.push('# HELP voxfleet_queue_jobs Jobs in the BullMQ queue by state (one queue per model).', '# TYPE voxfleet_queue_jobs gauge');
  for (const queue of queues()) {
    for (const [state, n] of Object.entries(await queue.counts())) lines.push(`voxfleet_queue_jobs{queue="${queue.name}",state="${state}"} ${n}`);
  }

  const workers = await heartbeats.list();
  lines.push('# HELP voxfleet_workers Live worker processes by status.', '# TYPE voxfleet_workers gauge');
  for (const status of ['ready', 'draining']) lines.push(`voxfleet_workers{status="${status}"} ${workers.filter((w) => w.status === status).length}`);

  const s = await stats.read();
  lines.push('# HELP voxfleet_tasks_total Tasks finished by outcome.', '# TYPE voxfleet_tasks_total counter');
  for (const [outcome, n] of Object.entries(s.tasks)) lines.push(`voxfleet_tasks_total{outcome="${outcome}"} ${n}`);
  lines.push('# HELP voxfleet_batches_total Inference batches run.', '# TYPE voxfleet_batches_total counter', `voxfleet_batches_total ${s.batches}`);
  lines.push('# HELP voxfleet_batch_items_total Audio pieces sent through inference batches.', '# TYPE voxfleet_batch_items_total counter', `voxfleet_batch_items_total ${s.batchItems}`);

  const sizes = Object.entries(s.batchSizes)
    .map(([k, v]) => [Number(k), v] as const)
    .sort((a, b) => a[0] - b[0]);
  lines.push('# HELP voxfleet_batch_size Inference batch sizes.', '# TYPE voxfleet_batch_size histogram');
  let cum = 0;
  let sum = 0;
  for (const [size, n] of sizes) {
    cum += n;
    sum += size * n;
    lines.push(`voxfleet_batch_size_bucket{le="${size}"} ${cum}`);
  }
  lines.push(`voxfleet_batch_size_bucket{le="+Inf"} ${cum}`, `voxfleet_batch_size_sum ${sum}`, `voxfleet_batch_size_count ${cum}`);
  return `${lines.join('\n')}\n`;
}
