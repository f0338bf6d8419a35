/**
 * Worker-thread side of SegmenterThread: runs decodeStream (ffmpeg's output →
 * Float32) and the PieceCutter (VAD) for any number of concurrent streams,
 * one piece per `pull`, so the main thread only receives transferred arrays.
 */
import { parentPort } from 'node:worker_threads';
import { errorInfo } from '@voxfleet/asr/engine-protocol';
import { decodeStream } from '@voxfleet/audio';
import { PieceCutter, type Piece } from './pieces.js';
import type { SegmenterRequest, SegmenterResponse } from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('the segmenter thread must run in a worker thread');

interface Stream {
  cutter: PieceCutter;
  abort: AbortController;
  /** a failure of `open` (bad options), reported on the first pull */
  pieces: AsyncGenerator<Piece> | Error;
}

const streams = new Map<number, Stream>();

function post(msg: SegmenterResponse, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function open(id: number, spec: Extract<SegmenterRequest, { type: 'open' }>['spec']): void {
  const cutter = new PieceCutter(spec.segmenter);
  const abort = new AbortController();
  let pieces: Stream['pieces'];
  try {
    pieces = cutter.pieces(decodeStream(spec.input, { ...spec.decode, signal: abort.signal }));
  } catch (err) {
    pieces = err instanceof Error ? err : new Error(String(err));
  }
  streams.set(id, { cutter, abort, pieces });
}

async function pull(id: number): Promise<void> {
  const s = streams.get(id);
  if (!s) return; // cancelled
  try {
    if (s.pieces instanceof Error) throw s.pieces;
    const r = await s.pieces.next();
    if (streams.get(id) !== s) return; // cancelled meanwhile
    if (r.done) {
      streams.delete(id);
      post({ type: 'end', id, stats: s.cutter.stats, decodedSamples: s.cutter.decodedSamples });
    } else {
      post({ type: 'piece', id, piece: r.value, decodedSamples: s.cutter.decodedSamples }, [r.value.samples.buffer as ArrayBuffer]);
    }
  } catch (err) {
    if (streams.get(id) !== s) return;
    streams.delete(id);
    post({ type: 'error', id, error: errorInfo(err) });
  }
}

function cancel(id: number): void {
  const s = streams.get(id);
  if (!s) return;
  streams.delete(id);
  s.abort.abort(new Error('cancelled'));
  if (!(s.pieces instanceof Error)) s.pieces.return(undefined).catch(() => undefined);
}

port.on('message', (req: SegmenterRequest) => {
  switch (req.type) {
    case 'open':
      open(req.id, req.spec);
      break;
    case 'pull':
      void pull(req.id);
      break;
    case 'cancel':
      cancel(req.id);
      break;
    case 'close':
      for (const id of [...streams.keys()]) cancel(id);
      post({ type: 'closed' });
      port.close();
      break;
  }
});
post({ type: 'ready' });
