/**
 * Worker process entry: `npm start -w @voxfleet/worker` (or `tsx apps/worker/src/main.ts`).
 * SIGTERM/SIGINT drain: stop taking jobs, finish in-flight ones, exit 0.
 */
import { asrConfigFromEnv } from '@voxfleet/asr';
import { ConfigError, createLogger, formatConfig, workerConfigFromEnv } from '@voxfleet/config';

import { startWorker } from './worker.js';

const log = createLogger('worker');

async function main(): Promise<void> {
  const cfg = workerConfigFromEnv(process.env);
  const asr = asrConfigFromEnv(process.env);
  log.info(`configuration\n${formatConfig({ ...cfg, engine: asr })}`);
  const t0 = performance.now();
  const running = await startWorker(cfg, asr, log);
  log.info('started', { workerId: running.id, startupMs: Math.round(performance.now() - t0) });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn(`second ${sig}: exiting without draining`);
      process.exit(1);
    }
    log.info(`${sig} received`);
    running.stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error('shutdown failed', { message: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) log.error(err.message);
  else log.error('worker failed to start', { message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
