// Starts engine-thread.ts in a worker thread from a source checkout: Node 20
// does not apply a parent's --import loader to workers, so register tsx here.
import { register } from 'tsx/esm/api';

register();
await import('./engine-thread.ts');
