/**
 * Streams a .tar.bz2 into a directory: bzip2 through the system's
 * `lbzip2`/`pbzip2`/`bzip2` when one is on PATH (several times faster), else
 * through unbzip2-stream (pure JavaScript, from npm), then tar-stream. Each
 * file's SHA-256 and size are computed while it is written. Only regular
 * files and folders are accepted, all inside the archive's top folder, which
 * is stripped: `<topDir>/model.onnx` lands at `<dest>/model.onnx`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { delimiter, join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import unbzip2 from 'unbzip2-stream';

export class UnpackError extends Error {
  override readonly name = 'UnpackError';
}

export type Decompressor = 'auto' | 'system' | 'js';

export interface UnpackOptions {
  archive: string;
  /** an existing, empty directory */
  dest: string;
  /** the archive's single top folder, stripped while unpacking */
  topDir: string;
  decompressor?: Decompressor;
  /** compressed bytes read so far, of the archive's size */
  onProgress?: (read: number, total: number) => void;
}

export interface UnpackedFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface UnpackResult {
  files: UnpackedFile[];
  /** what decompressed: a program's path or "unbzip2-stream (JavaScript)" */
  decompressor: string;
}

/** The first of lbzip2, pbzip2, bzip2 found on PATH. */
export function findBzip2(path = process.env.PATH ?? ''): string | null {
  for (const name of ['lbzip2', 'pbzip2', 'bzip2']) {
    for (const dir of path.split(delimiter)) {
      if (!dir) continue;
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** unbzip2-stream is an old-style `through` stream; this wraps it as a Transform with errors that propagate. */
function jsBunzip2(): Transform {
  const bz = unbzip2();
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        bz.write(chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb) {
      bz.once('end', () => cb());
      bz.end();
    },
  });
  bz.on('data', (d: Buffer) => t.push(d));
  bz.on('error', (e: Error) => t.destroy(new UnpackError(`not a valid bzip2 stream: ${e.message}`)));
  return t;
}

interface Decompressed {
  out: Readable;
  name: string;
  /** resolves when the decompressor has finished cleanly, rejects otherwise */
  done: Promise<void>;
}

function decompress(input: Readable, which: Decompressor): Decompressed {
  const bin = which === 'js' ? null : findBzip2();
  if (which === 'system' && bin === null) throw new UnpackError('no bzip2 program on PATH (apt-get install bzip2), and --decompressor system was asked for');
  if (bin === null) {
    const t = jsBunzip2();
    const done = pipeline(input, t).catch((e: Error) => {
      throw e instanceof UnpackError ? e : new UnpackError(e.message);
    });
    return { out: t, name: 'unbzip2-stream (JavaScript)', done };
  }
  const child = spawn(bin, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 2000) stderr += s;
  });
  // bzip2 exits early on bad data: its stdin then breaks, which is reported through the exit code
  child.stdin.on('error', () => undefined);
  input.on('error', () => child.kill());
  input.pipe(child.stdin);
  const done = new Promise<void>((ok, fail) => {
    child.on('error', (e) => fail(new UnpackError(`cannot run ${bin}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) ok();
      else fail(new UnpackError(`not a valid bzip2 stream: ${bin} ${signal ? `was killed (${signal})` : `exited ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
  return { out: child.stdout, name: bin, done };
}

/** `<topDir>/a/b` → `a/b`; null for the top folder itself; throws for anything unsafe. */
export function entryPath(name: string, topDir: string): string | null {
  if (name.includes('\0')) throw new UnpackError(`archive entry name contains a NUL byte: ${JSON.stringify(name)}`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw new UnpackError(`archive entry "${name}" has an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnpackError(`archive entry "${name}" points outside the archive ("..")`);
  if (parts[0] !== topDir) throw new UnpackError(`archive entry "${name}" is outside the expected folder ${topDir}/: not the archive this model needs`);
  return parts.length === 1 ? null : parts.slice(1).join('/');
}

export async function unpackTarBz2(opts: UnpackOptions): Promise<UnpackResult> {
  const total = (await stat(opts.archive)).size;
  const root = resolve(opts.dest);
  const input = createReadStream(opts.archive);
  let read = 0;
  input.on('data', (c) => {
    read += c.length;
    opts.onProgress?.(read, total);
  });
  const dec = decompress(input, opts.decompressor ?? 'auto');
  const extract = tar.extract();
  dec.out.on('error', (e) => extract.destroy(e));
  dec.done.catch((e: Error) => extract.destroy(e));
  dec.out.pipe(extract as unknown as NodeJS.WritableStream);

  const files = new Map<string, UnpackedFile>();
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      const rel = entryPath(name, opts.topDir);
      if (type === 'directory') {
        if (rel !== null) await mkdir(join(root, rel), { recursive: true });
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        throw new UnpackError(`archive entry "${name}" is a ${type}: only regular files and folders are accepted`);
      }
      if (rel === null) throw new UnpackError(`archive entry "${name}" is a file where the top folder should be`);
      const target = join(root, rel);
      if (!target.startsWith(root + sep)) throw new UnpackError(`archive entry "${name}" resolves outside ${root}`);
      await mkdir(join(target, '..'), { recursive: true });
      const hash = createHash('sha256');
      let bytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(entry as unknown as Readable, tap, createWriteStream(target));
      files.set(rel, { path: rel, bytes, sha256: hash.digest('hex') });
    }
    await dec.done;
  } catch (e) {
    input.destroy();
    dec.out.destroy();
    if (e instanceof UnpackError) throw e;
    throw new UnpackError(`cannot unpack ${opts.archive}: ${(e as Error).message}`);
  }
  if (files.size === 0) throw new UnpackError(`${opts.archive} holds no files`);
  return { files: [...files.values()], decompressor: dec.name };
}
