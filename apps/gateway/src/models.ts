/**
 * The models the fleet serves, as the gateway sees them: the configured ones
 * (VOXFLEET_MODELS, aliases, the default) and whatever live workers announce
 * in their heartbeats (name, aliases, identity, languages, precision). It
 * resolves a job's `model` to a name, hands out each model's queue, and
 * tells which identity to key a model's tasks with. The gateway reads no
 * model files. Heartbeats are looked up at most once a second.
 */
import type { ModelsConfig } from '@voxfleet/config';
import { modelQueueName, type Heartbeats, type HeldModel, type QueueState, type ServedModel, type TaskQueue, type WorkerHeartbeat } from '@voxfleet/queue';
import { ApiError } from './errors.js';

export interface ModelStatus {
  name: string;
  aliases: string[];
  /** listed in VOXFLEET_MODELS (else only announced by a worker) */
  configured: boolean;
  default: boolean;
  /** `ready`: a live worker holds it; `no_workers`: jobs queue until one does */
  status: 'ready' | 'no_workers';
  /** the identity its tasks are keyed with now (null until a worker has announced one) */
  identity: string | null;
  kinds: string[];
  languages: string[];
  precisions: string[];
  providers: string[];
  workers: { ready: number; draining: number };
  backlog: Record<QueueState, number>;
}

export interface ModelCatalogDeps {
  models: ModelsConfig;
  heartbeats: Heartbeats;
  /** the base of the queue names (`<base>-<model>`) */
  queueBase: string;
  /** makes a model's queue (called once per model) */
  makeQueue: (queueName: string) => TaskQueue;
}

const uniq = (xs: string[]): string[] => [...new Set(xs)];

export class ModelCatalog {
  private readonly queueMap = new Map<string, TaskQueue>();
  private snapshot: { at: number; workers: Promise<WorkerHeartbeat[]> } | undefined;

  constructor(
    private readonly d: ModelCatalogDeps,
    private readonly maxAgeMs = 1000,
  ) {
    for (const name of d.models.names) this.queue(name);
  }

  get defaultModel(): string {
    return this.d.models.defaultModel;
  }

  /** Live workers (cached for up to a second; a failed look-up is not cached). */
  workers(): Promise<WorkerHeartbeat[]> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > this.maxAgeMs) {
      const workers = this.d.heartbeats.list();
      this.snapshot = { at: now, workers };
      workers.catch(() => {
        if (this.snapshot?.workers === workers) this.snapshot = undefined;
      });
    }
    return this.snapshot.workers;
  }

  /** The models live workers hold, by name. */
  private async held(): Promise<Map<string, HeldModel[]>> {
    const out = new Map<string, HeldModel[]>();
    for (const w of await this.workers()) for (const m of w.models) out.set(m.name, [...(out.get(m.name) ?? []), m]);
    return out;
  }

  /** The model a job asked for (a name or an alias; none: the default), or 400 `unknown_model`. */
  async resolve(requested: string | null): Promise<string> {
    if (requested === null) return this.defaultModel;
    if (this.d.models.names.includes(requested)) return requested;
    const alias = this.d.models.aliases[requested];
    if (alias) return alias;
    const held = await this.held();
    if (held.has(requested)) return requested;
    for (const [name, models] of held) if (models.some((m) => m.aliases.includes(requested))) return name;
    const known = uniq([...this.d.models.names, ...held.keys()]).sort();
    throw new ApiError(400, 'unknown_model', `no model "${requested}" in this fleet; it serves ${known.join(', ')} (GET /v1/models lists them)`);
  }

  /** The queue of a model (made on first use). */
  queue(name: string): TaskQueue {
    let q = this.queueMap.get(name);
    if (!q) {
      q = this.d.makeQueue(modelQueueName(this.d.queueBase, name));
      this.queueMap.set(name, q);
    }
    return q;
  }

  /** Every queue in use (configured models, and announced ones once used). */
  queues(): TaskQueue[] {
    return [...this.queueMap.values()];
  }

  /** The same queues with the model each serves. */
  modelQueues(): { model: string; queue: TaskQueue }[] {
    return [...this.queueMap].map(([model, queue]) => ({ model, queue }));
  }

  /** The identity to key `name`'s tasks with (see Heartbeats.servedModel). */
  async served(name: string): Promise<ServedModel | null> {
    return this.d.heartbeats.servedModel(this.queue(name).name, await this.workers());
  }

  /**
   * 400 when the live workers of `name` say they cannot honour a job's
   * options: a language outside the model's, or ITN for a model without it.
   * (With no live worker nothing is known yet: the options are accepted.)
   */
  async checkOptions(name: string, options: { language: string | null; itn: boolean | null; hotwords?: string[] | null }): Promise<void> {
    const held = (await this.held()).get(name) ?? [];
    const model = held[0];
    if (!model?.options) return;
    if (options.language !== null && model.options.language && !model.languages.includes(options.language)) {
      throw new ApiError(400, 'unsupported_language', `model ${name} does not know language "${options.language}"; it takes ${model.languages.join(', ')}`);
    }
    if (options.itn !== null && !model.options.itn) {
      throw new ApiError(400, 'unsupported_option', `model ${name} has no inverse text normalisation (itn); leave the option out`);
    }
    if (options.hotwords?.length && !model.options.hotwords) {
      throw new ApiError(400, 'unsupported_option', `model ${name} takes no hotwords; leave the option out`);
    }
  }

  /** True when a live, ready worker holds `name` (any model when `name` is absent). */
  async ready(name?: string): Promise<boolean> {
    return (await this.workers()).some((w) => w.status === 'ready' && w.models.some((m) => name === undefined || m.name === name));
  }

  /** `GET /v1/models`: every configured or announced model, with its live workers and backlog. */
  async list(): Promise<ModelStatus[]> {
    const workers = await this.workers();
    const held = await this.held();
    const names = uniq([...this.d.models.names, ...held.keys()]);
    return Promise.all(
      names.map(async (name): Promise<ModelStatus> => {
        const mine = held.get(name) ?? [];
        const holders = workers.filter((w) => w.models.some((m) => m.name === name));
        const ready = holders.filter((w) => w.status === 'ready').length;
        const served = await this.served(name);
        const configuredAliases = Object.entries(this.d.models.aliases).filter(([, n]) => n === name).map(([a]) => a);
        return {
          name,
          aliases: uniq([...configuredAliases, ...mine.flatMap((m) => m.aliases)]).sort(),
          configured: this.d.models.names.includes(name),
          default: name === this.defaultModel,
          status: ready > 0 ? 'ready' : 'no_workers',
          identity: served?.id ?? null,
          kinds: uniq(mine.map((m) => m.kind)),
          languages: uniq(mine.flatMap((m) => m.languages)),
          precisions: uniq(mine.map((m) => m.precision)),
          providers: uniq(mine.map((m) => m.provider)),
          workers: { ready, draining: holders.length - ready },
          backlog: await this.queue(name).counts(),
        };
      }),
    );
  }
}
