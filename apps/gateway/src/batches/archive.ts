/**
 * Archives (zip, tar, tar.gz) read as streams from a stored blob (or a
 * file), never from a path the blob store must have: an `ArchiveSource`
 * gives the size and byte ranges (archive-source.ts), so an archive in S3 is
 * read in place.
 *
 * - `sniffArchive` recognises the format by its magic bytes, not its name.
 * - `readEntries` walks the entries in archive order (zip: yauzl over the
 *   central directory, random access by range reads; tar/tgz: tar-stream over
 *   one sequential read, through zlib for tgz) and hands out each entry's bytes
 *   as an async iterable, read on demand and never whole into memory.
 * - `EntryGuard` enforces the limits while the bytes stream: per-entry size,
 *   total uncompressed size, the compression-ratio bomb guard (per entry
 *   for zip, over the whole gzip stream for tgz, where entries share one
 *   compressed stream), and the archive-wide inflation budget: all entries
 *   together may not produce more than `maxRatio` × the archive's own size
 *   (at least `ratioMinBytes`).
 * - zip, before any entry is inflated: entries whose bytes overlap in the
 *   file are refused (the construction of David Fifield's "A better zip
 *   bomb", where many central-directory entries share one compressed stream,
 *   each under the ratio limit), and so are declared sizes over the total
 *   limit or the inflation budget.
 * - `checkEntryName` rejects absolute paths and `..` traversal.
 *
 * Errors are ApiErrors with stable codes; a damaged archive is `corrupt_archive`.
 */
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import yauzl from 'yauzl';
import { BlobNotFoundError, BlobStoreUnavailableError, type ArchiveFormat } from '@voxfleet/storage';
import { ApiError } from '../errors.js';
import { fileSource, RangeReader, readHead, type ArchiveSource } from './archive-source.js';

export type { ArchiveFormat };

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'other';

export interface RawEntry {
  /** position in the archive, counting every entry (folders too) */
  index: number;
  /** the name as stored (not yet checked) */
  name: string;
  kind: EntryKind;
  /** declared uncompressed size */
  size: number;
  /** zip only: compressed size of this entry */
  compressedSize?: number;
  /** why the entry cannot be read (zip: encrypted, unknown compression method) */
  unreadable?: string;
  /** the entry's bytes; call at most once, before asking for the next entry */
  chunks(): AsyncIterable<Buffer>;
}

export interface ArchiveLimits {
  maxEntries: number;
  maxTotalBytes: number;
  /** per entry (the single-upload limit) */
  maxEntryBytes: number;
  maxRatio: number;
  ratioMinBytes: number;
}

/** Magic bytes of formats recognised inside an archive as "nested archives". */
export function sniffBytes(head: Uint8Array): ArchiveFormat | 'gzip-other' | 'bzip2' | 'xz' | '7z' | 'rar' | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && ((b[2] === 3 && b[3] === 4) || (b[2] === 5 && b[3] === 6) || (b[2] === 7 && b[3] === 8))) return 'zip';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'tgz';
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return 'tar';
  if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (b.length >= 6 && b[0] === 0xfd && b.toString('latin1', 1, 5) === '7zXZ') return 'xz';
  if (b.length >= 6 && b[0] === 0x37 && b[1] === 0x7a && b[2] === 0xbc && b[3] === 0xaf) return '7z';
  if (b.length >= 4 && b.toString('latin1', 0, 4) === 'Rar!') return 'rar';
  return null;
}

/** The archive format of a stored archive, from its first bytes; null when it is none we read. */
export async function sniffArchive(source: ArchiveSource | string): Promise<ArchiveFormat | null> {
  const kind = sniffBytes(await readHead(asSource(source), 512));
  return kind === 'zip' || kind === 'tar' || kind === 'tgz' ? kind : null;
}

/** A path is a local file (tools and tests); the gateway passes its blob store's source. */
const asSource = (source: ArchiveSource | string): ArchiveSource => (typeof source === 'string' ? fileSource(source) : source);

/** A damaged archive's error for the client; the blob store's own failures stay what they are (503, not the client's fault). */
export function corrupt(err: unknown): ApiError | BlobStoreUnavailableError | BlobNotFoundError {
  if (err instanceof ApiError || err instanceof BlobStoreUnavailableError || err instanceof BlobNotFoundError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ApiError(422, 'corrupt_archive', `the archive is damaged or truncated: ${msg}`);
}

/**
 * A safe relative path for an entry name, or an ApiError: absolute paths
 * (`/x`, `C:/x`, `\\host`) and `..` segments are refused; `./` and empty
 * segments are dropped. Backslashes are separators (Windows-made zips).
 */
export function checkEntryName(name: string): string {
  const n = name.replace(/\\/g, '/');
  if (n.includes('\0')) throw new ApiError(422, 'invalid_entry_name', `entry name contains a NUL byte: ${JSON.stringify(name)}`);
  if (n.startsWith('/') || /^[A-Za-z]:/.test(n)) throw new ApiError(422, 'absolute_path', `entry "${name}" has an absolute path; archives must hold relative paths only`);
  const parts = n.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ApiError(422, 'path_traversal', `entry "${name}" points outside the archive ("..")`);
  if (parts.length === 0) throw new ApiError(422, 'invalid_entry_name', `entry name ${JSON.stringify(name)} is empty`);
  const joined = parts.join('/');
  if (Buffer.byteLength(joined) > 1024) throw new ApiError(422, 'invalid_entry_name', `entry name is longer than 1024 bytes: "${joined.slice(0, 80)}…"`);
  return joined;
}

/** Shared state of one pass over an archive: total bytes and (tgz) compressed bytes consumed. */
export class ArchiveBudget {
  totalBytes = 0;
  compressedIn = 0;
  /** size of the archive file (set by readEntries) */
  archiveBytes = 0;
  constructor(
    readonly limits: ArchiveLimits,
    readonly format: ArchiveFormat,
  ) {}

  /** Most bytes all entries together may inflate to: `maxRatio` × the archive's size, at least `ratioMinBytes`. */
  get maxInflatedBytes(): number {
    return Math.max(this.limits.maxRatio * this.archiveBytes, this.limits.ratioMinBytes);
  }

  inflationError(): ApiError {
    return new ApiError(
      422,
      'archive_bomb',
      `the archive's entries expand to more than ${this.limits.maxRatio}× the archive's own ${this.archiveBytes} bytes (a compression bomb?)`,
    );
  }
}

/**
 * Counts one entry's bytes while they stream and stops the stream (with an
 * ApiError) as soon as a limit is crossed, whatever the headers claimed.
 */
export class EntryGuard {
  bytes = 0;
  /** tgz: compressed bytes consumed when this entry started */
  private readonly startCompressed: number;
  constructor(
    private readonly budget: ArchiveBudget,
    private readonly path: string,
    private readonly compressedSize: number | undefined,
  ) {
    this.startCompressed = budget.compressedIn;
  }

  add(n: number): void {
    const { limits } = this.budget;
    this.bytes += n;
    this.budget.totalBytes += n;
    if (this.bytes > limits.maxEntryBytes) {
      throw new ApiError(413, 'entry_too_large', `entry "${this.path}" is larger than the per-file limit of ${limits.maxEntryBytes} bytes`);
    }
    if (this.budget.totalBytes > limits.maxTotalBytes) throw totalTooLarge(limits);
    if (this.budget.totalBytes > this.budget.maxInflatedBytes) throw this.budget.inflationError();
    if (this.compressedSize !== undefined) {
      if (this.bytes > limits.ratioMinBytes && this.bytes / Math.max(1, this.compressedSize) > limits.maxRatio) {
        throw new ApiError(422, 'compression_bomb', `entry "${this.path}" expands more than ${limits.maxRatio}× (a compression bomb?)`);
      }
    } else if (this.budget.format === 'tgz') {
      // Entries share one gzip stream: the compressed bytes consumed while this entry streams stand
      // for its compressed size (within the read-ahead, hence the floor), and the whole stream is checked too.
      const consumed = Math.max(TGZ_SLACK, this.budget.compressedIn - this.startCompressed);
      if (this.bytes > limits.ratioMinBytes && this.bytes / consumed > limits.maxRatio) {
        throw new ApiError(422, 'compression_bomb', `entry "${this.path}" expands more than ${limits.maxRatio}× (a compression bomb?)`);
      }
      const out = this.budget.totalBytes;
      if (out > limits.ratioMinBytes && out / Math.max(1, this.budget.compressedIn) > limits.maxRatio) {
        throw new ApiError(422, 'compression_bomb', `the gzip stream expands more than ${limits.maxRatio}× (at entry "${this.path}"; a compression bomb?)`);
      }
    }
  }

  /** Passes `source` through, counting; throws on the first chunk over a limit. */
  async *pass(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.add(chunk.length);
      yield chunk;
    }
  }
}

function totalTooLarge(limits: ArchiveLimits): ApiError {
  return new ApiError(413, 'archive_too_large_uncompressed', `the archive expands to more than the limit of ${limits.maxTotalBytes} bytes`);
}

/** Counts bytes read from the file (compressed side of a tgz). */
function countingStream(budget: ArchiveBudget): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      budget.compressedIn += chunk.length;
      cb(null, chunk);
    },
  });
}

const S_IFMT = 0o170000;
/** Read-ahead between the file and the tar parser (tgz), bytes. */
const TGZ_READ_CHUNK = 32 * 1024;
const TGZ_SLACK = 64 * 1024;

function zipKind(entry: yauzl.Entry, name: string): EntryKind {
  // Unix-made zips keep st_mode in the high 16 bits of the external attributes.
  const madeOnUnix = entry.versionMadeBy >> 8 === 3 || entry.versionMadeBy >> 8 === 19;
  const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (madeOnUnix && mode !== 0) {
    if (mode === 0o120000) return 'symlink';
    if (mode === 0o040000) return 'directory';
    if (mode === 0o020000 || mode === 0o060000 || mode === 0o010000 || mode === 0o140000) return 'device';
  }
  if (name.endsWith('/') || name.endsWith('\\')) return 'directory';
  return 'file';
}

function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise<yauzl.Entry | null>((resolve, reject) => {
    const onEntry = (e: yauzl.Entry): void => {
      cleanup();
      resolve(e);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(corrupt(err));
    };
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

const zipName = (entry: yauzl.Entry): string => yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);

/**
 * The checks of a zip's layout, from its headers, before any entry is
 * inflated: each entry's bytes (local header, name, extra field, compressed
 * data) must lie apart from every other entry's, and the declared sizes must
 * fit the total limit and the inflation budget.
 */
async function checkZipLayout(zip: yauzl.ZipFile, entries: readonly yauzl.Entry[], budget: ArchiveBudget): Promise<void> {
  const spans: Array<{ start: number; end: number; entry: yauzl.Entry }> = [];
  let declared = 0;
  for (const entry of entries) {
    const header = await new Promise<{ fileDataStart: number }>((resolve, reject) =>
      zip.readLocalFileHeader(entry, { minimal: true }, (err, h) => (err ? reject(corrupt(err)) : resolve(h))),
    );
    spans.push({ start: entry.relativeOffsetOfLocalHeader, end: header.fileDataStart + entry.compressedSize, entry });
    declared += entry.uncompressedSize;
  }
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.start < prev.end) {
      throw new ApiError(
        422,
        'overlapping_entries',
        `zip entries "${zipName(prev.entry)}" and "${zipName(cur.entry)}" overlap in the file (entries sharing their compressed data: a zip bomb?)`,
      );
    }
  }
  if (declared > budget.limits.maxTotalBytes) throw totalTooLarge(budget.limits);
  if (declared > budget.maxInflatedBytes) throw budget.inflationError();
}

async function* zipEntries(source: ArchiveSource, budget: ArchiveBudget): AsyncGenerator<RawEntry> {
  let zip: yauzl.ZipFile;
  try {
    const size = await source.size();
    const reader = new RangeReader(source, size);
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromRandomAccessReader(reader, size, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true, strictFileNames: false }, (err, z) =>
        err ? reject(err) : resolve(z),
      ),
    );
  } catch (err) {
    throw corrupt(err);
  }
  try {
    budget.archiveBytes = zip.fileSize;
    // The whole central directory first (one past the entry limit at most: the caller refuses that many).
    const entries: yauzl.Entry[] = [];
    for (let e = await nextZipEntry(zip); e; e = entries.length > budget.limits.maxEntries ? null : await nextZipEntry(zip)) entries.push(e);
    if (entries.length <= budget.limits.maxEntries) await checkZipLayout(zip, entries, budget);
    for (const [index, entry] of entries.entries()) {
      const name = zipName(entry);
      const unreadable = entry.isEncrypted() ? 'encrypted entry' : !entry.canDecodeFileData() ? `unsupported compression method ${entry.compressionMethod}` : undefined;
      let opened: Readable | undefined;
      yield {
        index,
        name,
        kind: zipKind(entry, name),
        size: entry.uncompressedSize,
        compressedSize: entry.compressedSize,
        ...(unreadable ? { unreadable } : {}),
        chunks: () => ({
          async *[Symbol.asyncIterator]() {
            try {
              opened = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
              for await (const c of opened) yield c as Buffer;
            } catch (err) {
              throw corrupt(err);
            } finally {
              opened?.destroy();
            }
          },
        }),
      };
    }
  } finally {
    zip.close();
  }
}

function tarKind(type: string | null | undefined): EntryKind {
  switch (type) {
    case 'file':
    case 'contiguous-file':
    case undefined:
    case null:
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return 'device';
    default:
      return 'other';
  }
}

async function* tarEntries(source: ArchiveSource, budget: ArchiveBudget): AsyncGenerator<RawEntry> {
  budget.archiveBytes = await source.size();
  const file = await source.range(0, budget.archiveBytes, budget.format === 'tgz' ? TGZ_READ_CHUNK : 256 * 1024);
  const extract = tar.extract();
  const errored = (err: Error): void => {
    extract.destroy(err);
  };
  file.on('error', errored);
  if (budget.format === 'tgz') {
    const gunzip = createGunzip();
    gunzip.on('error', errored);
    file.pipe(countingStream(budget)).pipe(gunzip).pipe(extract as unknown as NodeJS.WritableStream);
  } else {
    file.pipe(extract as unknown as NodeJS.WritableStream);
  }
  let index = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      let consumed = false;
      yield {
        index: index++,
        name: h.name,
        kind: tarKind(h.type),
        size: h.size ?? 0,
        chunks: () => {
          consumed = true;
          return (async function* () {
            try {
              for await (const c of entry as AsyncIterable<Buffer>) yield c;
            } catch (err) {
              throw corrupt(err);
            }
          })();
        },
      };
      // Whatever the consumer did not read must still be read to reach the next header.
      if (!consumed) for await (const _ of entry as AsyncIterable<Buffer>) void _;
    }
  } catch (err) {
    throw corrupt(err);
  } finally {
    file.destroy();
    extract.destroy();
  }
}

/** The entries of a stored archive, in order. Stop early with `return()` (for-await `break`). */
export function readEntries(source: ArchiveSource | string, budget: ArchiveBudget): AsyncGenerator<RawEntry> {
  const s = asSource(source);
  return budget.format === 'zip' ? zipEntries(s, budget) : tarEntries(s, budget);
}
