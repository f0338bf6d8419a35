/**
 * Which model identity the gateway keys tasks with: what the queue's live
 * workers announce in their heartbeats (or announced last). The gateway
 * reads no model files: a worker resolves its identity once from its
 * model's files (content hash + decoder + LM + precision) and carries it in
 * its heartbeat. Looked up at most once a second.
 */
import type { Heartbeats, ServedModel } from '@voxfleet/queue';

export class ModelResolver {
  private cached: { at: number; model: Promise<ServedModel | null> } | undefined;

  constructor(
    private readonly heartbeats: Heartbeats,
    private readonly queue: string,
    private readonly maxAgeMs = 1000,
  ) {}

  current(): Promise<ServedModel | null> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.maxAgeMs) {
      const model = this.heartbeats.servedModel(this.queue);
      this.cached = { at: now, model };
      // a failed look-up is not cached
      model.catch(() => {
        if (this.cached?.model === model) this.cached = undefined;
      });
    }
    return this.cached.model;
  }
}
