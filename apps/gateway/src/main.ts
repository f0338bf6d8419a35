/**
 * Gateway process entry: `npm start -w @voxfleet/gateway` (or `tsx apps/gateway/src/main.ts`).
 * Prints its configuration (secrets masked), the URL and, on first start, the generated API key.
 * SIGTERM/SIGINT (or the supervisor going away) close it; it exits within
 * VOXFLEET_GATEWAY_DRAIN_MS even when Redis is down.
 */
import { ConfigError, ProcessLifecycle, createLogger, formatConfig, gatewayConfigFromEnv } from '@voxfleet/config';
import { startGateway } from './gateway.js';

const log = createLogger('gateway');
const lifecycle = new ProcessLifecycle(log);

async function main(): Promise<void> {
  const cfg = gatewayConfigFromEnv(process.env);
  log.info(`configuration\n${formatConfig(cfg)}`);
  const gw = await startGateway(cfg, log, { registerTelemetry: true });
  log.info('listening', { url: gw.url });
  if (!cfg.gateway.authEnabled) log.warn('API authentication is OFF (allowed because the gateway binds to loopback)');
  else if (gw.apiKeys.generated) log.info(`generated an API key and stored it in ${gw.apiKeys.file} (mode 0600)`, { apiKey: gw.apiKeys.keys[0] });
  else if (gw.apiKeys.file) log.info(`using the API key stored in ${gw.apiKeys.file}`);
  if (gw.admin.generated) log.info(`generated the Bull Board admin password and stored it in ${gw.admin.file} (mode 0600)`, { adminPassword: gw.admin.password });
  log.info(`Bull Board: ${gw.url}/admin/queues (user "${gw.adminUser}", password ${gw.admin.file ? `in ${gw.admin.file}` : 'VOXFLEET_ADMIN_PASSWORD'})`);
  lifecycle.running({ stop: () => gw.close(), timeoutMs: cfg.gateway.drainTimeoutMs });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) log.error(err.message);
  else log.error('gateway failed to start', { message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.exit(1);
});
