/** Prometheus text exposition: queue depth, live workers, fleet counters and the batch-size histogram. */
import { listWorkers, type FleetKeys } from '@voxfleet/queue';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface MetricsSource {
  redis: Redis;
  queue: Queue;
  keys: FleetKeys;
}

export async function renderMetrics({ redis, queue, keys }: MetricsSource): Promise<string> {
  const lines: string[] = [];
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
  lines.push('# HELP voxfleet_queue_jobs Jobs in the BullMQ queue by state.', '# TYPE voxfleet_queue_jobs gauge');
  for (const [state, n] of Object.entries(counts)) lines.push(`voxfleet_queue_jobs{queue="${queue.name}",state="${state}"} ${n}`);

  const workers = await listWorkers(redis, keys);
  lines.push('# HELP voxfleet_workers Live worker processes by status.', '# TYPE voxfleet_workers gauge');
  for (const status of ['ready', 'draining']) lines.push(`voxfleet_workers{status="${status}"} ${workers.filter((w) => w.status === status).length}`);

  const stats = await redis.hgetall(keys.stats);
  lines.push('# HELP voxfleet_tasks_total Tasks finished by outcome.', '# TYPE voxfleet_tasks_total counter');
  for (const outcome of ['completed', 'failed', 'cancelled']) lines.push(`voxfleet_tasks_total{outcome="${outcome}"} ${Number(stats[`tasks_${outcome}`] ?? 0)}`);
  lines.push('# HELP voxfleet_batches_total Inference batches run.', '# TYPE voxfleet_batches_total counter', `voxfleet_batches_total ${Number(stats.batches ?? 0)}`);
  lines.push('# HELP voxfleet_batch_items_total Audio pieces sent through inference batches.', '# TYPE voxfleet_batch_items_total counter', `voxfleet_batch_items_total ${Number(stats.batch_items ?? 0)}`);

  const sizes = Object.entries(await redis.hgetall(keys.batchSizes))
    .map(([k, v]) => [Number(k), Number(v)] as const)
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
