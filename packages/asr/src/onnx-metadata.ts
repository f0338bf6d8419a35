/**
 * Reads the `metadata_props` of an ONNX file (ModelProto field 14), and the
 * graph's input and output signatures (GraphProto fields 11 and 12), without
 * loading the graph: onnxruntime-node does not expose custom metadata, and the
 * model's vocabulary and front-end settings live there; the registry
 * recognises a model family by its signature before any session is opened.
 */
import { open } from 'node:fs/promises';

const METADATA_FIELD = 14;
const GRAPH_FIELD = 7;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;

/** ONNX TensorProto.DataType names for the element types a model signature uses. */
const ELEM_TYPES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

/** One graph input or output: its name, element type and shape (a number, or a symbolic name for a dynamic axis). */
export interface TensorSignature {
  name: string;
  type: string;
  dims: (number | string)[];
}

export interface OnnxInfo {
  metadata: Record<string, string>;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

/** A protobuf wire-format reader over bytes (`bytes()` returns views into the same buffer). */
export class ProtoReader {
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
    else if (wireType === 2) {
      const len = this.varint(); // read before adding: `this.pos += this.varint()` would add to the position before the length
      this.pos += len;
    }
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

function fields(bytes: Uint8Array, fn: (field: number, wire: number, r: ProtoReader) => void): void {
  const r = new ProtoReader(bytes);
  while (!r.done) {
    const tag = r.varint();
    fn(Math.floor(tag / 8), tag & 7, r);
  }
}

/** A ValueInfoProto: name (1) and type (2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1 → dim_value 1 | dim_param 2). */
function parseValueInfo(bytes: Uint8Array): TensorSignature {
  const dec = new TextDecoder();
  const sig: TensorSignature = { name: '', type: 'unknown', dims: [] };
  fields(bytes, (f, w, r) => {
    if (f === 1 && w === 2) sig.name = dec.decode(r.bytes());
    else if (f === 2 && w === 2) {
      fields(r.bytes(), (tf, tw, tr) => {
        if (tf !== 1 || tw !== 2) return tr.skip(tw);
        fields(tr.bytes(), (xf, xw, xr) => {
          if (xf === 1 && xw === 0) sig.type = ELEM_TYPES[xr.varint()] ?? 'unknown';
          else if (xf === 2 && xw === 2) {
            fields(xr.bytes(), (sf, sw, sr) => {
              if (sf !== 1 || sw !== 2) return sr.skip(sw);
              let dim: number | string = '?';
              fields(sr.bytes(), (df, dw, dr) => {
                if (df === 1 && dw === 0) dim = dr.varint();
                else if (df === 2 && dw === 2) dim = dec.decode(dr.bytes());
                else dr.skip(dw);
              });
              sig.dims.push(dim);
            });
          } else xr.skip(xw);
        });
      });
    } else r.skip(w);
  });
  return sig;
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
 * Reads metadata and the graph's input/output signatures from a file,
 * seeking over the large fields (initializers, nodes) so multi-GB exports are
 * not read into memory.
 */
export async function readOnnxInfo(path: string): Promise<OnnxInfo> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const info: OnnxInfo = { metadata: {}, inputs: [], outputs: [] };
    const head = Buffer.alloc(16);
    let pos = 0;
    const readVarint = async (): Promise<number> => {
      const { bytesRead } = await fh.read(head, 0, Math.min(10, size - pos), pos);
      const r = new ProtoReader(head.subarray(0, bytesRead));
      const v = r.varint();
      pos += r.pos;
      return v;
    };
    const readBytes = async (len: number): Promise<Buffer> => {
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      return buf;
    };
    /** Walks the fields in [pos, end); `want(field)` says which length-delimited fields to read (else skipped). */
    const walk = async (end: number, visit: (field: number, len: number) => Promise<void>): Promise<void> => {
      while (pos < end) {
        const tag = await readVarint();
        const field = Math.floor(tag / 8);
        const wire = tag & 7;
        if (wire === 0) await readVarint();
        else if (wire === 1) pos += 8;
        else if (wire === 5) pos += 4;
        else if (wire === 2) {
          const len = await readVarint();
          const start = pos;
          await visit(field, len);
          pos = start + len;
        } else throw new Error(`${path}: not an ONNX model (wire type ${wire})`);
      }
      if (pos > end) throw new Error(`${path}: truncated ONNX file`);
    };
    await walk(size, async (field, len) => {
      if (field === METADATA_FIELD) {
        const [k, v] = parseEntry(await readBytes(len));
        info.metadata[k] = v;
      } else if (field === GRAPH_FIELD) {
        await walk(pos + len, async (gf, glen) => {
          if (gf === GRAPH_INPUT) info.inputs.push(parseValueInfo(await readBytes(glen)));
          else if (gf === GRAPH_OUTPUT) info.outputs.push(parseValueInfo(await readBytes(glen)));
        });
      }
    });
    return info;
  } finally {
    await fh.close();
  }
}

/** Reads only the metadata of an ONNX file (see readOnnxInfo). */
export async function readOnnxMetadata(path: string): Promise<Record<string, string>> {
  return (await readOnnxInfo(path)).metadata;
}
