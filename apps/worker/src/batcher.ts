/**
 * Dynamic micro-batcher: groups items submitted by concurrently active jobs
 * (short clips and the segments of long files alike) into one call of `run`.
 *
 * - **Frame budget**: a batch's padded size — batch size × its longest item's
 *   `cost` (model frames) — stays within `maxFrames`, and its size within
 *   `maxBatch`; so a batch of long segments cannot blow memory. (An item that
 *   alone exceeds the budget runs alone.)
 * - **Length grouping**: when more items wait than fit one batch, or when
 *   mixing very different lengths would waste more padding than a separate
 *   batch costs (`overheadFrames`), the waiting items are sorted by cost and
 *   cut into contiguous groups minimising Σ (overhead + size × longest); the
 *   group holding the oldest item runs next (so no item starves).
 * - **Adaptive wait**: a batch starts when it is full (count or budget), when
 *   the oldest item has waited `maxWaitMs`, or — with `moreComing` — at once
 *   when nothing else is about to arrive (nothing decoding locally, nothing in
 *   the queue this worker could take). With backlog it fills up to the wait.
 * - One batch runs at a time (the engine has one inference thread); items
 *   arriving meanwhile form the next batch. Producers keep decoding while a
 *   batch runs, so decode of the next batch overlaps inference of this one.
 *   With `maxInFlight` > 1 (an engine whose decoding loop takes in the
 *   sequences of later batches as others finish: continuous batching) up to
 *   that many batches run at once, each formed by the same rules.
 */
export interface BatchInfo {
  size: number;
  /** wall time of `run` */
  ms: number;
  /** Σ item cost (real frames) */
  frames: number;
  /** size × longest item cost */
  paddedFrames: number;
}

export interface BatcherOptions<I = unknown> {
  maxBatch: number;
  maxWaitMs: number;
  /** budget for size × longest cost (default: unlimited) */
  maxFrames?: number;
  /** an item's cost in model frames (default 1 per item) */
  cost?: (item: I) => number;
  /** what one more batch costs, in frames, when deciding to split by length (default: more than any padding — fewest batches, then least padding) */
  overheadFrames?: number;
  /** false: FIFO order, cut only by count and budget (for comparison) */
  grouping?: boolean;
  /**
   * Adaptive wait: asked when a batch could start early; false means nothing
   * else will arrive soon, so the batch runs now instead of waiting. Absent:
   * always wait up to maxWaitMs for a full batch.
   */
  moreComing?: () => boolean | Promise<boolean>;
  /** called after every batch */
  onBatch?: (info: BatchInfo) => void;
  /** batches running at once (default 1); more only pays for an engine that decodes overlapping batches together */
  maxInFlight?: number;
}

export interface Batched<O> {
  output: O;
  /** how many items shared the batch this item ran in */
  batchSize: number;
  /** time from submit until its batch started */
  waitMs: number;
  /** wall time of its batch */
  runMs: number;
}

interface Pending<I, O> {
  item: I;
  cost: number;
  seq: number;
  enqueuedAt: number;
  resolve: (r: Batched<O>) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

/**
 * Cuts costs (sorted ascending) into contiguous groups of ≤ maxBatch items with
 * size × max ≤ maxFrames (a single item always forms a group), minimising
 * Σ (overhead + size × max). Returns the group boundaries [start, end).
 */
export function planGroups(sortedCosts: readonly number[], maxBatch: number, maxFrames: number, overhead: number): [number, number][] {
  const n = sortedCosts.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let i = 1; i <= n; i++) {
    const longest = sortedCosts[i - 1]!;
    for (let j = i - 1; j >= Math.max(0, i - maxBatch); j--) {
      const size = i - j;
      if (size > 1 && size * longest > maxFrames) break; // more items only pad more
      const c = best[j]! + overhead + size * longest;
      // ties go to the larger group (fewer batches)
      if (c <= best[i]!) {
        best[i] = c;
        from[i] = j;
      }
    }
  }
  const groups: [number, number][] = [];
  for (let i = n; i > 0; i = from[i]!) groups.unshift([from[i]!, i]);
  return groups;
}

export class MicroBatcher<I, O> {
  private waiting: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** batches running now */
  private inFlight = 0;
  private readonly maxInFlight: number;
  private probing = false;
  private seq = 0;
  private readonly maxFrames: number;
  private readonly overhead: number;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: BatcherOptions<I>,
  ) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
    this.maxFrames = opts.maxFrames ?? Infinity;
    if (!(this.maxFrames > 0)) throw new RangeError('maxFrames must be positive');
    this.overhead = opts.overheadFrames ?? 1e9;
    this.maxInFlight = opts.maxInFlight ?? 1;
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
  }

  /** Items waiting for a batch (not counting running ones). */
  get pending(): number {
    return this.waiting.length;
  }

  /** Whether a batch is running now. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Adds an item to a coming batch. Aborting `signal` rejects at once (a running batch still finishes; its result for this item is dropped). */
  submit(item: I, signal?: AbortSignal): Promise<Batched<O>> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
    const cost = this.opts.cost ? this.opts.cost(item) : 1;
    if (!(cost >= 0)) return Promise.reject(new RangeError(`item cost must be a non-negative number, got ${cost}`));
    return new Promise<Batched<O>>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting = this.waiting.filter((p) => p !== entry);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const entry: Pending<I, O> = {
        item,
        cost,
        seq: this.seq++,
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

  /** Re-evaluates the adaptive wait (e.g. a producer finished without submitting). */
  recheck(): void {
    this.schedule();
  }

  /** true when the waiting items cannot all go in one batch (count or frame budget) */
  private full(): boolean {
    const n = this.waiting.length;
    if (n >= this.opts.maxBatch) return true;
    let longest = 0;
    for (const p of this.waiting) longest = Math.max(longest, p.cost);
    return n > 1 && n * longest >= this.maxFrames;
  }

  private schedule(): void {
    if (this.inFlight >= this.maxInFlight || this.waiting.length === 0) return;
    const waited = Date.now() - this.waiting[0]!.enqueuedAt;
    if (this.full() || waited >= this.opts.maxWaitMs) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, this.opts.maxWaitMs - waited);
    }
    if (this.opts.moreComing && !this.probing) this.probe(this.opts.moreComing);
  }

  private probe(moreComing: () => boolean | Promise<boolean>): void {
    let answer: boolean | Promise<boolean>;
    try {
      answer = moreComing();
    } catch {
      return; // no answer: keep waiting for the window
    }
    const act = (more: boolean): void => {
      if (!more && this.inFlight < this.maxInFlight && this.waiting.length > 0) this.flush();
    };
    if (typeof answer === 'boolean') {
      act(answer);
      return;
    }
    this.probing = true;
    answer.then(
      (more) => {
        this.probing = false;
        act(more);
      },
      () => {
        this.probing = false;
      },
    );
  }

  /** the next batch: FIFO, or the length group holding the oldest item */
  private take(): Pending<I, O>[] {
    const { maxBatch } = this.opts;
    if (this.opts.grouping === false) {
      const batch: Pending<I, O>[] = [];
      let longest = 0;
      for (const p of this.waiting) {
        const l = Math.max(longest, p.cost);
        if (batch.length >= maxBatch || (batch.length > 0 && (batch.length + 1) * l > this.maxFrames)) break;
        batch.push(p);
        longest = l;
      }
      this.waiting = this.waiting.slice(batch.length);
      return batch;
    }
    const sorted = [...this.waiting].sort((a, b) => a.cost - b.cost || a.seq - b.seq);
    const groups = planGroups(
      sorted.map((p) => p.cost),
      maxBatch,
      this.maxFrames,
      this.overhead,
    );
    const oldest = this.waiting[0]!;
    const at = sorted.indexOf(oldest);
    const [s, e] = groups.find(([gs, ge]) => at >= gs && at < ge)!;
    const batch = sorted.slice(s, e).sort((a, b) => a.seq - b.seq);
    const chosen = new Set(batch);
    this.waiting = this.waiting.filter((p) => !chosen.has(p));
    return batch;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.take();
    if (batch.length === 0) return;
    this.inFlight++;
    // with room for another batch, what is left may form one now (a different length group, or a full one)
    queueMicrotask(() => this.schedule());
    const started = Date.now();
    const t0 = performance.now();
    let frames = 0;
    let longest = 0;
    for (const p of batch) {
      frames += p.cost;
      longest = Math.max(longest, p.cost);
    }
    this.run(batch.map((p) => p.item))
      .then(
        (outputs) => {
          const ms = performance.now() - t0;
          this.opts.onBatch?.({ size: batch.length, ms, frames, paddedFrames: batch.length * longest });
          batch.forEach((p, i) => {
            p.cleanup();
            p.resolve({ output: outputs[i]!, batchSize: batch.length, waitMs: started - p.enqueuedAt, runMs: ms });
          });
        },
        (err: unknown) =>
          batch.forEach((p) => {
            p.cleanup();
            p.reject(err);
          }),
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
  }
}
