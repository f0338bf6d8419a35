/* global process, console, fetch, AbortSignal */
/**
 * Readiness of the worker in this container: exit 0 when its metrics page
 * (VOXFLEET_METRICS_PORT, default 9465) shows every model it holds as
 * loaded (`voxfleet_model_loaded{model="…"} 1`), else 1 with the reason.
 * The listener starts before the models load and the gauge drops to 0 when
 * the worker drains, so "ready" means exactly "model loaded and taking jobs".
 * Used as the exec readiness probe (Kubernetes) and healthcheck (compose).
 * Plain JavaScript with no imports: a probe runs every few seconds, and
 * loading tsx or the OpenTelemetry SDK for it would cost the worker CPU.
 */
const METRIC = 'voxfleet_model_loaded'; // METRICS.modelLoaded.name in packages/telemetry (the test checks they agree)
const port = process.env.VOXFLEET_METRICS_PORT || '9465';
// the listener's own address, or loopback when it binds all interfaces (as in containers)
const bound = process.env.VOXFLEET_METRICS_HOST || '127.0.0.1';
const host = bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound.includes(':') ? `[${bound}]` : bound;

async function main() {
  if (!/^\d+$/.test(port)) return `VOXFLEET_METRICS_PORT=${port}: the worker has no metrics listener to ask`;
  let text;
  try {
    const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return `metrics answered ${res.status}`;
    text = await res.text();
  } catch (err) {
    return `no metrics listener on ${host}:${port} (${err instanceof Error ? err.message : String(err)})`;
  }
  const series = text.split('\n').filter((l) => l.startsWith(`${METRIC}{`));
  if (series.length === 0) return 'no model loaded yet';
  const notLoaded = series.filter((l) => Number(l.slice(l.lastIndexOf('}') + 1).trim().split(/\s+/)[0]) !== 1);
  if (notLoaded.length > 0) return `not taking jobs: ${notLoaded.join('; ')}`;
  return null;
}

main().then(
  (problem) => {
    if (problem) console.error(`not ready: ${problem}`);
    process.exit(problem ? 1 : 0);
  },
  (err) => {
    console.error(`not ready: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
