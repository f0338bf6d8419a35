/**
 * Reads the `metadata_props` of an ONNX file (ModelProto field 14) without
 * loading the graph: onnxruntime-node does not expose custom metadata, and the
 * model's vocabulary and front-end settings live there.
 */
import { open } from 'node:fs/promises';

const METADATA_FIELD = 14;

class ProtoReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }
  bytes(): Uint8Array {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.buf.length) throw new Error('truncated field');
    return this.buf.subarray(start, this.pos);
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.pos += this.varint();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

function parseEntry(bytes: Uint8Array): [string, string] {
  const r = new ProtoReader(bytes);
  const dec = new TextDecoder();
  let key = '';
  let value = '';
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) key = dec.decode(r.bytes());
    else if (field === 2 && wire === 2) value = dec.decode(r.bytes());
    else r.skip(wire);
  }
  return [key, value];
}

/** Parses metadata from the bytes of a whole ModelProto. */
export function parseOnnxMetadata(model: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const r = new ProtoReader(model);
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === METADATA_FIELD && wire === 2) {
      const [k, v] = parseEntry(r.bytes());
      out[k] = v;
    } else {
      r.skip(wire);
    }
  }
  return out;
}

/**
 * Reads metadata from a file, streaming over the large graph field (skipping its
 * bytes by seeking) so multi-GB exports are not read into memory.
 */
export async function readOnnxMetadata(path: string): Promise<Record<string, string>> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const out: Record<string, string> = {};
    let pos = 0;
    const head = Buffer.alloc(16);
    const readVarint = async (): Promise<number> => {
      const { bytesRead } = await fh.read(head, 0, Math.min(10, size - pos), pos);
      const r = new ProtoReader(head.subarray(0, bytesRead));
      const v = r.varint();
      pos += r.pos;
      return v;
    };
    while (pos < size) {
      const tag = await readVarint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) {
        await readVarint();
      } else if (wire === 1) {
        pos += 8;
      } else if (wire === 5) {
        pos += 4;
      } else if (wire === 2) {
        const len = await readVarint();
        if (field === METADATA_FIELD) {
          const buf = Buffer.alloc(len);
          await fh.read(buf, 0, len, pos);
          const [k, v] = parseEntry(buf);
          out[k] = v;
        }
        pos += len;
      } else {
        throw new Error(`${path}: not an ONNX model (wire type ${wire})`);
      }
    }
    return out;
  } finally {
    await fh.close();
  }
}
