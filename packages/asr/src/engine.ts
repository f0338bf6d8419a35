/**
 * AsrEngine: the model on a worker thread. Start it once (the model loads
 * before `start` resolves), send batches of 16 kHz mono audio, close it.
 * The main thread only transfers typed arrays, so its event loop stays free
 * (BullMQ lock renewal, HTTP) while inference runs.
 */
import { Worker } from 'node:worker_threads';
import { asrConfigSchema, type AsrConfig, type AsrConfigInput } from './config.js';
import type { LoadReport } from './ctc-model.js';
import type { Transcript } from './ctc.js';
import type { BatchTiming, EngineRequest, EngineResponse, ErrorInfo, FrameCost, UtteranceOptions } from './engine-protocol.js';
import { lfrFrameCount } from './frontend/index.js';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    message: string,
    readonly code: string = 'engine_error',
  ) {
    super(message);
  }
}

function fromInfo(info: ErrorInfo): EngineError {
  return new EngineError(info.message, info.code ?? info.name);
}

export interface BatchResult {
  transcripts: Transcript[];
  timing: BatchTiming;
}

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

/** The worker-thread entry: compiled JS, or the TypeScript source through a tsx bootstrap. */
function threadUrl(): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./engine-thread.js', import.meta.url);
  return new URL('./engine-thread.boot.mjs', import.meta.url);
}

export class AsrEngine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private exitError: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly config: AsrConfig,
    readonly report: LoadReport,
    private readonly cost: FrameCost,
    /**
     * Batches sent while others run are decoded together with them (the model's decoding loop takes in
     * their sequences as others finish: Fun-ASR-Nano); false: the thread runs one batch at a time, in order.
     */
    readonly concurrent: boolean,
  ) {
    worker.on('message', (msg: EngineResponse) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new EngineError(`engine thread exited with code ${code}`, 'engine_exited')));
  }

  /** Starts the worker thread and loads the model; resolves once it is ready to infer. */
  static async start(input: AsrConfigInput, opts: { signal?: AbortSignal } = {}): Promise<AsrEngine> {
    const config = asrConfigSchema.parse(input);
    const worker = new Worker(threadUrl(), { workerData: config });
    const ready = await new Promise<Extract<EngineResponse, { type: 'ready' }>>((resolve, reject) => {
      const onMessage = (msg: EngineResponse): void => {
        cleanup();
        if (msg.type === 'ready') resolve(msg);
        else {
          void worker.terminate();
          reject(msg.type === 'failed' ? fromInfo(msg.error) : new EngineError(`unexpected message ${msg.type} before ready`));
        }
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number): void => {
        cleanup();
        reject(new EngineError(`engine thread exited with code ${code} while loading`, 'engine_exited'));
      };
      const onAbort = (): void => {
        cleanup();
        void worker.terminate();
        reject(new EngineError('engine start aborted', 'aborted'));
      };
      // Only our own listeners: Worker uses listener bookkeeping internally, so no removeAllListeners().
      const cleanup = (): void => {
        opts.signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    return new AsrEngine(worker, config, ready.report, ready.cost, ready.concurrent);
  }

  /** Model frames an utterance of `numSamples` samples occupies (for batch budgets). */
  frames(numSamples: number): number {
    if (this.cost.kind === 'lfr') return lfrFrameCount(numSamples, this.cost.n);
    return Math.max(1, Math.floor(Math.floor(numSamples / 160) / this.cost.factor));
  }

  /**
   * Transcribes a batch. The sample buffers are transferred to the worker
   * thread (zero-copy) and are unusable afterwards. An aborted signal rejects
   * at once; a batch already running finishes in the thread and is discarded.
   */
  transcribe(audio: Float32Array[], opts: { signal?: AbortSignal; options?: UtteranceOptions[] } = {}): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new EngineError('engine is closed', 'closed'));
    if (this.exitError) return Promise.reject(this.exitError);
    if (opts.signal?.aborted) return Promise.reject(new EngineError('aborted', 'aborted'));
    const id = this.nextId++;
    return new Promise<BatchResult>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id);
        reject(new EngineError('aborted', 'aborted'));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (r) => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          opts.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      const msg: EngineRequest = { type: 'transcribe', id, audio, ...(opts.options ? { options: opts.options } : {}) };
      const transfer = [...new Set(audio.map((a) => a.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
      this.worker.postMessage(msg, transfer);
    });
  }

  /** Waits for queued batches, releases the session and stops the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.exitError) return;
    const done = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' } satisfies EngineRequest);
    await done;
  }

  private onMessage(msg: EngineResponse): void {
    if (msg.type === 'result' || msg.type === 'error') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.type === 'result') p.resolve({ transcripts: msg.transcripts, timing: msg.timing });
      else p.reject(fromInfo(msg.error));
    }
  }

  private fail(err: Error): void {
    if (this.closed && this.pending.size === 0) return;
    this.exitError ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
