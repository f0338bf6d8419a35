/**
 * SegmenterThread: decoding (ffmpeg's output → Float32) and the VAD on one
 * worker thread that serves any number of concurrent streams, so the main
 * thread only receives transferred Float32Arrays. Pull-based: the thread cuts
 * the next piece of a stream only when asked (PieceStream.next), so memory
 * stays flat in the length of a file. Errors arrive as the same typed errors
 * (AudioError with its code, message and detail; RangeError, TypeError).
 *
 * `SegmenterThread.shared()` is one lazily started thread per process, which
 * does not keep the process alive while no stream is open; `start()` / `close()`
 * manage a thread of one's own.
 */
import { Worker } from 'node:worker_threads';
import type { ErrorInfo } from '@voxfleet/asr/engine-protocol';
import { AudioError, type AudioErrorCode } from '@voxfleet/audio';
import type { Piece } from './pieces.js';
import type { SegmenterStats } from './segmenter.js';
import type { SegmenterRequest, SegmenterResponse, StreamSpec } from './thread-protocol.js';

/** One stream of pieces; `next` is called again only after the previous call settled. */
export interface PieceStream {
  /** the next piece, or the segmenter's stats at the end */
  next(): Promise<IteratorResult<Piece, SegmenterStats>>;
  /** samples decoded so far */
  readonly decodedSamples: number;
  /** stops the stream (kills its decoder) unless it has ended */
  close(): Promise<void>;
}

/** The error a thread reported, as the class it was thrown as where that matters to callers. */
export function errorFromInfo(info: ErrorInfo): Error {
  if (info.name === 'AudioError' && info.code) {
    return new AudioError(info.code as AudioErrorCode, info.message, info.detail === undefined ? {} : { detail: info.detail });
  }
  const Ctor = info.name === 'RangeError' ? RangeError : info.name === 'TypeError' ? TypeError : Error;
  const err = new Ctor(info.message);
  if (err.name !== info.name) err.name = info.name;
  if (info.code !== undefined) Object.assign(err, { code: info.code });
  return err;
}

/** The worker-thread entry: compiled JS, or the TypeScript source through a tsx bootstrap. */
function threadUrl(): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./thread.js', import.meta.url);
  return new URL('./thread.boot.mjs', import.meta.url);
}

interface Open {
  decodedSamples: number;
  pending?: { resolve: (r: IteratorResult<Piece, SegmenterStats>) => void; reject: (e: unknown) => void };
}

export class SegmenterThread {
  private static sharedThread: Promise<SegmenterThread> | undefined;
  private nextId = 1;
  private readonly streams = new Map<number, Open>();
  private failure: Error | undefined;
  private closed = false;
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;
  private onReady: { resolve: () => void; reject: (e: Error) => void } | undefined;

  private constructor(
    private readonly worker: Worker,
    /** the shared thread: unref'd while no stream is open */
    private readonly isShared: boolean,
  ) {
    this.ready = new Promise((resolve, reject) => (this.onReady = { resolve, reject }));
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (msg: SegmenterResponse) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`segmenter thread exited with code ${code}`)));
  }

  /** Starts a thread of one's own; resolves once it runs. */
  static start(): Promise<SegmenterThread> {
    return SegmenterThread.create(false);
  }

  /** The process's shared thread, started on first use (and again after it died or was closed). */
  static shared(): Promise<SegmenterThread> {
    SegmenterThread.sharedThread ??= SegmenterThread.create(true).catch((err: unknown) => {
      SegmenterThread.sharedThread = undefined;
      throw err;
    });
    return SegmenterThread.sharedThread;
  }

  private static async create(isShared: boolean): Promise<SegmenterThread> {
    const t = new SegmenterThread(new Worker(threadUrl()), isShared);
    await t.ready; // ref'd until then: something must keep the process alive while it starts
    if (isShared && t.streams.size === 0) t.worker.unref();
    return t;
  }

  /** Opens a stream; aborting `signal` rejects its pending `next` with `signal.reason` and stops it. */
  open(spec: StreamSpec, signal?: AbortSignal): PieceStream {
    const id = this.nextId++;
    const s: Open = { decodedSamples: 0 };
    /** forgets the stream; `cancel`: the thread still runs it (not ended, not failed) */
    const stop = (cancel = true): void => {
      signal?.removeEventListener('abort', onAbort);
      if (!this.streams.delete(id)) return;
      if (cancel && !this.failure) this.post({ type: 'cancel', id });
      if (this.streams.size === 0 && this.isShared) this.worker.unref();
    };
    const onAbort = (): void => {
      const p = s.pending;
      s.pending = undefined;
      stop();
      p?.reject(signal!.reason);
    };
    if (!this.failure && !this.closed) {
      if (this.streams.size === 0 && this.isShared) this.worker.ref();
      this.streams.set(id, s);
      this.post({ type: 'open', id, spec });
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    return {
      get decodedSamples() {
        return s.decodedSamples;
      },
      next: () => {
        if (signal?.aborted) return Promise.reject(signal.reason);
        if (this.closed) return Promise.reject(new Error('segmenter thread is closed'));
        if (this.failure) return Promise.reject(this.failure);
        if (!this.streams.has(id)) return Promise.reject(new Error('stream has ended'));
        return new Promise((resolve, reject) => {
          s.pending = {
            resolve: (r) => {
              if (r.done) stop(false);
              resolve(r);
            },
            reject: (e) => {
              stop(false);
              reject(e);
            },
          };
          this.post({ type: 'pull', id });
        });
      },
      close: async () => stop(),
    };
  }

  /** Stops every stream and the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.isShared) SegmenterThread.sharedThread = undefined;
    const err = new Error('segmenter thread is closed');
    for (const s of this.streams.values()) s.pending?.reject(err);
    this.streams.clear(); // the thread cancels its streams on close
    if (this.failure) return;
    this.post({ type: 'close' });
    await this.exited;
  }

  private post(msg: SegmenterRequest): void {
    this.worker.postMessage(msg);
  }

  private onMessage(msg: SegmenterResponse): void {
    if (msg.type === 'ready') return this.onReady?.resolve();
    if (msg.type === 'closed') return;
    const s = this.streams.get(msg.id);
    if (!s) return; // cancelled
    const p = s.pending;
    s.pending = undefined;
    if (msg.type === 'piece') {
      s.decodedSamples = msg.decodedSamples;
      p?.resolve({ done: false, value: msg.piece });
    } else if (msg.type === 'end') {
      s.decodedSamples = msg.decodedSamples;
      p?.resolve({ done: true, value: msg.stats });
    } else {
      p?.reject(errorFromInfo(msg.error));
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.onReady?.reject(err);
    if (this.isShared && !this.closed) SegmenterThread.sharedThread = undefined;
    for (const s of this.streams.values()) s.pending?.reject(err);
    this.streams.clear();
  }
}
