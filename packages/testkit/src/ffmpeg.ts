/**
 * Test audio in other formats, made with the ffmpeg bundled by
 * `@ffmpeg-installer/ffmpeg` (the binary the decoders use by default), never
 * a system ffmpeg: a clean CI machine has none.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundledFfmpegPath } from '@voxfleet/audio';

const run = promisify(execFile);

/** Runs the bundled ffmpeg with `args` (quiet, never prompts, overwrites its output); rejects with ffmpeg's stderr on failure. */
export async function ffmpegEncode(args: string[]): Promise<void> {
  await run(bundledFfmpegPath(), ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], { maxBuffer: 16 * 1024 * 1024 });
}

/**
 * Encodes the audio file `input` with `codecArgs` (e.g. `['-c:a', 'libmp3lame', '-b:a', '64k']`)
 * into a temporary `.<ext>` file and returns its bytes (the file is removed).
 */
export async function encodeFile(input: string, ext: string, codecArgs: string[]): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'voxfleet-enc-'));
  try {
    const out = join(dir, `out.${ext}`);
    await ffmpegEncode(['-i', input, ...codecArgs, out]);
    return new Uint8Array(await readFile(out));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
