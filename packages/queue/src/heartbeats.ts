/**
 * Worker heartbeats: each worker refreshes a key with a TTL, so a crashed
 * worker disappears on its own. They list the models each worker holds —
 * name, identity (the gateway keys its cache with it), queue, languages —
 * and whether it is ready. Each queue's last announced model is kept without
 * a TTL, so the gateway can key its cache while the fleet restarts.
 */
import type { Redis } from 'ioredis';
import { fleetKeys, type FleetKeys } from './keys.js';

/** One model a worker holds, as its heartbeat announces it. */
export interface HeldModel {
  /** the name jobs ask for (`model`), also the queue's suffix */
  name: string;
  /** other names it answers to */
  aliases: string[];
  /** model identity (content hash + decoder + precision), the cache's model key */
  id: string;
  /** the queue the worker consumes for it */
  queue: string;
  /** languages a job may ask for ('auto' first where the model detects them) */
  languages: string[];
  /** what kind of model (sense-voice, paraformer, nemo-ctc, voxfleet-ctc, …) */
  kind: string;
  /** job options it honours (a `language` outside `languages` is refused when it honours languages) */
  options: { language: boolean; itn: boolean; hotwords?: boolean };
  provider: string;
  precision: string;
  loadMs: number;
}

export interface WorkerHeartbeat {
  workerId: string;
  pid: number;
  host: string;
  status: 'ready' | 'draining';
  models: HeldModel[];
  startedAt: number;
  updatedAt: number;
  maxBatch: number;
  maxWaitMs: number;
  /** pieces waiting or running in its batchers */
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
    const now = Date.now();
    const m = this.redis
      .multi()
      .set(this.keys.worker(hb.workerId), JSON.stringify(hb), 'PX', ttlMs)
      .zadd(this.keys.workerIndex, now + ttlMs, hb.workerId)
      .zremrangebyscore(this.keys.workerIndex, '-inf', now);
    for (const model of hb.models) m.set(this.keys.served(model.queue), JSON.stringify({ id: model.id, name: model.name } satisfies ServedModel));
    await m.exec();
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
  async servedModel(queue: string, live?: WorkerHeartbeat[]): Promise<ServedModel | null> {
    const held = (live ?? (await this.list())).filter((w) => w.status === 'ready').flatMap((w) => w.models.filter((m) => m.queue === queue));
    if (held.length > 0) {
      const votes = new Map<string, { model: ServedModel; n: number }>();
      for (const m of held) {
        const v = votes.get(m.id) ?? { model: { id: m.id, name: m.name }, n: 0 };
        v.n++;
        votes.set(m.id, v);
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
