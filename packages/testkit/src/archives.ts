/**
 * Builds archives for the tests, in memory (small) or streamed to a file:
 * zips with yazl, tars with tar-stream (+ gzip). Hostile variants are made
 * here too — links, `..` paths, bombs, zips whose entries overlap — never
 * committed as binaries.
 */
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import yazl from 'yazl';
import yauzl from 'yauzl';

export interface ArchiveItem {
  name: string;
  data?: Uint8Array | string;
  /** zip: unix mode (e.g. 0o120777 for a symlink); tar: ignored */
  mode?: number;
  /** tar entry type (default file) */
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  linkname?: string;
}

const toBuf = (d: Uint8Array | string | undefined): Buffer => (d === undefined ? Buffer.alloc(0) : typeof d === 'string' ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength));

export async function zipOf(items: ArchiveItem[], opts: { compress?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const it of items) {
    if (it.type === 'directory') zip.addEmptyDirectory(it.name);
    else zip.addBuffer(toBuf(it.data), it.name, { compress: opts.compress ?? true, ...(it.mode !== undefined ? { mode: it.mode } : {}) });
  }
  zip.end();
  const parts: Buffer[] = [];
  for await (const c of zip.outputStream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function tarOf(items: ArchiveItem[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) parts.push(c as Buffer);
  })();
  for (const it of items) {
    const type = it.type ?? 'file';
    if (type === 'file') pack.entry({ name: it.name }, toBuf(it.data));
    else pack.entry({ name: it.name, type, ...(it.linkname ? { linkname: it.linkname } : {}) });
  }
  pack.finalize();
  await collected;
  const raw = Buffer.concat(parts);
  return opts.gzip ? gzipSync(raw) : raw;
}

/** Replaces every occurrence of `from` by `to` (same byte length): entry names the builders refuse to write. */
export function patchBytes(buf: Buffer, from: string, to: string): Buffer {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('patch must keep the length');
  const out = Buffer.from(buf);
  const f = Buffer.from(from);
  for (let at = out.indexOf(f); at >= 0; at = out.indexOf(f, at + 1)) Buffer.from(to).copy(out, at);
  return out;
}

/** Entries of a zip: name → bytes. */
export async function unzip(buf: Buffer): Promise<Map<string, Buffer>> {
  const zip = await yauzl.fromBufferPromise(buf, { autoClose: false });
  const out = new Map<string, Buffer>();
  for await (const e of zip.eachEntry()) {
    const stream = await zip.openReadStreamPromise(e);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    out.set(e.fileName, Buffer.concat(parts));
  }
  zip.close();
  return out;
}

export interface OverlapOptions {
  /** central-directory entries (each `clip-<i>.wav`) */
  entries: number;
  /** the bytes every entry inflates to (`shared`), or the kernel at the end of the chain (`chained`) */
  kernel: Uint8Array;
  /**
   * `shared`: every entry points at the one local header and its deflate
   * stream (the 500-entries-one-stream attack); `chained`: each entry has a
   * local header of its own, but its stored data runs on over the next
   * entries' headers to the end of the kernel (the overlap of David Fifield's
   * "A better zip bomb", with stored instead of quoting deflate blocks)
   */
  layout: 'shared' | 'chained';
}

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;

function localHeader(name: Buffer, method: number, crc: number, compressed: number, size: number): Buffer {
  const h = Buffer.alloc(LOCAL_HEADER);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4); // version needed
  h.writeUInt16LE(0x0800, 6); // UTF-8 names
  h.writeUInt16LE(method, 8);
  h.writeUInt32LE(crc >>> 0, 14);
  h.writeUInt32LE(compressed, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  return Buffer.concat([h, name]);
}

function centralHeader(name: Buffer, method: number, crc: number, compressed: number, size: number, offset: number): Buffer {
  const h = Buffer.alloc(CENTRAL_HEADER);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(20, 4); // made by (MS-DOS attributes)
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(0x0800, 8);
  h.writeUInt16LE(method, 10);
  h.writeUInt32LE(crc >>> 0, 16);
  h.writeUInt32LE(compressed, 20);
  h.writeUInt32LE(size, 24);
  h.writeUInt16LE(name.length, 28);
  h.writeUInt32LE(offset, 42);
  return Buffer.concat([h, name]);
}

function endOfCentralDirectory(count: number, cdBytes: number, cdOffset: number): Buffer {
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(count, 8);
  e.writeUInt16LE(count, 10);
  e.writeUInt32LE(cdBytes, 12);
  e.writeUInt32LE(cdOffset, 16);
  return e;
}

/**
 * A zip whose entries overlap in the file (every entry reads as valid on its
 * own; together they inflate to `entries` × the kernel from one copy of it).
 */
export function overlappingZip(o: OverlapOptions): Buffer {
  if (o.entries < 2 || o.entries > 0xffff) throw new Error('overlappingZip: 2 to 65535 entries');
  const kernel = toBuf(o.kernel);
  const names = Array.from({ length: o.entries }, (_, i) => Buffer.from(`clip-${i}.wav`));
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  if (o.layout === 'shared') {
    const data = deflateRawSync(kernel);
    const crc = crc32(kernel);
    parts.push(localHeader(names[0]!, 8, crc, data.length, kernel.length), data);
    for (const name of names) central.push(centralHeader(name, 8, crc, data.length, kernel.length, 0));
  } else {
    // Entry i's stored data: the local headers of entries i+1 … n-1, then the kernel.
    const headers: Buffer[] = new Array<Buffer>(o.entries);
    let tail = kernel;
    for (let i = o.entries - 1; i >= 0; i--) {
      headers[i] = localHeader(names[i]!, 0, crc32(tail), tail.length, tail.length);
      tail = Buffer.concat([headers[i]!, tail]);
    }
    let offset = 0;
    for (let i = 0; i < o.entries; i++) {
      const h = headers[i]!;
      const span = tail.length - offset - h.length;
      const data = tail.subarray(offset + h.length);
      central.push(centralHeader(names[i]!, 0, crc32(data), span, span, offset));
      offset += h.length;
    }
    parts.push(tail);
  }
  const body = Buffer.concat(parts);
  const cd = Buffer.concat(central);
  return Buffer.concat([body, cd, endOfCentralDirectory(o.entries, cd.length, body.length)]);
}
