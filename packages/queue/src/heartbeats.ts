/**
 * Worker heartbeats: each worker refreshes a key with a TTL, so a crashed
 * worker disappears on its own. They say which model identity each worker
 * holds (the gateway keys its cache with it) and whether it is ready. A
 * queue's last announced identity is kept without a TTL, so the gateway can
 * key its cache while the fleet restarts.
 */
import type { Redis } from 'ioredis';
import { fleetKeys, type FleetKeys } from './keys.js';

export interface WorkerHeartbeat {
  workerId: string;
  pid: number;
  host: string;
  status: 'ready' | 'draining';
  /** the queue it consumes */
  queue: string;
  /** model identity (content hash + decoder + precision), the cache's model key */
  modelId: string;
  /** the model's name: identities of one name differ in weights, decoder or precision */
  modelName: string;
  provider: string;
  precision: string;
  loadMs: number;
  startedAt: number;
  updatedAt: number;
  maxBatch: number;
  maxWaitMs: number;
  active: number;
}

/** The model a queue serves, as far as the gateway can tell. */
export interface ServedModel {
  id: string;
  name: string;
}

export class Heartbeats {
  private readonly keys: FleetKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = fleetKeys(prefix);
  }

  async beat(hb: WorkerHeartbeat, ttlMs: number): Promise<void> {
    const served: ServedModel = { id: hb.modelId, name: hb.modelName };
    await this.redis
      .multi()
      .set(this.keys.worker(hb.workerId), JSON.stringify(hb), 'PX', ttlMs)
      .set(this.keys.served(hb.queue), JSON.stringify(served))
      .exec();
  }

  async remove(workerId: string): Promise<void> {
    await this.redis.del(this.keys.worker(workerId));
  }

  /** Heartbeats of live workers. */
  async list(): Promise<WorkerHeartbeat[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', this.keys.workerPattern, 'COUNT', 200);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    if (found.length === 0) return [];
    const values = await this.redis.mget(...found);
    return values.flatMap((v) => {
      if (!v) return [];
      try {
        return [JSON.parse(v) as WorkerHeartbeat];
      } catch {
        return [];
      }
    });
  }

  /**
   * The model identity tasks on `queue` should be keyed with: the one most
   * live ready workers of the queue hold, else the one last announced, else
   * null (no worker has ever announced one).
   */
  async servedModel(queue: string): Promise<ServedModel | null> {
    const live = (await this.list()).filter((w) => w.queue === queue && w.status === 'ready');
    if (live.length > 0) {
      const votes = new Map<string, { model: ServedModel; n: number }>();
      for (const w of live) {
        const v = votes.get(w.modelId) ?? { model: { id: w.modelId, name: w.modelName }, n: 0 };
        v.n++;
        votes.set(w.modelId, v);
      }
      return [...votes.values()].sort((a, b) => b.n - a.n || a.model.id.localeCompare(b.model.id))[0]!.model;
    }
    const raw = await this.redis.get(this.keys.served(queue));
    if (!raw) return null;
    try {
      return JSON.parse(raw) as ServedModel;
    } catch {
      return null;
    }
  }
}

/**
 * What a worker holding `own` does with a task keyed for `wanted`:
 * - `run`: the task is for this model (or for none in particular);
 * - `handBack`: another live worker holds the exact model it was keyed for,
 *   or no live worker does and it is another model altogether: it goes back
 *   to the queue for a worker that holds it (`model_mismatch`);
 * - `adopt`: no live worker holds that identity any more, but this worker
 *   holds the same model in another build (weights, decoder or precision —
 *   an upgrade, or a precision chosen differently at start): run it and key
 *   the result with this worker's identity.
 */
export function modelDecision(wanted: { modelId: string | null; modelName: string | null }, own: ServedModel, liveIds: ReadonlySet<string>): 'run' | 'handBack' | 'adopt' {
  if (wanted.modelId === null || wanted.modelId === own.id) return 'run';
  if (liveIds.has(wanted.modelId)) return 'handBack';
  // A task from before names were recorded (payload v1) may be adopted by any model.
  return wanted.modelName === null || wanted.modelName === own.name ? 'adopt' : 'handBack';
}
