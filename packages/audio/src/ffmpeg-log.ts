/**
 * Reading ffmpeg's stderr: the input description it prints before decoding (container,
 * duration, first audio stream) and the mapping of failures to AudioError codes.
 */
import { AudioError } from './errors.js';

export interface InputInfo {
  format?: string;
  durationSec?: number;
  codec?: string;
  sampleRate?: number;
  channels?: number;
}

const NAMED_LAYOUTS: Record<string, number> = {
  mono: 1,
  stereo: 2,
  downmix: 2,
  quad: 4,
  hexagonal: 6,
  octagonal: 8,
  hexadecagonal: 16,
};

/** Channel count from an ffmpeg layout name: `mono`, `stereo`, `5.1(side)`, `quad`, `6 channels` … */
export function channelsFromLayout(layout: string): number | undefined {
  const text = layout.trim();
  const base = text.replace(/\(.*\)$/, '');
  const named = NAMED_LAYOUTS[base];
  if (named !== undefined) return named;
  const dotted = /^(\d+)\.(\d+)$/.exec(base);
  if (dotted) return Number(dotted[1]) + Number(dotted[2]);
  const counted = /^(\d+) channels?\b/.exec(text);
  return counted ? Number(counted[1]) : undefined;
}

/** `HH:MM:SS.ss` → seconds. */
export function parseTimestamp(text: string): number | undefined {
  const m = /^(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/.exec(text.trim());
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

/** Parses `aac (LC) (mp4a / 0x6134706D), 16000 Hz, mono, fltp, 69 kb/s (default)`. */
export function parseAudioStream(details: string): Pick<InputInfo, 'codec' | 'sampleRate' | 'channels'> {
  const parts = details.split(', ');
  const info: Pick<InputInfo, 'codec' | 'sampleRate' | 'channels'> = {};
  const codec = /^[A-Za-z0-9_]+/.exec(parts[0] ?? '');
  if (codec) info.codec = codec[0];
  const hzIndex = parts.findIndex((p) => /^\d+ Hz$/.test(p.trim()));
  if (hzIndex >= 0) {
    info.sampleRate = Number.parseInt(parts[hzIndex] ?? '', 10);
    const channels = channelsFromLayout(parts[hzIndex + 1] ?? '');
    if (channels !== undefined) info.channels = channels;
  }
  return info;
}

const MAX_HEAD_LINES = 200;

/** Incremental parser for ffmpeg stderr lines. */
export class FfmpegLog {
  readonly info: InputInfo = {};
  private state: 'before' | 'input' | 'done' = 'before';
  private readonly head: string[] = [];

  /** Feeds one line; returns true exactly once, when the input description is complete. */
  push(line: string): boolean {
    if (this.head.length < MAX_HEAD_LINES) this.head.push(line);
    const text = line.trim();
    if (this.state === 'before') {
      const input = /^Input #0, (.+), from '/.exec(text);
      if (input) {
        this.info.format = input[1];
        this.state = 'input';
      }
      return false;
    }
    if (this.state !== 'input') return false;

    if (/^(Stream mapping:|Output #0|Press \[q\])/.test(text)) {
      this.state = 'done';
      return true;
    }
    const duration = /^Duration: ([^,]+)/.exec(text);
    if (duration) {
      const seconds = parseTimestamp(duration[1] ?? '');
      if (seconds !== undefined) this.info.durationSec = seconds;
      return false;
    }
    const audio = /^Stream #0:\d+.*?: Audio: (.+)$/.exec(text);
    if (audio && this.info.codec === undefined) Object.assign(this.info, parseAudioStream(audio[1] ?? ''));
    return false;
  }

  get inputParsed(): boolean {
    return this.state === 'done';
  }

  get headText(): string {
    return this.head.join('\n');
  }
}

/** Last few meaningful lines of ffmpeg output, for AudioError.detail. */
function tail(text: string, lines = 4): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('size=') && !l.startsWith('Last message repeated'))
    .slice(-lines)
    .join('\n');
}

const RULES: ReadonlyArray<[RegExp, AudioError['code'], string]> = [
  [/Protocol '[^']*' not on whitelist/, 'unsupported', 'only local files and in-memory audio are accepted'],
  [/Format not on whitelist/, 'unsupported', 'container format is not accepted'],
  [/matches no streams|does not contain any stream/, 'unsupported', 'input contains no audio stream'],
  [/Decoder \([^)]*\) not found|Unknown decoder|Unsupported codec/i, 'unsupported', 'audio codec is not supported'],
  [/No such file or directory/, 'io', 'input file not found'],
  [/Permission denied/, 'io', 'input file is not readable'],
];

/** Maps a failed ffmpeg run (process error + stderr text) to an AudioError. */
export function classifyFfmpegFailure(err: unknown, stderr: string): AudioError {
  const detail = tail(stderr) || undefined;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOENT' || errno === 'EACCES' || errno === 'EPERM') {
    return new AudioError('io', `ffmpeg could not be started (${errno}); check ffmpegPath / VOXFLEET_FFMPEG_PATH`, {
      cause: err,
      detail,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('Input stream error')) {
    return new AudioError('io', 'failed to read the input stream', { cause: err, detail });
  }
  if (/killed with signal/.test(message)) {
    return new AudioError('io', 'ffmpeg was terminated unexpectedly', { cause: err, detail });
  }
  for (const [pattern, code, text] of RULES) {
    if (pattern.test(stderr)) return new AudioError(code, text, { cause: err, detail });
  }
  if (!/exited with code/.test(message)) {
    return new AudioError('io', `ffmpeg failed: ${message}`, { cause: err, detail });
  }
  return new AudioError('undecodable', 'input could not be decoded as audio', { cause: err, detail });
}
