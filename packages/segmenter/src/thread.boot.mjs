// Starts thread.ts in a worker thread from a source checkout: Node 20 does not
// apply a parent's --import loader to workers, so register tsx here (as asr's engine-thread.boot.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./thread.ts');
