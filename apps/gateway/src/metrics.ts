/**
 * The gateway's metrics on its telemetry's meter: HTTP requests by route
 * template and status, result-cache lookups, and — read at collection, from
 * Redis — queue depth by state per model queue, live workers per model and
 * the fleet's task outcomes (counted by the workers in FleetStats). Reading
 * at collection keeps Redis out of the request path; each read is bounded by
 * the queues' command timeout, and a read that fails leaves its series out
 * of that scrape instead of failing it.
 */
import type { FleetStats, Heartbeats, TaskQueue } from '@voxfleet/queue';
import { counter, gauge, histogram, observableCounter, observe, observeProcessMemory, type Meter } from '@voxfleet/telemetry';

export interface MetricsSource {
  /** every model's queue, with its model */
  queues: () => { model: string; queue: TaskQueue }[];
  heartbeats: Heartbeats;
  stats: FleetStats;
}

export type CacheLookup = 'hit' | 'attach' | 'miss';

export interface GatewayMetrics {
  request(r: { method: string; route: string; status: number; seconds: number }): void;
  cacheLookup(model: string, result: CacheLookup): void;
  /** removes the collection callbacks */
  stop(): void;
}

export function gatewayMetrics(meter: Meter, src: MetricsSource): GatewayMetrics {
  const requests = histogram(meter, 'httpRequestDuration');
  const lookups = counter(meter, 'cacheLookups');

  const stops = [
    observeProcessMemory(meter),
    observe(gauge(meter, 'queueJobs'), async (r) => {
      await Promise.all(
        src.queues().map(async ({ queue }) => {
          for (const [state, n] of Object.entries(await queue.counts())) r.observe(n, { queue: queue.name, state });
        }),
      );
    }),
    observe(gauge(meter, 'workers'), async (r) => {
      const workers = await src.heartbeats.list();
      // every configured model gets a series, 0 included: "no ready worker for a model" is an alert
      const models = new Set([...src.queues().map((q) => q.model), ...workers.flatMap((w) => w.models.map((m) => m.name))]);
      for (const model of models) {
        for (const status of ['ready', 'draining'] as const) r.observe(workers.filter((w) => w.status === status && w.models.some((m) => m.name === model)).length, { model, status });
      }
    }),
  ];
  const tasks = observableCounter(meter, 'tasksTotal');
  const readTasks = async (r: Parameters<Parameters<typeof tasks.addCallback>[0]>[0]): Promise<void> => {
    for (const [outcome, n] of Object.entries((await src.stats.read()).tasks)) r.observe(n, { outcome });
  };
  tasks.addCallback(readTasks);
  stops.push(() => tasks.removeCallback(readTasks));

  return {
    request: ({ method, route, status, seconds }) => requests.record(seconds, { method, route, status: String(status) }),
    cacheLookup: (model, result) => lookups.add(1, { model, result }),
    stop: () => stops.forEach((s) => s()),
  };
}
