/**
 * API keys (`Authorization: Bearer <key>`) and HTTP basic auth for the admin
 * UI. When no key is configured, the first start generates one and keeps it
 * in `<var>/api-key` (mode 0600) so restarts reuse it; the admin password
 * likewise in `<var>/admin-password`, and it is never an API key. Every
 * comparison is timing-safe (SHA-256 digests compared with timingSafeEqual,
 * every key compared on every check).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from './errors.js';

export interface LoadedKeys {
  keys: string[];
  /** set when the keys came from (or were just written to) the key file */
  file?: string;
  generated: boolean;
}

export const API_KEY_FILE = 'api-key';
export const ADMIN_PASSWORD_FILE = 'admin-password';

interface StoredSecret {
  value: string;
  file: string;
  generated: boolean;
}

/**
 * The secret kept in `<varDir>/<name>` (mode 0600), generated with `make` at
 * first start. Two processes starting together agree on one (the file is
 * created exclusively; the loser reads the winner's).
 */
async function storedSecret(varDir: string, name: string, make: () => string): Promise<StoredSecret> {
  const file = join(varDir, name);
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (value.length >= 16) return { value, file, generated: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(varDir, { recursive: true });
  const value = make();
  try {
    await writeFile(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process wrote it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { value: (await readFile(file, 'utf8')).trim(), file, generated: false };
    throw err;
  }
  await chmod(file, 0o600);
  return { value, file, generated: true };
}

export async function loadApiKeys(configured: string[], varDir: string): Promise<LoadedKeys> {
  if (configured.length > 0) return { keys: configured, generated: false };
  const s = await storedSecret(varDir, API_KEY_FILE, () => `vf_${randomBytes(24).toString('base64url')}`);
  return { keys: [s.value], file: s.file, generated: s.generated };
}

export interface AdminCredentials {
  user: string;
  password: string;
  /** set when the password came from (or was just written to) `<var>/admin-password` */
  file?: string;
  generated: boolean;
}

/**
 * Bull Board's password: `VOXFLEET_ADMIN_PASSWORD`, or one generated at first
 * start into `<varDir>/admin-password` (0600). Never an API key: a tenant's
 * key must not open the dashboard that shows every tenant's jobs, so a
 * configured password equal to an API key is refused.
 */
export async function loadAdminCredentials(user: string, configured: string, apiKeys: readonly string[], varDir: string): Promise<AdminCredentials> {
  const creds: AdminCredentials = configured
    ? { user, password: configured, generated: false }
    : await storedSecret(varDir, ADMIN_PASSWORD_FILE, () => randomBytes(18).toString('base64url')).then((s) => ({ user, password: s.value, file: s.file, generated: s.generated }));
  if (apiKeys.some((k) => safeEqual(k, creds.password))) {
    throw new Error(`the admin password (${creds.file ?? 'VOXFLEET_ADMIN_PASSWORD'}) is one of the API keys: give Bull Board a password of its own`);
  }
  return creds;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Short, stable, non-reversible id of an API key: jobs belong to the key that created them. */
export function ownerOf(key: string): string {
  return digest(key).toString('hex').slice(0, 16);
}

export class ApiKeyAuth {
  constructor(
    private readonly keys: string[],
    readonly enabled: boolean,
  ) {}

  /** Returns the caller's owner id, or throws a 401 ApiError. */
  check(authorization: string | undefined): string {
    if (!this.enabled) return '';
    const challenge = { 'WWW-Authenticate': 'Bearer realm="voxfleet"' };
    if (!authorization) throw new ApiError(401, 'unauthorized', 'missing API key: send "Authorization: Bearer <key>"', challenge);
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new ApiError(401, 'unauthorized', 'malformed Authorization header: expected "Bearer <key>"', challenge);
    const given = m[1]!;
    let ok = false;
    for (const k of this.keys) ok = safeEqual(given, k) || ok;
    if (!ok) throw new ApiError(401, 'unauthorized', 'invalid API key', challenge);
    return ownerOf(given);
  }
}

/** HTTP basic auth check (for Bull Board, which a browser opens). */
export function checkBasicAuth(authorization: string | undefined, user: string, password: string): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  if (at < 0) return false;
  const okUser = safeEqual(decoded.slice(0, at), user);
  const okPass = safeEqual(decoded.slice(at + 1), password);
  return okUser && okPass;
}
