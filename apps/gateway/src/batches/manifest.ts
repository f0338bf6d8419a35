/**
 * The first pass over a stored archive: every entry is read as a stream
 * (limits and the bomb guard enforced on the real bytes), its name checked,
 * audio entries hashed (MD5), sidecar references collected. It writes
 * nothing anywhere, so a rejected archive leaves nothing behind; the second
 * pass (ingest.ts) only runs on an archive that passed this one.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { ApiError } from '../errors.js';
import { ArchiveBudget, checkEntryName, EntryGuard, readEntries, sniffBytes, type ArchiveFormat, type ArchiveLimits } from './archive.js';
import type { ArchiveSource } from './archive-source.js';

/** Extensions taken as audio (anything ffmpeg cannot decode still fails at probe time, per entry). */
export const AUDIO_EXTENSIONS = new Set(['wav', 'wave', 'mp3', 'flac', 'ogg', 'oga', 'opus', 'm4a', 'mp4', 'aac', 'webm', 'mka', 'aif', 'aiff', 'caf', 'amr', 'wma']);
const ARCHIVE_EXTENSIONS = new Set(['zip', 'tar', 'tgz', 'gz', 'bz2', 'xz', '7z', 'rar', 'zst', 'tbz2', 'txz']);
/** Largest sidecar reference read (bigger ones are listed as skipped). */
export const MAX_REFERENCE_BYTES = 64 * 1024;

export interface ManifestEntry {
  /** raw entry index in the archive (the second pass matches on it) */
  index: number;
  path: string;
  bytes: number;
  kind: 'audio' | 'skipped';
  reason?: string;
  md5?: string;
  reference?: string;
}

export interface Manifest {
  format: ArchiveFormat;
  entries: ManifestEntry[];
  audio: number;
  skipped: number;
  totalBytes: number;
}

const ext = (p: string): string => posix.extname(p).slice(1).toLowerCase();
const stem = (p: string): string => p.slice(0, p.length - posix.extname(p).length);

export async function inspectArchive(source: ArchiveSource | string, format: ArchiveFormat, limits: ArchiveLimits, opts: { sidecar: boolean }): Promise<Manifest> {
  const budget = new ArchiveBudget(limits, format);
  const entries: ManifestEntry[] = [];
  const texts = new Map<string, ManifestEntry & { text?: string }>();
  const seen = new Set<string>();
  let count = 0;
  for await (const raw of readEntries(source, budget)) {
    if (++count > limits.maxEntries) throw new ApiError(413, 'too_many_entries', `the archive has more than ${limits.maxEntries} entries`);
    const name = checkEntryName(raw.name);
    if (raw.kind === 'symlink' || raw.kind === 'hardlink') {
      throw new ApiError(422, 'link_entry', `entry "${name}" is a ${raw.kind === 'symlink' ? 'symbolic' : 'hard'} link; links are not accepted in archives`);
    }
    if (raw.kind === 'device' || raw.kind === 'other') throw new ApiError(422, 'special_entry', `entry "${name}" is not a regular file or folder`);
    if (raw.kind === 'directory') continue;
    // Cheap checks on the declared sizes first; the guard checks the real bytes below.
    if (raw.size > limits.maxEntryBytes) throw new ApiError(413, 'entry_too_large', `entry "${name}" is larger than the per-file limit of ${limits.maxEntryBytes} bytes`);
    if (raw.compressedSize !== undefined && raw.size > limits.ratioMinBytes && raw.size / Math.max(1, raw.compressedSize) > limits.maxRatio) {
      throw new ApiError(422, 'compression_bomb', `entry "${name}" expands more than ${limits.maxRatio}× (a compression bomb?)`);
    }

    const entry: ManifestEntry & { text?: string } = { index: raw.index, path: name, bytes: raw.size, kind: 'skipped' };
    entries.push(entry);
    if (seen.has(name)) {
      entry.reason = 'duplicate path in the archive (the first one is used)';
      if (raw.kind === 'file' && !raw.unreadable) for await (const _ of new EntryGuard(budget, name, raw.compressedSize).pass(raw.chunks())) void _;
      continue;
    }
    seen.add(name);
    const base = posix.basename(name);
    const e = ext(name);
    if (raw.unreadable) {
      entry.reason = `cannot be read: ${raw.unreadable}`;
      continue;
    }
    const guard = new EntryGuard(budget, name, raw.compressedSize);
    const hash = createHash('md5');
    let head: Buffer | undefined;
    const keepText = opts.sidecar && e === 'txt' && raw.size <= MAX_REFERENCE_BYTES;
    const textParts: Buffer[] = [];
    for await (const chunk of guard.pass(raw.chunks())) {
      hash.update(chunk);
      if (!head) head = chunk.subarray(0, 512);
      else if (head.length < 512) head = Buffer.concat([head, chunk.subarray(0, 512 - head.length)]);
      if (keepText && guard.bytes <= MAX_REFERENCE_BYTES) textParts.push(chunk);
    }
    entry.bytes = guard.bytes;
    const nested = head ? sniffBytes(head) : null;
    if (name.startsWith('__MACOSX/') || base.startsWith('._') || base === '.DS_Store' || base === 'Thumbs.db') {
      entry.reason = 'operating-system metadata';
    } else if (nested !== null || ARCHIVE_EXTENSIONS.has(e)) {
      entry.reason = 'nested archive (not extracted)';
    } else if (AUDIO_EXTENSIONS.has(e)) {
      if (guard.bytes === 0) entry.reason = 'empty file';
      else {
        entry.kind = 'audio';
        entry.md5 = hash.digest('hex');
      }
    } else if (e === 'txt' && opts.sidecar) {
      entry.reason = guard.bytes > MAX_REFERENCE_BYTES ? `reference text larger than ${MAX_REFERENCE_BYTES} bytes (ignored)` : 'no audio entry beside it';
      if (guard.bytes <= MAX_REFERENCE_BYTES) {
        entry.text = Buffer.concat(textParts).toString('utf8');
        texts.set(stem(name), entry);
      }
    } else {
      entry.reason = e === '' ? 'not an audio file' : `not an audio file (.${e})`;
    }
  }

  if (count === 0) throw new ApiError(400, 'empty_archive', 'the archive holds no entries');
  let audio = 0;
  for (const entry of entries) {
    if (entry.kind !== 'audio') continue;
    audio++;
    const side = texts.get(stem(entry.path));
    if (side?.text !== undefined) {
      entry.reference = side.text.trim();
      side.reason = `reference transcript for ${posix.basename(entry.path)}`;
    }
  }
  for (const side of texts.values()) delete side.text;
  if (audio === 0) {
    throw new ApiError(422, 'no_audio_entries', `the archive holds no audio files (${entries.length} other entries; audio is recognised by extension: ${[...AUDIO_EXTENSIONS].join(', ')})`);
  }
  return { format, entries, audio, skipped: entries.length - audio, totalBytes: budget.totalBytes };
}
