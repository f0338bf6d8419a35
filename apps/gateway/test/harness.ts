/**
 * The gateway part of the end-to-end harness: the gateway in this process on
 * an ephemeral port. Everything else (redis-server, workers, the HTTP client,
 * test audio) is in @voxfleet/testkit.
 */
import { startGatewayWith } from '@voxfleet/testkit';
import { startGateway, type RunningGateway } from '../src/index.js';

export function startTestGateway(env: Record<string, string>): Promise<RunningGateway> {
  return startGatewayWith(startGateway, env);
}
