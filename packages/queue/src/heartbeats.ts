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
    const now = Date.now();
    await this.redis
      .multi()
      .set(this.keys.worker(hb.workerId), JSON.stringify(hb), 'PX', ttlMs)
      .zadd(this.keys.workerIndex, now + ttlMs, hb.workerId)
      .zremrangebyscore(this.keys.workerIndex, '-inf', now)
      .set(this.keys.served(hb.queue), JSON.stringify(served))
      .exec();
  }

  async remove(workerId: string): Promise<void> {
    await this.redis.multi().del(this.keys.worker(workerId)).zrem(this.keys.workerIndex, workerId).exec();
  }

  /** Heartbeats of live workers (an index lookup and one MGET; no keyspace scan). */
  async list(): Promise<WorkerHeartbeat[]> {
    const ids = await this.redis.zrangebyscore(this.keys.workerIndex, Date.now(), '+inf');
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.keys.worker(id)));
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
 * - `run`: the task is for this model identity (or for none in particular);
 * - `adopt`: it was keyed for another build of the same model (other weights,
 *   decoder or precision: an upgrade, or a precision chosen differently at
 *   start): run it and key the result with this worker's identity, so one
 *   model's builds never bounce tasks between them;
 * - `handBack`: it is for another model: back to the queue for a worker that
 *   holds it (`model_mismatch`), for at most `maxWaitMs` after submission;
 * - `unavailable`: another model that no worker has taken up in that time:
 *   the task fails with `model_unavailable` instead of waiting forever.
 */
export function modelDecision(
  wanted: { modelId: string | null; modelName: string | null; submittedAt: number },
  own: ServedModel,
  now: number,
  maxWaitMs: number,
): 'run' | 'adopt' | 'handBack' | 'unavailable' {
  if (wanted.modelId === null || wanted.modelId === own.id) return 'run';
  // A task from before names were recorded (payload v1) may be adopted by any model.
  if (wanted.modelName === null || wanted.modelName === own.name) return 'adopt';
  return now - wanted.submittedAt < maxWaitMs ? 'handBack' : 'unavailable';
}
