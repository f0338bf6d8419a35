/**
 * Installs one catalog model: download (or `--from` a local archive), verify,
 * unpack into a temporary folder beside the target, check the files the
 * catalog expects, then rename it into place. Nothing is installed unless the
 * bytes match a checksum (the catalog's, or the user's `--sha256`), or the
 * user said `--trust`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CATALOG, findModel, requiredFiles, verificationOf, type CatalogEntry, type ModelFile } from './catalog.js';
import { download, DownloadError } from './download.js';
import { createProgress, formatBytes, type ProgressOut } from './progress.js';
import { unpackTarBz2, UnpackError, type Decompressor, type UnpackedFile } from './unpack.js';

export class FetchError extends Error {
  override readonly name = 'FetchError';
  /** 2: the command line was wrong; 1: anything else */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface FetchOptions {
  /** catalog name or alias */
  model: string;
  /** target directory (default models/<name>) */
  out?: string;
  /** install this local archive instead of downloading */
  from?: string;
  /** the archive's SHA-256 the user vouches for; replaces the catalog's checksums */
  sha256?: string;
  /** install even where no checksum is known */
  trust?: boolean;
  /** replace an existing target directory */
  force?: boolean;
  /** keep the downloaded archive in the cache after installing */
  keepArchive?: boolean;
  catalog?: readonly CatalogEntry[];
  /** where archives are fetched from instead of the release (a mirror; tests) */
  baseUrl?: string;
  /** where downloads (and their .part files) live, default var/downloads */
  cacheDir?: string;
  cwd?: string;
  decompressor?: Decompressor;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
  idleTimeoutMs?: number;
  maxResumes?: number;
  /** human-readable lines (stdout) */
  log?: (line: string) => void;
  /** where the progress bars go (stderr) */
  progressOut?: ProgressOut;
}

export type VerifiedBy = 'archive sha256' | 'archive sha256 + file sha256s' | 'file sha256s' | 'user sha256' | 'unverified (--trust)';

export interface FetchReport {
  name: string;
  dir: string;
  status: 'installed' | 'already installed';
  archive: string;
  sha256: string;
  verifiedBy: VerifiedBy;
  files: UnpackedFile[];
  decompressor?: string;
}

interface InstallRecord {
  name: string;
  archive: string;
  url: string;
  sha256: string;
  verifiedBy: VerifiedBy;
  files: UnpackedFile[];
}

export const INSTALL_RECORD = 'install.json';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Temp folders in use, removed if the process is interrupted. */
const live = new Set<string>();
export function removeLiveTempDirs(): void {
  for (const d of live) rmSync(d, { recursive: true, force: true });
  live.clear();
}

async function sha256File(path: string, onProgress?: (done: number) => void): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    const b = chunk as Buffer;
    h.update(b);
    bytes += b.length;
    onProgress?.(bytes);
  }
  return { sha256: h.digest('hex'), bytes };
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch {
    return null;
  }
}

function sizeText(bytes: number | null, entry: CatalogEntry): string {
  return bytes !== null ? `${bytes.toLocaleString('en-US')} bytes, ${formatBytes(bytes)}` : `size not pinned; unpacks to about ${entry.archive.unpacked}`;
}

function howToGetIt(entry: CatalogEntry, url: string): string {
  const a = entry.archive;
  return [
    `On a machine with internet, download`,
    `  ${url}`,
    `  (${sizeText(a.bytes, entry)}${a.sha256 ? `; sha256 ${a.sha256}` : ''})`,
    `copy it to this machine and install it with`,
    `  npm run models:fetch -- ${entry.name} --from /path/to/${a.file}`,
  ].join('\n');
}

/** An existing install of the same archive with all expected files present. */
async function sameInstall(dir: string, entry: CatalogEntry, expectedSha: string | null): Promise<InstallRecord | null> {
  try {
    const rec = JSON.parse(await readFile(join(dir, INSTALL_RECORD), 'utf8')) as InstallRecord;
    if (rec.name !== entry.name || rec.archive !== entry.archive.file) return null;
    if (expectedSha !== null && rec.sha256 !== expectedSha) return null;
    for (const f of requiredFiles(entry)) {
      const s = await statOrNull(join(dir, f.path));
      const got = rec.files.find((x) => x.path === f.path);
      if (!s?.isFile() || !got || s.size !== got.bytes) return null;
    }
    return rec;
  } catch {
    return null;
  }
}

function checkFiles(entry: CatalogEntry, files: UnpackedFile[], useCatalogHashes: boolean): void {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const problems: string[] = [];
  for (const want of requiredFiles(entry)) {
    const got = byPath.get(want.path);
    if (!got) {
      problems.push(`missing ${want.path}`);
      continue;
    }
    if (!useCatalogHashes) continue;
    problems.push(...fileMismatch(want, got));
  }
  if (problems.length > 0) {
    throw new FetchError(`the archive does not hold the files ${entry.name} needs: ${problems.join('; ')}. Nothing was installed.`);
  }
}

function fileMismatch(want: ModelFile, got: UnpackedFile): string[] {
  const out: string[] = [];
  if (want.bytes !== undefined && want.bytes !== got.bytes) out.push(`${want.path} is ${got.bytes} bytes, expected ${want.bytes}`);
  if (want.sha256 !== undefined && want.sha256 !== got.sha256) out.push(`${want.path} has sha256 ${got.sha256}, expected ${want.sha256}`);
  return out;
}

export async function fetchModel(opts: FetchOptions): Promise<FetchReport> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const progressOut = opts.progressOut ?? process.stderr;
  const catalog = opts.catalog ?? CATALOG;
  const cwd = opts.cwd ?? process.cwd();

  const entry = findModel(catalog, opts.model);
  if (!entry) {
    throw new FetchError(`unknown model "${opts.model}". Known: ${catalog.map((e) => e.name).join(', ')} (npm run models:fetch -- --list)`, 2);
  }
  if (opts.sha256 !== undefined && !HEX64.test(opts.sha256)) throw new FetchError(`--sha256 needs 64 hex digits, got "${opts.sha256}"`, 2);
  const userSha = opts.sha256?.toLowerCase() ?? null;
  const level = verificationOf(entry);
  const expectedSha = userSha ?? entry.archive.sha256;
  const useCatalogFileHashes = userSha === null;
  const expectedBytes = userSha === null ? entry.archive.bytes : null;
  const base = (opts.baseUrl ?? dirname(entry.archive.url)).replace(/\/+$/, '');
  const url = `${base}/${entry.archive.file}`;

  let verifiedBy: VerifiedBy;
  if (userSha !== null) verifiedBy = 'user sha256';
  else if (level === 'archive+files') verifiedBy = 'archive sha256 + file sha256s';
  else if (level === 'archive') verifiedBy = 'archive sha256';
  else if (level === 'files') verifiedBy = 'file sha256s';
  else if (opts.trust) verifiedBy = 'unverified (--trust)';
  else {
    throw new FetchError(
      [
        `no published checksum is known for ${entry.name} (${entry.archive.file}), so it cannot be verified and is not installed.`,
        `Check the file's SHA-256 against a source you trust and pass --sha256 <hex>, or pass --trust to install it unverified.`,
        `  url: ${url}`,
      ].join('\n'),
    );
  }
  if (entry.serving === 'coming') log(`note: VoxFleet cannot serve ${entry.family} models yet (next issue); installing the files only.`);

  const target = resolve(cwd, opts.out ?? join('models', entry.name));
  const existing = await statOrNull(target);
  if (existing) {
    const rec = existing.isDirectory() ? await sameInstall(target, entry, expectedSha) : null;
    if (rec && !opts.force) {
      log(`${entry.name} is already installed in ${target} (${rec.archive}, sha256 ${rec.sha256}); --force reinstalls it.`);
      return { name: entry.name, dir: target, status: 'already installed', archive: rec.archive, sha256: rec.sha256, verifiedBy: rec.verifiedBy, files: rec.files };
    }
    if (!opts.force) {
      throw new FetchError(`${target} already exists and is not this install of ${entry.name}. Pass --force to replace it (it stays until the new install is verified), or --out <dir> to install elsewhere.`);
    }
  }

  // 1. the archive: a local one (--from) or the download cache
  let archivePath: string;
  let actual: { sha256: string; bytes: number };
  let downloaded = false;
  if (opts.from !== undefined) {
    archivePath = resolve(cwd, opts.from);
    const s = await statOrNull(archivePath);
    if (!s?.isFile()) throw new FetchError(`--from ${opts.from}: no such file`, 2);
    log(`checking ${archivePath}`);
    const p = createProgress('sha256  ', progressOut);
    actual = await sha256File(archivePath, (d) => p.update(d, s.size));
    p.finish();
  } else {
    const cache = resolve(cwd, opts.cacheDir ?? join('var', 'downloads'));
    await mkdir(cache, { recursive: true });
    archivePath = join(cache, entry.archive.file);
    const cached = await statOrNull(archivePath);
    let reuse: { sha256: string; bytes: number } | null = null;
    if (cached?.isFile()) {
      const p = createProgress('sha256  ', progressOut);
      const h = await sha256File(archivePath, (d) => p.update(d, cached.size));
      p.finish();
      if (expectedSha === null || h.sha256 === expectedSha) reuse = h;
      else await rm(archivePath, { force: true });
    }
    if (reuse) {
      log(`using the archive downloaded earlier: ${archivePath}`);
      actual = reuse;
    } else {
      log(`downloading ${url}\n  (${sizeText(entry.archive.bytes, entry)}) → ${archivePath}`);
      const p = createProgress('download', progressOut);
      try {
        const r = await download({
          url,
          dest: archivePath,
          expectedBytes,
          connectTimeoutMs: opts.connectTimeoutMs,
          responseTimeoutMs: opts.responseTimeoutMs,
          idleTimeoutMs: opts.idleTimeoutMs,
          maxResumes: opts.maxResumes,
          onProgress: (d, t, start) => p.update(d, t, start),
          onNote: (m) => log(`note: ${m}`),
        });
        p.finish();
        if (r.keptFromEarlierRun > 0) log(`resumed: ${r.keptFromEarlierRun} bytes were already downloaded`);
        actual = { sha256: r.sha256, bytes: r.bytes };
        downloaded = true;
      } catch (e) {
        p.finish();
        if (e instanceof DownloadError) {
          if (e.kind === 'unreachable' || e.kind === 'timeout') {
            throw new FetchError(`cannot download ${entry.name}: ${e.message}\n  url: ${e.url}\n${howToGetIt(entry, url)}`);
          }
          if (e.kind === 'cut') throw new FetchError(`download of ${entry.name} interrupted: ${e.message}\n  url: ${e.url}`);
          throw new FetchError(`cannot download ${entry.name}: ${e.message}\n  url: ${e.url}\n${howToGetIt(entry, url)}`);
        }
        throw e;
      }
    }
  }

  // 2. the archive's checksum and size
  const dropDownload = async () => {
    if (opts.from === undefined) await rm(archivePath, { force: true });
  };
  if (expectedBytes !== null && actual.bytes !== expectedBytes) {
    await dropDownload();
    throw new FetchError(`${archivePath} is ${actual.bytes} bytes; ${entry.archive.file} is ${expectedBytes} bytes (${entry.archive.source}). Nothing was installed.`);
  }
  if (expectedSha !== null && actual.sha256 !== expectedSha) {
    await dropDownload();
    const from = userSha !== null ? 'the --sha256 you gave' : `the catalog (${entry.archive.source})`;
    throw new FetchError(
      `checksum mismatch for ${entry.archive.file}: sha256 is ${actual.sha256}, ${from} says ${expectedSha}. ` +
        `${opts.from === undefined ? 'The download was deleted. ' : ''}Nothing was installed.`,
    );
  }
  if (expectedSha !== null) log(`sha256 ok: ${actual.sha256}`);
  else log(`sha256 of the archive: ${actual.sha256} (${level === 'files' ? 'no archive checksum is pinned; the files are checked one by one' : 'not verified: --trust'})`);

  // 3. unpack beside the target, check, rename into place
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  live.add(tmp);
  try {
    log(`unpacking into ${tmp}`);
    const p = createProgress('unpack  ', progressOut);
    const unpacked = await unpackTarBz2({
      archive: archivePath,
      dest: tmp,
      topDir: entry.archive.topDir,
      decompressor: opts.decompressor,
      onProgress: (d, t) => p.update(d, t),
    });
    p.finish();
    try {
      checkFiles(entry, unpacked.files, useCatalogFileHashes);
    } catch (e) {
      // without an archive checksum a bad file means a bad download: do not reuse it
      if (expectedSha === null) await dropDownload();
      throw e;
    }
    const record: InstallRecord = { name: entry.name, archive: entry.archive.file, url, sha256: actual.sha256, verifiedBy, files: unpacked.files };
    await writeFile(join(tmp, INSTALL_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    // models/<name> sits in the repository: the installed files must never be committed
    await writeFile(join(tmp, '.gitignore'), '# installed by npm run models:fetch (large, reproducible): not part of the repository\n*\n');

    if (existing) {
      const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
      await rename(target, old);
      try {
        await rename(tmp, target);
      } catch (e) {
        await rename(old, target);
        throw e;
      }
      live.delete(tmp);
      await rm(old, { recursive: true, force: true });
    } else {
      try {
        await rename(tmp, target);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new FetchError(`${target} appeared while unpacking; nothing was changed`);
        throw e;
      }
      live.delete(tmp);
    }
    if (downloaded && !opts.keepArchive) await rm(archivePath, { force: true });
    log(`installed ${entry.name} in ${target} (${unpacked.files.length} files; ${verifiedBy}; unpacked with ${unpacked.decompressor})`);
    return { name: entry.name, dir: target, status: 'installed', archive: entry.archive.file, sha256: actual.sha256, verifiedBy, files: unpacked.files, decompressor: unpacked.decompressor };
  } catch (e) {
    if (e instanceof UnpackError) {
      if (expectedSha === null) await dropDownload();
      throw new FetchError(`${e.message}. Nothing was installed.`);
    }
    throw e;
  } finally {
    if (live.has(tmp)) {
      live.delete(tmp);
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
