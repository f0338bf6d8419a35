/**
 * One ffmpeg process driven through fluent-ffmpeg, with its stdout exposed as a byte
 * stream. Guarantees: the process can always be killed (also before it has spawned),
 * every fluent-ffmpeg 'error' is caught, and `done` settles exactly once.
 */
import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { FfmpegLog, classifyFfmpegFailure, type InputInfo } from './ffmpeg-log.js';

export type FfmpegInput = { kind: 'file'; path: string } | { kind: 'stream'; stream: Readable };

/**
 * Demuxers ffmpeg may use (`-format_whitelist`). Besides the URL ban this keeps playlist
 * and manifest demuxers (hls, dash, concat, image sequences) away: they would open other
 * local files named inside an uploaded file.
 */
export const ALLOWED_DEMUXERS: readonly string[] = [
  'wav', 'w64', 'mp3', 'flac', 'ogg', 'mov', 'matroska', 'aac', 'aiff', 'caf', 'amr', 'amrnb', 'amrwb',
  'wv', 'ape', 'tta', 'au', 'voc', 'asf', 'ac3', 'eac3', 'dts', 'avi', 'flv', 'mpeg', 'mpegts',
];

/** Output arguments for 16 kHz mono s16le on stdout (first audio stream only). */
export const DECODE_OUTPUT_ARGS: readonly string[] = [
  '-map', '0:a:0', '-vn', '-sn', '-dn', '-f', 's16le', '-ac', '1', '-ar', '16000',
];

/** Output arguments that make ffmpeg open the input, describe it on stderr, and stop. */
export const PROBE_OUTPUT_ARGS: readonly string[] = ['-map', '0:a:0', '-t', '0', '-f', 'null'];

export interface FfmpegJobOptions {
  ffmpegPath: string;
  input: FfmpegInput;
  outputArgs: readonly string[];
  signal?: AbortSignal;
  /** Called once, as soon as ffmpeg has described the input (before decoding starts). */
  onInputInfo?: (info: InputInfo) => void;
}

export interface FfmpegJob {
  /** ffmpeg's stdout. Ends when ffmpeg exits; destroyed when the job fails or is stopped. */
  readonly output: Readable;
  /** Resolves after a clean exit; rejects with an AudioError or the reason given to stop(). */
  readonly done: Promise<InputInfo>;
  /** The error the job ended with (stop reason or classified failure), once known. */
  readonly failure: unknown;
  /** Kills ffmpeg (if still running) and releases the output; `done` rejects with `reason`. */
  stop(reason: unknown): void;
}

type PathLookup = (callback: (err: Error | null, path: string) => void) => void;

/**
 * fluent-ffmpeg stores the binary path in module-global state (`setFfmpegPath` affects every
 * command), so concurrent calls with different `ffmpegPath`s would race. Shadow its
 * per-command lookup instead; it is used both for the run and for its capability probe.
 */
function pinBinary(command: ffmpeg.FfmpegCommand, binary: string): void {
  (command as unknown as { _getFfmpegPath: PathLookup })._getFfmpegPath = (callback) => callback(null, binary);
}

/**
 * fluent-ffmpeg 2.1.3 throws a TypeError from its own 'error' listener on the child process
 * when spawning fails (ENOENT, EACCES, EAGAIN …), which would crash the service. Its 'start'
 * event fires synchronously right after spawn() — before Node reports such failures — so
 * replace that listener there.
 */
function takeOverSpawnErrors(command: ffmpeg.FfmpegCommand, onError: (err: Error) => void): void {
  const proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
  if (proc === undefined) return;
  proc.removeAllListeners('error');
  proc.on('error', onError);
}

export function startFfmpeg(opts: FfmpegJobOptions): FfmpegJob {
  // autoDestroy off: fluent-ffmpeg treats the output's 'close' as "consumer went away" and
  // reports an error if the process has not exited 20 ms later — on a busy machine that
  // would turn successful runs into failures. We destroy it ourselves once done.
  const output = new PassThrough({ autoDestroy: false, highWaterMark: 64 * 1024 });
  output.on('error', () => {}); // failures are reported through `done`

  const log = new FfmpegLog();
  const { input } = opts;
  const fileInput = input.kind === 'file';
  const command = ffmpeg({ stdoutLines: 40 });
  pinBinary(command, opts.ffmpegPath);

  let started = false;
  let settled = false;
  let stopped = false;
  let failure: unknown;
  let resolveDone: (info: InputInfo) => void = () => {};
  let rejectDone: (err: unknown) => void = () => {};
  const done = new Promise<InputInfo>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => {}); // observed by the caller when it matters

  const kill = (): void => {
    if (started && !settled) command.kill('SIGKILL');
  };
  const stop = (reason: unknown): void => {
    if (!settled && !stopped) {
      stopped = true;
      failure = reason;
      kill(); // not spawned yet: the 'start' handler kills it
    }
    output.destroy();
  };
  const onAbort = (): void => stop(opts.signal?.reason);

  const finish = (err: Error | undefined, stderr: string): void => {
    if (settled) return;
    settled = true;
    opts.signal?.removeEventListener('abort', onAbort);
    if (stopped) {
      rejectDone(failure);
    } else if (err === undefined) {
      resolveDone(log.info);
    } else {
      failure = classifyFfmpegFailure(err, `${log.headText}\n${stderr}`);
      rejectDone(failure);
      output.destroy(); // unblock a reader waiting for data that will never come
    }
  };

  command
    .input(input.kind === 'file' ? `file:${input.path}` : input.stream)
    .inputOptions([
      '-hide_banner', '-nostdin', '-nostats',
      '-protocol_whitelist', fileInput ? 'file,pipe' : 'pipe',
      '-format_whitelist', ALLOWED_DEMUXERS.join(','),
    ])
    .outputOptions([...opts.outputArgs])
    .output(output)
    .on('start', () => {
      started = true;
      takeOverSpawnErrors(command, (err) => finish(err, ''));
      if (stopped) command.kill('SIGKILL');
    })
    .on('stderr', (line: string) => {
      if (log.push(line)) opts.onInputInfo?.(log.info);
    })
    .on('end', (_stdout: string | null, stderr: string | null) => finish(undefined, stderr ?? ''))
    .on('error', (err: Error, _stdout: string | null, stderr: string | null) => finish(err, stderr ?? ''));

  if (opts.signal?.aborted) stop(opts.signal.reason);
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  command.run();

  return {
    output,
    done,
    get failure() {
      return failure;
    },
    stop,
  };
}
