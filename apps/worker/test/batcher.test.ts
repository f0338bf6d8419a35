import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../src/batcher.js';

function recorder(delayMs = 0) {
  const batches: number[][] = [];
  const run = async (items: number[]): Promise<string[]> => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, delayMs));
    return items.map((i) => `r${i}`);
  };
  return { batches, run };
}

describe('MicroBatcher', () => {
  it('groups items submitted together into one batch and answers each', async () => {
    const { batches, run } = recorder();
    const b = new MicroBatcher(run, { maxBatch: 8, maxWaitMs: 20 });
    const out = await Promise.all([1, 2, 3].map((i) => b.submit(i)));
    expect(out).toMatchObject([1, 2, 3].map((i) => ({ output: `r${i}`, batchSize: 3 })));
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('starts a batch as soon as it is full, and splits at the max size', async () => {
    const { batches, run } = recorder(5);
    const b = new MicroBatcher(run, { maxBatch: 4, maxWaitMs: 60_000 });
    const out = await Promise.all(Array.from({ length: 8 }, (_, i) => b.submit(i)));
    expect(batches).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(out.every((o) => o.batchSize === 4)).toBe(true);
  });

  it('runs a lone item after the wait window; items arriving during a batch form the next one', async () => {
    const { batches, run } = recorder(30);
    const b = new MicroBatcher(run, { maxBatch: 8, maxWaitMs: 10 });
    const first = b.submit(1);
    await new Promise((r) => setTimeout(r, 15)); // batch [1] is running now
    const rest = [2, 3].map((i) => b.submit(i));
    await Promise.all([first, ...rest]);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('with maxInFlight 2 starts the next batch while one runs, never a third (continuous-batching engines)', async () => {
    let running = 0;
    let most = 0;
    const started: number[][] = [];
    const release: (() => void)[] = [];
    const run = async (items: number[]): Promise<string[]> => {
      started.push(items);
      most = Math.max(most, ++running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return items.map((i) => `r${i}`);
    };
    const b = new MicroBatcher(run, { maxBatch: 2, maxWaitMs: 60_000, maxInFlight: 2 });
    const out = Promise.all([1, 2, 3, 4, 5, 6].map((i) => b.submit(i)));
    await new Promise((r) => setTimeout(r, 20));
    // two full batches run side by side; the third waits for a free slot
    expect(started).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(b.busy).toBe(true);
    expect(b.pending).toBe(2);
    release.shift()!();
    await new Promise((r) => setTimeout(r, 20));
    expect(started).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    while (release.length) release.shift()!();
    expect((await out).map((o) => o.output)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(most).toBe(2);
    expect(() => new MicroBatcher(run, { maxBatch: 2, maxWaitMs: 1, maxInFlight: 0 })).toThrow(/maxInFlight/);
  });

  it('drops an aborted item before its batch starts and rejects its caller', async () => {
    const { batches, run } = recorder();
    const b = new MicroBatcher(run, { maxBatch: 8, maxWaitMs: 20 });
    const ac = new AbortController();
    const gone = b.submit(1, ac.signal);
    const kept = b.submit(2);
    ac.abort(new Error('cancelled'));
    await expect(gone).rejects.toThrow('cancelled');
    await expect(kept).resolves.toMatchObject({ output: 'r2', batchSize: 1 });
    expect(batches).toEqual([[2]]);
  });

  it('rejects every item of a failed batch and keeps working', async () => {
    let fail = true;
    const b = new MicroBatcher(
      async (items: number[]) => {
        if (fail) throw new Error('engine died');
        return items.map(String);
      },
      { maxBatch: 2, maxWaitMs: 5 },
    );
    const r = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(b.submit(3)).resolves.toMatchObject({ output: '3', batchSize: 1 });
  });
});
