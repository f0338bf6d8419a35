/**
 * Local files: what an input is (archive by magic bytes, folder, single
 * file), packing a folder as a tar stream, and unpacking a results zip into
 * a folder (paths checked: nothing lands outside it).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import yauzl from 'yauzl';

export type InputKind = { kind: 'dir'; files: { abs: string; rel: string; size: number }[]; bytes: number } | { kind: 'archive'; format: 'zip' | 'tar' | 'tgz'; bytes: number } | { kind: 'file'; bytes: number };

export async function sniffFile(path: string): Promise<'zip' | 'tar' | 'tgz' | null> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (bytesRead >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5 || b[2] === 7)) return 'zip';
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'tgz';
    if (bytesRead >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'tar';
    return null;
  } finally {
    await fh.close();
  }
}

/** Regular files under `dir`, sorted, relative with `/` (symlinks and special files are left out). */
export async function listDir(dir: string): Promise<{ abs: string; rel: string; size: number }[]> {
  const out: { abs: string; rel: string; size: number }[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(d, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) out.push({ abs, rel: relative(dir, abs).split(sep).join('/'), size: (await lstat(abs)).size });
    }
  };
  await walk(dir);
  return out;
}

export async function classify(path: string): Promise<InputKind> {
  const st = await lstat(path);
  if (st.isDirectory()) {
    const files = await listDir(path);
    return { kind: 'dir', files, bytes: files.reduce((a, f) => a + f.size, 0) };
  }
  const format = await sniffFile(path);
  return format ? { kind: 'archive', format, bytes: st.size } : { kind: 'file', bytes: st.size };
}

/** A folder as a tar stream, file by file (nothing whole in memory). */
export function packDir(files: { abs: string; rel: string; size: number }[]): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      for (const f of files) {
        const sink = pack.entry({ name: f.rel, size: f.size, mode: 0o644, mtime: new Date(0) });
        await pipeline(createReadStream(f.abs), sink as unknown as NodeJS.WritableStream);
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as Readable;
}

/** Safe destination for a zip entry name under `root`, or null to skip it. */
export function safeJoin(root: string, name: string): string | null {
  const parts = name.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..') || /^[A-Za-z]:/.test(name) || name.startsWith('/')) return null;
  const dest = resolve(root, ...parts);
  return dest.startsWith(resolve(root) + sep) ? dest : null;
}

/** Unpacks a zip file into `root`; returns the paths written (relative). */
export async function unzipTo(zipPath: string, root: string): Promise<string[]> {
  const zip = await yauzl.openPromise(zipPath, { autoClose: false });
  const written: string[] = [];
  try {
    for await (const e of zip.eachEntry()) {
      if (e.fileName.endsWith('/')) continue;
      const dest = safeJoin(root, e.fileName);
      if (!dest) continue;
      await mkdir(dirname(dest), { recursive: true });
      await pipeline(await zip.openReadStreamPromise(e), createWriteStream(dest));
      written.push(e.fileName);
    }
  } finally {
    zip.close();
  }
  return written;
}
