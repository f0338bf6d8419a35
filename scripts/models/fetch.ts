/**
 * npm run models:fetch -- <name|alias> [--out models/<name>] [--from <archive>]
 *                         [--sha256 <hex>] [--trust] [--force] [--keep-archive]
 * npm run models:fetch -- --list
 *
 * Downloads a supported model (catalog.ts), verifies it, unpacks it into
 * models/<name>. See scripts/models/README.md.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CATALOG, verificationOf, type CatalogEntry } from './catalog.js';
import { fetchModel, FetchError, removeLiveTempDirs } from './install.js';
import { formatBytes } from './progress.js';
import type { Decompressor } from './unpack.js';

const USAGE = `usage: npm run models:fetch -- <name|alias> [options]
       npm run models:fetch -- --list

options:
  --out <dir>          install into <dir> (default models/<name>)
  --from <archive>     install a .tar.bz2 you downloaded yourself (same checks)
  --sha256 <hex>       the archive's SHA-256 you checked; replaces the catalog's checksums
  --trust              install a model whose archive has no known checksum, unverified
  --force              replace an existing target directory
  --keep-archive       keep the download in var/downloads after installing
  --cache <dir>        where downloads and .part files go (default var/downloads)
  --base-url <url>     fetch archives from this mirror instead of the GitHub release
  --decompressor <d>   auto (default: bzip2 on PATH, else JavaScript) | system | js
  --connect-timeout <s> seconds to wait for a connection (default 5)
  --list               list the supported models
  -h, --help`;

export function listing(catalog: readonly CatalogEntry[]): string {
  const rows = catalog.map((e) => [
    e.name,
    e.serving === 'now' ? 'yes' : 'coming',
    verificationOf(e),
    e.archive.bytes !== null ? formatBytes(e.archive.bytes) : e.archive.unpacked === 'not stated' ? '?' : `~${e.archive.unpacked} unpacked`,
    Object.keys(e.files).join('+'),
    e.languages.join(' '),
  ]);
  const head = ['name', 'serves', 'verified by', 'archive', 'precision', 'languages'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Runs the command; returns the exit code (0 ok, 1 failed, 2 bad command line). */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        from: { type: 'string' },
        sha256: { type: 'string' },
        trust: { type: 'boolean' },
        force: { type: 'boolean' },
        'keep-archive': { type: 'boolean' },
        cache: { type: 'string' },
        'base-url': { type: 'string' },
        decompressor: { type: 'string' },
        'connect-timeout': { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (v.list) {
    process.stdout.write(`${listing(CATALOG)}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`error: ${positionals.length === 0 ? 'name a model' : `one model at a time (got ${positionals.join(', ')})`}\n${USAGE}\n`);
    return 2;
  }
  const dec = v.decompressor ?? 'auto';
  if (dec !== 'auto' && dec !== 'system' && dec !== 'js') {
    process.stderr.write(`error: --decompressor must be auto, system or js\n`);
    return 2;
  }
  let connectTimeoutMs: number | undefined;
  if (v['connect-timeout'] !== undefined) {
    const s = Number(v['connect-timeout']);
    if (!(s > 0 && s <= 600)) {
      process.stderr.write(`error: --connect-timeout must be a number of seconds in (0, 600]\n`);
      return 2;
    }
    connectTimeoutMs = s * 1000;
  }
  // npm runs scripts in the repository root; paths the user typed are relative to where they typed them
  const userCwd = process.env.INIT_CWD ?? process.cwd();
  const mine = (p: string | undefined) => (p === undefined ? undefined : resolve(userCwd, p));
  try {
    await fetchModel({
      model: positionals[0]!,
      out: mine(v.out),
      from: mine(v.from),
      sha256: v.sha256,
      trust: v.trust,
      force: v.force,
      keepArchive: v['keep-archive'],
      cacheDir: mine(v.cache),
      baseUrl: v['base-url'],
      decompressor: dec as Decompressor,
      connectTimeoutMs,
    });
    return 0;
  } catch (e) {
    if (e instanceof FetchError) {
      process.stderr.write(`error: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`error: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ''}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(arg)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const interrupted = () => {
    removeLiveTempDirs();
    process.stderr.write('\ninterrupted: a partial download stays in var/downloads/*.part and resumes next time\n');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
