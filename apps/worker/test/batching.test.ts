/**
 * The batcher's policies: the frame budget (property-style over random
 * inputs), length grouping against FIFO, and the adaptive wait.
 */
import { describe, expect, it } from 'vitest';
import { MicroBatcher, planGroups, type BatchInfo } from '../src/batcher.js';
import { rng } from '@voxfleet/testkit';


const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** items are their own cost (model frames); run records every batch */
function costBatcher(opts: { maxBatch: number; maxFrames: number; overheadFrames?: number; grouping?: boolean; maxWaitMs?: number }) {
  const batches: number[][] = [];
  const infos: BatchInfo[] = [];
  const b = new MicroBatcher<number, number>(
    async (items) => {
      batches.push(items);
      await tick();
      return items;
    },
    { maxWaitMs: 5, ...opts, cost: (x) => x, onBatch: (i) => infos.push(i) },
  );
  return { b, batches, infos };
}

describe('frame budget', () => {
  it('no batch ever exceeds size × longest ≤ maxFrames or maxBatch (random inputs, random arrival)', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed);
      const maxBatch = 1 + Math.floor(r() * 12);
      const maxFrames = 200 + Math.floor(r() * 4000);
      const { b, batches, infos } = costBatcher({ maxBatch, maxFrames, overheadFrames: Math.floor(r() * 60), grouping: r() < 0.8, maxWaitMs: Math.floor(r() * 4) });
      const n = 20 + Math.floor(r() * 80);
      const submitted: Promise<unknown>[] = [];
      const costs: number[] = [];
      for (let i = 0; i < n; i++) {
        // segment lengths from 0.3 s to 30 s (5–500 frames), a few over budget alone
        const cost = r() < 0.03 ? maxFrames + 1 + Math.floor(r() * 100) : 5 + Math.floor(r() * 495);
        costs.push(cost);
        submitted.push(b.submit(cost));
        if (r() < 0.3) await tick(Math.floor(r() * 3));
      }
      const out = (await Promise.all(submitted)) as { output: number }[];
      expect(out.map((o) => o.output)).toEqual(costs); // every caller gets its own result
      expect(batches.flat().sort((x, y) => x - y)).toEqual([...costs].sort((x, y) => x - y));
      for (const batch of batches) {
        expect(batch.length).toBeLessThanOrEqual(maxBatch);
        const padded = batch.length * Math.max(...batch);
        if (batch.length > 1) expect(padded, `seed ${seed}: batch ${JSON.stringify(batch)} over ${maxFrames}`).toBeLessThanOrEqual(maxFrames);
      }
      for (const info of infos) if (info.size > 1) expect(info.paddedFrames).toBeLessThanOrEqual(maxFrames);
    }
  });

  it('planGroups respects count and budget and covers every item once', () => {
    const r = rng(7);
    for (let k = 0; k < 200; k++) {
      const costs = Array.from({ length: 1 + Math.floor(r() * 40) }, () => 1 + Math.floor(r() * 500)).sort((a, b) => a - b);
      const maxBatch = 1 + Math.floor(r() * 16);
      const maxFrames = 100 + Math.floor(r() * 3000);
      const groups = planGroups(costs, maxBatch, maxFrames, Math.floor(r() * 100));
      let next = 0;
      for (const [s, e] of groups) {
        expect(s).toBe(next);
        expect(e - s).toBeGreaterThanOrEqual(1);
        expect(e - s).toBeLessThanOrEqual(maxBatch);
        if (e - s > 1) expect((e - s) * costs[e - 1]!).toBeLessThanOrEqual(maxFrames);
        next = e;
      }
      expect(next).toBe(costs.length);
    }
  });
});

describe('length grouping', () => {
  it('pads less than FIFO on the same mixed-length backlog', async () => {
    const padding = async (grouping: boolean): Promise<number> => {
      const r = rng(42);
      const { b, infos } = costBatcher({ maxBatch: 8, maxFrames: 4000, overheadFrames: 30, grouping, maxWaitMs: 1000 });
      // a backlog: short clips (1–6 s) and long-audio segments (10–30 s) interleaved
      const costs = Array.from({ length: 96 }, () => (r() < 0.5 ? 17 + Math.floor(r() * 83) : 167 + Math.floor(r() * 333)));
      await Promise.all(costs.map((c) => b.submit(c)));
      const real = infos.reduce((n, i) => n + i.frames, 0);
      const padded = infos.reduce((n, i) => n + i.paddedFrames, 0);
      return 1 - real / padded;
    };
    const fifo = await padding(false);
    const grouped = await padding(true);
    console.log(`padding fraction: FIFO ${fifo.toFixed(3)}, grouped by length ${grouped.toFixed(3)}`);
    expect(grouped).toBeLessThan(fifo / 2);
  });

  it('keeps batches full when lengths are alike (grouping does not fragment)', async () => {
    const { b, batches } = costBatcher({ maxBatch: 4, maxFrames: 10_000, overheadFrames: 30, maxWaitMs: 1000 });
    await Promise.all([100, 101, 102, 103, 104, 105, 106, 107].map((c) => b.submit(c)));
    expect(batches.map((x) => x.length)).toEqual([4, 4]);
  });

  it('runs the group of the oldest item first', async () => {
    const batches: number[][] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const b = new MicroBatcher<number, number>(
      async (items) => {
        batches.push(items);
        await gate; // the first batch runs until all four items below wait
        return items;
      },
      { maxBatch: 2, maxWaitMs: 1000, maxFrames: 10_000, overheadFrames: 30, cost: (x) => x },
    );
    const first = [b.submit(1), b.submit(1)];
    const rest = [300, 10, 11, 301].map((c) => b.submit(c));
    open();
    await Promise.all([...first, ...rest]);
    expect(batches).toEqual([[1, 1], [300, 301], [10, 11]]);
  });
});

describe('adaptive wait', () => {
  it('does not wait when nothing else is coming', async () => {
    const batches: number[][] = [];
    let asked = 0;
    const b = new MicroBatcher<number, number>(
      async (items) => {
        batches.push(items);
        return items;
      },
      {
        maxBatch: 8,
        maxWaitMs: 60_000,
        moreComing: async () => {
          asked++;
          return false;
        },
      },
    );
    // with a one-minute window, resolving at all proves it did not wait
    await expect(b.submit(1)).resolves.toMatchObject({ output: 1, batchSize: 1 });
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(batches).toEqual([[1]]);
  });

  it('fills up while more is coming and runs once the producers are done', async () => {
    const batches: number[][] = [];
    let producing = 3;
    const b = new MicroBatcher<number, number>(
      async (items) => {
        batches.push(items);
        return items;
      },
      { maxBatch: 8, maxWaitMs: 60_000, moreComing: () => producing > 0 },
    );
    const out: Promise<unknown>[] = [];
    for (let i = 1; i <= 3; i++) {
      out.push(b.submit(i));
      await tick(2);
      expect(batches).toEqual([]); // still waiting for the others
      producing--;
    }
    b.recheck();
    await Promise.all(out);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('still runs after maxWaitMs when more keeps coming', async () => {
    const b = new MicroBatcher<number, number>(async (items) => items, { maxBatch: 8, maxWaitMs: 20, moreComing: () => true });
    const t0 = Date.now();
    await b.submit(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
  });
});
