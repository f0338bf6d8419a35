/**
 * Builds archives for the tests, in memory (small) or streamed to a file:
 * zips with yazl, tars with tar-stream (+ gzip). Hostile variants are made
 * here too — links, `..` paths, bombs — never committed as binaries.
 */
import { gzipSync } from 'node:zlib';
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
