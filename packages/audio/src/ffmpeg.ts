/**
 * Which ffmpeg binary to run. This is the only place that decides it.
 *
 * Precedence: `opts.ffmpegPath` → env `VOXFLEET_FFMPEG_PATH` → the static binary shipped
 * by `@ffmpeg-installer/ffmpeg` (so no system ffmpeg is required). The value `system`
 * (in either place) means "`ffmpeg` from PATH".
 */
import { createRequire } from 'node:module';
import { AudioError } from './errors.js';

export const FFMPEG_PATH_ENV = 'VOXFLEET_FFMPEG_PATH';

/** Normalises a configured value: trims it and maps `system` to `ffmpeg` (PATH lookup). */
export function normalizeFfmpegPath(value: string): string {
  const trimmed = value.trim();
  return trimmed === 'system' ? 'ffmpeg' : trimmed;
}

/** The binary requested through `VOXFLEET_FFMPEG_PATH`, or undefined when unset/blank. */
export function ffmpegPathFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env[FFMPEG_PATH_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  return normalizeFfmpegPath(raw);
}

let bundled: string | undefined;

/** Path of the static ffmpeg from `@ffmpeg-installer/ffmpeg` (loaded lazily, cached). */
export function bundledFfmpegPath(): string {
  if (bundled !== undefined) return bundled;
  try {
    // Loaded lazily: the installer throws (a string, not an Error) on unsupported platforms,
    // which must not break callers that configured another binary.
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path?: unknown };
    if (typeof installer.path !== 'string' || installer.path === '') throw new Error('no path exported');
    bundled = installer.path;
    return bundled;
  } catch (cause) {
    throw new AudioError(
      'io',
      `bundled ffmpeg is unavailable (${String(cause)}); set ${FFMPEG_PATH_ENV}=system or pass ffmpegPath`,
      { cause },
    );
  }
}

export function resolveFfmpegPath(opts: { ffmpegPath?: string | undefined } = {}): string {
  if (opts.ffmpegPath !== undefined && opts.ffmpegPath.trim() !== '') return normalizeFfmpegPath(opts.ffmpegPath);
  return ffmpegPathFromEnv() ?? bundledFfmpegPath();
}
