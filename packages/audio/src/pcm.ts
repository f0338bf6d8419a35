/** Incremental s16le byte stream → fixed-size float32 chunks. */

export class S16Chunker {
  private chunk: Float32Array;
  private filled = 0;
  /** Low byte of a sample split across two input buffers, or -1. */
  private pendingByte = -1;

  constructor(private readonly chunkSamples: number) {
    this.chunk = new Float32Array(chunkSamples);
  }

  /** Consumes bytes; returns the chunks completed by them (each a fresh array). */
  push(bytes: Uint8Array): Float32Array[] {
    const done: Float32Array[] = [];
    let i = 0;
    if (this.pendingByte >= 0 && bytes.byteLength > 0) {
      const hi = bytes[0] ?? 0;
      this.put((((hi << 8) | this.pendingByte) << 16) >> 16, done);
      this.pendingByte = -1;
      i = 1;
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = i + ((bytes.byteLength - i) & ~1);
    for (; i < end; i += 2) this.put(dv.getInt16(i, true), done);
    if (end < bytes.byteLength) this.pendingByte = bytes[end] ?? 0;
    return done;
  }

  /** The final partial chunk, if any (an odd trailing byte is dropped). */
  flush(): Float32Array | undefined {
    if (this.filled === 0) return undefined;
    const last = this.chunk.slice(0, this.filled);
    this.filled = 0;
    return last;
  }

  private put(sample: number, done: Float32Array[]): void {
    this.chunk[this.filled++] = sample / 32768;
    if (this.filled === this.chunkSamples) {
      done.push(this.chunk);
      this.chunk = new Float32Array(this.chunkSamples);
      this.filled = 0;
    }
  }
}

/** Concatenates chunks into one array. */
export function concatSamples(chunks: readonly Float32Array[]): Float32Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Float32Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
