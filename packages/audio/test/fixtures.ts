import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ORIGINAL_WAV, ffmpegCli } from './helpers.js';

export interface Transcodes {
  mp3: string;
  flac: string;
  ogg: string;
  m4a: string;
  webm: string;
  wav44Stereo: string;
  wavF32: string;
  wavS24: string;
  wavAdpcm: string;
  videoOnly: string;
}

/** Transcodes the original clip into every format under test with one ffmpeg run. */
export async function makeTranscodes(dir: string): Promise<Transcodes> {
  const out = (name: string): string => path.join(dir, name);
  const files: Transcodes = {
    mp3: out('clip.mp3'),
    flac: out('clip.flac'),
    ogg: out('clip.ogg'),
    m4a: out('clip.m4a'),
    webm: out('clip.webm'),
    wav44Stereo: out('clip-44k-stereo.wav'),
    wavF32: out('clip-f32.wav'),
    wavS24: out('clip-s24.wav'),
    wavAdpcm: out('clip-adpcm.wav'),
    videoOnly: out('video-only.mp4'),
  };
  const audio = (args: string[], file: string): string[] => ['-map', '0:a', ...args, file];
  await ffmpegCli([
    '-i', ORIGINAL_WAV,
    '-f', 'lavfi', '-i', 'color=c=black:s=16x16:d=0.5',
    ...audio(['-c:a', 'libmp3lame', '-b:a', '64k'], files.mp3),
    ...audio(['-c:a', 'flac'], files.flac),
    ...audio(['-c:a', 'libopus', '-b:a', '32k'], files.ogg),
    ...audio(['-c:a', 'aac', '-b:a', '64k'], files.m4a),
    ...audio(['-c:a', 'libopus', '-b:a', '32k'], files.webm),
    // Both channels carry the full signal, so the averaged downmix equals the original.
    ...audio(['-af', 'pan=stereo|c0=c0|c1=c0', '-ar', '44100', '-c:a', 'pcm_s16le'], files.wav44Stereo),
    ...audio(['-c:a', 'pcm_f32le'], files.wavF32),
    ...audio(['-c:a', 'pcm_s24le'], files.wavS24),
    ...audio(['-c:a', 'adpcm_ms'], files.wavAdpcm),
    '-map', '1:v', '-c:v', 'mpeg4', files.videoOnly,
  ]);
  return files;
}

/** An HLS playlist disguised as .wav that points at another local file. */
export async function makePlaylistTrap(dir: string, target: string): Promise<string> {
  const file = path.join(dir, 'playlist.wav');
  await writeFile(file, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:7.0,\n${target}\n#EXT-X-ENDLIST\n`);
  return file;
}
