/**
 * Dynamic micro-batcher: groups items submitted by concurrently active jobs
 * into one call of `run`. A batch starts when `maxBatch` items are waiting or
 * the oldest waiting item has waited `maxWaitMs`; one batch runs at a time
 * (the engine has one inference thread), and items that arrive meanwhile form
 * the next batch.
 */
export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** called after every batch with its size and duration */
  onBatch?: (size: number, ms: number) => void;
}

export interface Batched<O> {
  output: O;
  /** how many items shared the batch this item ran in */
  batchSize: number;
}

interface Pending<I, O> {
  item: I;
  enqueuedAt: number;
  resolve: (r: Batched<O>) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

export class MicroBatcher<I, O> {
  private waiting: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: BatcherOptions,
  ) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
  }

  /** Items waiting for a batch (not counting the one running). */
  get pending(): number {
    return this.waiting.length;
  }

  /** Adds an item to the next batch. Aborting `signal` rejects at once (a running batch still finishes; its result for this item is dropped). */
  submit(item: I, signal?: AbortSignal): Promise<Batched<O>> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    return new Promise<Batched<O>>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting = this.waiting.filter((p) => p !== entry);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const entry: Pending<I, O> = {
        item,
        enqueuedAt: Date.now(),
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.waiting.length === 0) return;
    const waited = Date.now() - this.waiting[0]!.enqueuedAt;
    if (this.waiting.length >= this.opts.maxBatch || waited >= this.opts.maxWaitMs) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.opts.maxWaitMs - waited);
    }
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.waiting.splice(0, this.opts.maxBatch);
    this.running = true;
    const t0 = performance.now();
    this.run(batch.map((p) => p.item))
      .then(
        (outputs) => {
          this.opts.onBatch?.(batch.length, performance.now() - t0);
          batch.forEach((p, i) => {
            p.cleanup();
            p.resolve({ output: outputs[i]!, batchSize: batch.length });
          });
        },
        (err: unknown) =>
          batch.forEach((p) => {
            p.cleanup();
            p.reject(err);
          }),
      )
      .finally(() => {
        this.running = false;
        this.schedule();
      });
  }
}
