import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AudioError,
  FFMPEG_PATH_ENV,
  bundledFfmpegPath,
  decodeFile,
  ffmpegPathFromEnv,
  resolveFfmpegPath,
} from '../src/index.js';
import { ORIGINAL_WAV } from './helpers.js';

const systemFfmpeg = ['/usr/bin/ffmpeg', '/usr/local/bin/ffmpeg'].some((p) => existsSync(p));

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('resolveFfmpegPath', () => {
  it('defaults to the bundled @ffmpeg-installer binary', () => {
    vi.stubEnv(FFMPEG_PATH_ENV, '');
    const expected = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    expect(resolveFfmpegPath()).toBe(expected);
    expect(bundledFfmpegPath()).toBe(expected);
    expect(existsSync(expected)).toBe(true);
  });

  it('reads VOXFLEET_FFMPEG_PATH; "system" means ffmpeg on PATH', () => {
    expect(ffmpegPathFromEnv({ [FFMPEG_PATH_ENV]: 'system' })).toBe('ffmpeg');
    expect(ffmpegPathFromEnv({ [FFMPEG_PATH_ENV]: ' /opt/ffmpeg/bin/ffmpeg ' })).toBe('/opt/ffmpeg/bin/ffmpeg');
    expect(ffmpegPathFromEnv({ [FFMPEG_PATH_ENV]: '  ' })).toBeUndefined();
    expect(ffmpegPathFromEnv({})).toBeUndefined();

    vi.stubEnv(FFMPEG_PATH_ENV, 'system');
    expect(resolveFfmpegPath()).toBe('ffmpeg');
  });

  it('an explicit option wins over the environment', () => {
    vi.stubEnv(FFMPEG_PATH_ENV, '/from/env/ffmpeg');
    expect(resolveFfmpegPath({ ffmpegPath: '/explicit/ffmpeg' })).toBe('/explicit/ffmpeg');
    expect(resolveFfmpegPath({ ffmpegPath: 'system' })).toBe('ffmpeg');
    expect(resolveFfmpegPath({})).toBe('/from/env/ffmpeg');
  });
});

describe('running a configured binary', () => {
  // First ffmpeg use in this process: fails inside fluent-ffmpeg's capability probe.
  it('a missing binary is an io error, not a crash', async () => {
    const err = await decodeFile(ORIGINAL_WAV, { ffmpegPath: '/nonexistent/ffmpeg', wavFastPath: false }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AudioError);
    expect((err as AudioError).code).toBe('io');
  });

  it.skipIf(!systemFfmpeg)('"system" runs ffmpeg from PATH, concurrently with the bundled one', async () => {
    const [system, bundled] = await Promise.all([
      decodeFile(ORIGINAL_WAV, { ffmpegPath: 'system', wavFastPath: false }),
      decodeFile(ORIGINAL_WAV, { wavFastPath: false }),
    ]);
    expect(system.length).toBe(114816);
    expect(Array.from(system)).toEqual(Array.from(bundled));
  });

  it('env override is honoured by decode', async () => {
    vi.stubEnv(FFMPEG_PATH_ENV, '/nonexistent/env-ffmpeg');
    const err = await decodeFile(ORIGINAL_WAV, { wavFastPath: false }).catch((e: unknown) => e);
    expect((err as AudioError).code).toBe('io');
    // The fast path needs no ffmpeg at all.
    expect((await decodeFile(ORIGINAL_WAV)).length).toBe(114816);
  });
});
