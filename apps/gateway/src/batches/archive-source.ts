/**
 * Where an archive's bytes come from: its size and byte ranges, from the
 * blob store (local directory or S3: the archive is read in place, never
 * copied to this host) or from a file (tools and tests).
 *
 * `RangeReader` is yauzl's random access over such a source. yauzl reads a
 * zip in many small pieces (46-byte central-directory records, 30-byte local
 * headers, small entries): those are served from a few cached 64 KiB blocks,
 * so a zip of many small files costs a handful of range requests per MiB
 * instead of several per entry; large entries stream in one range request.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { BlobStore } from '@voxfleet/storage';

export interface ArchiveSource {
  /** total bytes */
  size(): Promise<number>;
  /** bytes `[start, end)` as a stream; `chunkBytes` is a read-size hint (files only) */
  range(start: number, end: number, chunkBytes?: number): Promise<Readable>;
}

export function fileSource(path: string): ArchiveSource {
  return {
    size: async () => (await stat(path)).size,
    // createReadStream's end is inclusive, and with start === end it would read one byte
    range: async (start, end, chunkBytes) => (end <= start ? Readable.from([]) : createReadStream(path, { start, end: end - 1, ...(chunkBytes ? { highWaterMark: chunkBytes } : {}) })),
  };
}

export function blobSource(blobs: Pick<BlobStore, 'size' | 'open'>, key: string): ArchiveSource {
  let size: Promise<number> | undefined;
  return {
    // asked once per pass (and by yauzl's reader): one HEAD request
    size: () => (size ??= blobs.size(key)),
    range: (start, end) => blobs.open(key, { start, end }),
  };
}

/** The first `n` bytes (fewer if the source is shorter). */
export async function readHead(source: ArchiveSource, n: number): Promise<Buffer> {
  const size = await source.size();
  return readAll(await source.range(0, Math.min(n, size)));
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const BLOCK_BYTES = 64 * 1024;
/** 1 MiB of blocks: enough for the central directory being read while entries' headers are looked up. */
const CACHED_BLOCKS = 16;

export class RangeReader extends yauzl.RandomAccessReader {
  /** block index → its bytes, least recently used first */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  constructor(
    private readonly source: ArchiveSource,
    private readonly size: number,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough();
    if (end - start <= BLOCK_BYTES) {
      this.cached(start, end).then(
        (bytes) => out.end(bytes),
        (err: Error) => out.destroy(err),
      );
      return out;
    }
    this.source.range(start, end).then(
      (s) => {
        s.on('error', (err) => out.destroy(err));
        // yauzl destroys its stream when it stops early: let go of the source (an S3 connection) too
        out.on('close', () => s.destroy());
        s.pipe(out);
      },
      (err: Error) => out.destroy(err),
    );
    return out;
  }

  private async cached(start: number, end: number): Promise<Buffer> {
    const first = Math.floor(start / BLOCK_BYTES);
    const last = Math.floor((end - 1) / BLOCK_BYTES);
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) parts.push(await this.block(i));
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const offset = start - first * BLOCK_BYTES;
    return all.subarray(offset, offset + (end - start));
  }

  private block(i: number): Promise<Buffer> {
    const hit = this.blocks.get(i);
    if (hit) {
      this.blocks.delete(i);
      this.blocks.set(i, hit);
      return hit;
    }
    const bytes = this.source.range(i * BLOCK_BYTES, Math.min(this.size, (i + 1) * BLOCK_BYTES)).then(readAll);
    // a failed read is not remembered: the caller sees the error, a later read tries again
    bytes.catch(() => this.blocks.delete(i));
    this.blocks.set(i, bytes);
    if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
    return bytes;
  }
}
