/**
 * sherpa-onnx's Whisper recognizer (npm sherpa-onnx-node, its OfflineRecognizer with a
 * `whisper` model config) on a directory laid out like sherpa-onnx's Whisper export
 * ({name}-encoder[.int8].onnx, {name}-decoder[.int8].onnx, {name}-tokens.txt): the
 * reference VoxFleet's Whisper backend is compared with. One stream at a time: sherpa-onnx
 * decodes Whisper streams one by one (offline-recognizer-whisper-impl.h DecodeStreams).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseSherpaJson, sherpaAddon } from './sherpa.js';

const require = createRequire(import.meta.url);

export interface SherpaWhisperOptions {
  /** int8: the .int8 graphs (default fp32) */
  precision?: 'fp32' | 'int8';
  /** a language code, or '' to detect (default) */
  language?: string;
  task?: 'transcribe' | 'translate';
  /** segment timestamps (enableSegmentTimestamps) */
  timestamps?: boolean;
  numThreads?: number;
}

/** the fields of sherpa-onnx's result JSON a Whisper decode fills */
export interface SherpaWhisperResult {
  text: string;
  tokens: string[];
  lang: string;
  segment_timestamps?: number[];
  segment_durations?: number[];
  segment_texts?: string[];
}

interface Stream {
  acceptWaveform(w: { samples: Float32Array; sampleRate: number }): void;
  handle: unknown;
}
interface Recognizer {
  createStream(): Stream;
  decode(s: Stream): void;
  handle: unknown;
}

/** The export's name: the `{name}` of its `{name}-encoder.onnx`. */
export function whisperExportName(dir: string): string {
  const enc = readdirSync(dir).find((n) => /-encoder(\.int8)?\.onnx$/.test(n));
  if (!enc) throw new Error(`sherpa-onnx: no *-encoder.onnx in ${dir}`);
  return enc.replace(/-encoder(\.int8)?\.onnx$/, '');
}

export class SherpaWhisper {
  private readonly rec: Recognizer;
  constructor(
    readonly modelDir: string,
    readonly opts: SherpaWhisperOptions = {},
  ) {
    const name = whisperExportName(modelDir);
    const sfx = opts.precision === 'int8' ? '.int8' : '';
    const encoder = join(modelDir, `${name}-encoder${sfx}.onnx`);
    const decoder = join(modelDir, `${name}-decoder${sfx}.onnx`);
    const tokens = join(modelDir, `${name}-tokens.txt`);
    for (const f of [encoder, decoder, tokens]) if (!existsSync(f)) throw new Error(`sherpa-onnx: ${f} does not exist`);
    const { OfflineRecognizer } = require('sherpa-onnx-node') as { OfflineRecognizer: new (c: object) => Recognizer };
    this.rec = new OfflineRecognizer({
      featConfig: { sampleRate: 16000, featureDim: 80 },
      modelConfig: {
        whisper: { encoder, decoder, language: opts.language ?? '', task: opts.task ?? 'transcribe', tailPaddings: -1, enableSegmentTimestamps: opts.timestamps ? 1 : 0 },
        tokens,
        numThreads: opts.numThreads ?? 1,
        provider: 'cpu',
        debug: 0,
      },
    });
  }

  transcribe(samples: Float32Array): SherpaWhisperResult {
    const s = this.stream(samples);
    this.rec.decode(s);
    return this.tidy(parseSherpaJson<SherpaWhisperResult>(sherpaAddon().getOfflineStreamResultAsJson(s.handle)));
  }

  /** One file on libuv's thread pool (decodeAsync), so several can be in flight (benchmarks). */
  async transcribeAsync(samples: Float32Array): Promise<SherpaWhisperResult> {
    const s = this.stream(samples);
    return this.tidy(parseSherpaJson<SherpaWhisperResult>(await sherpaAddon().decodeOfflineStreamAsync(this.rec.handle, s.handle)));
  }

  private stream(samples: Float32Array): Stream {
    const s = this.rec.createStream();
    s.acceptWaveform({ samples, sampleRate: 16000 });
    return s;
  }

  private tidy(r: SherpaWhisperResult): SherpaWhisperResult {
    const out: SherpaWhisperResult = { text: r.text, tokens: r.tokens, lang: r.lang };
    if (this.opts.timestamps) {
      out.segment_timestamps = r.segment_timestamps ?? [];
      out.segment_durations = r.segment_durations ?? [];
      out.segment_texts = r.segment_texts ?? [];
    }
    return out;
  }
}
