/**
 * The gateway in this process on an ephemeral port, for end-to-end tests.
 * testkit does not import apps/*: the caller passes the gateway's start
 * function (`startGateway` from `@voxfleet/gateway`).
 */
import { gatewayConfigFromEnv, type Logger } from '@voxfleet/config';
import { quietLogger } from './processes.js';

export type StartGateway<G> = (cfg: ReturnType<typeof gatewayConfigFromEnv>, log: Logger) => Promise<G>;

/** Port 0 (ephemeral), no retention sweep, no metrics listener (/metrics still answers), a quiet logger; `env` overrides the rest. */
export function startGatewayWith<G>(start: StartGateway<G>, env: Record<string, string>): Promise<G> {
  const cfg = gatewayConfigFromEnv({ VOXFLEET_PORT: '0', VOXFLEET_CLEANUP_INTERVAL_SEC: '0', VOXFLEET_METRICS_PORT: 'off', ...env });
  return start(cfg, quietLogger);
}
