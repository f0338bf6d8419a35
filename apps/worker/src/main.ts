/**
 * Worker process entry: `npm start -w @voxfleet/worker` (or `tsx apps/worker/src/main.ts`).
 * SIGTERM/SIGINT (or the supervisor going away) drain: stop taking jobs, finish
 * in-flight ones, exit 0. A drain that cannot finish within
 * VOXFLEET_WORKER_DRAIN_MS (e.g. Redis is down, so finished jobs cannot be
 * reported) stops the engine and exits 1; the jobs it held are re-run by
 * another worker once their locks expire.
 */
import { asrConfigsFromEnv } from '@voxfleet/asr';
import { ConfigError, ProcessLifecycle, createLogger, formatConfig, workerConfigFromEnv } from '@voxfleet/config';

import { startWorker } from './worker.js';

const log = createLogger('worker');
const lifecycle = new ProcessLifecycle(log);

async function main(): Promise<void> {
  const cfg = workerConfigFromEnv(process.env);
  const asr = asrConfigsFromEnv(process.env);
  log.info(`configuration\n${formatConfig({ ...cfg, engines: asr })}`);
  const t0 = performance.now();
  const running = await startWorker(cfg, asr, log, { registerTelemetry: true });
  log.info('started', { workerId: running.id, startupMs: Math.round(performance.now() - t0) });
  lifecycle.running({ stop: () => running.stop(), timeoutMs: cfg.worker.drainTimeoutMs, onTimeout: () => running.closeEngines() });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) log.error(err.message);
  else log.error('worker failed to start', { message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
