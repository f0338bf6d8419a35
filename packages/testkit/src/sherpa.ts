/**
 * The sherpa-onnx reference: its OfflineRecognizer (npm sherpa-onnx-node, prebuilt,
 * its own onnxruntime) on a model directory laid out like sherpa-onnx's exports,
 * results as it returns them.
 *
 * Many files: sherpa-onnx-node has no batched offline decode (the C API's
 * SherpaOnnxDecodeMultipleOfflineStreams is not bound; its addon offers
 * decodeOfflineStream and decodeOfflineStreamAsync, one stream each). Its best
 * way of decoding many files is therefore `concurrency` decodeAsync calls in
 * flight, which run on libuv's thread pool (UV_THREADPOOL_SIZE, default 4, must
 * be set before the pool starts), each using `numThreads` onnxruntime threads.
 *
 * Caution: sherpa-onnx aborts the process (a C++ exception nobody catches) when
 * onnxruntime cannot load the graph; missing files are reported as errors.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TestGraphKind } from './testgraphs.js';

const require = createRequire(import.meta.url);

/** the model families sherpa-onnx decodes here: those of the test graphs */
export type SherpaKind = TestGraphKind;

export interface SherpaOptions {
  /** model file inside the directory (default model.onnx, else model.int8.onnx); parakeet-tdt: the encoder's
   * (default encoder.onnx, else encoder.int8.onnx), its decoder and joiner named alike (decoder.int8.onnx, …) */
  model?: string;
  /** onnxruntime intra-op threads per decode (default 1) */
  numThreads?: number;
  /** SenseVoice: auto (default), zh, en, yue, ja, ko; Fun-ASR-Nano: the language's Chinese name (中文) or '' */
  language?: string;
  /** SenseVoice: inverse text normalisation, i.e. the <|withitn|> query (default false) */
  useItn?: boolean;
  /** Fun-ASR-Nano: hotwords, comma-separated as sherpa-onnx parses them */
  hotwords?: string;
  /** decodes in flight (default 1: sequential, synchronous) */
  concurrency?: number;
  provider?: string;
  debug?: boolean;
}

export interface SherpaResult {
  text: string;
  tokens: string[];
  /** seconds, one per token (empty when the model gives none) */
  timestamps: number[];
  /** TDT transducers: each token's duration in seconds */
  durations?: number[];
  lang?: string;
  emotion?: string;
  event?: string;
}

/** what the addon's JSON holds (and more, unused here); lang/emotion/event are '' outside SenseVoice */
type RawResult = SherpaResult;

interface Stream {
  acceptWaveform(w: { samples: Float32Array; sampleRate: number }): void;
  handle: unknown;
}

interface Recognizer {
  createStream(): Stream;
  decode(s: Stream): void;
  handle: unknown;
}

/** the native addon's calls behind OfflineRecognizer.getResult / decodeAsync, which return sherpa-onnx's JSON text */
interface Addon {
  getOfflineStreamResultAsJson(stream: unknown): string;
  decodeOfflineStreamAsync(recognizer: unknown, stream: unknown): Promise<string>;
}

/**
 * sherpa-onnx's result JSON. It writes a text's control characters raw (not escaped), which JSON.parse
 * refuses — the addon's own getResult then throws — and random-weight test graphs do emit such tokens;
 * escaped here first (they occur only inside its strings: the JSON has no whitespace between values).
 */
export function parseSherpaJson<T>(json: string): T {
  // eslint-disable-next-line no-control-regex
  return JSON.parse(json.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) as T;
}

let addonMod: Addon | undefined;
export function sherpaAddon(): Addon {
  addonMod ??= require('sherpa-onnx-node/addon.js') as Addon;
  return addonMod;
}

interface SherpaModule {
  OfflineRecognizer: new (config: object) => Recognizer;
  version: string;
  onnxruntimeVersion: string;
}

let mod: SherpaModule | undefined;
function sherpa(): SherpaModule {
  mod ??= require('sherpa-onnx-node') as SherpaModule;
  return mod;
}

/** sherpa-onnx-node's version and the onnxruntime it bundles. */
export function sherpaVersion(): { sherpa: string; onnxruntime: string } {
  return { sherpa: sherpa().version, onnxruntime: sherpa().onnxruntimeVersion };
}

function transducerConfig(dir: string, opts: SherpaOptions): object {
  const encoder = opts.model ?? (existsSync(join(dir, 'encoder.onnx')) ? 'encoder.onnx' : 'encoder.int8.onnx');
  const files = { encoder: join(dir, encoder), decoder: join(dir, encoder.replace(/^encoder/, 'decoder')), joiner: join(dir, encoder.replace(/^encoder/, 'joiner')) };
  const tokens = join(dir, 'tokens.txt');
  for (const f of [...Object.values(files), tokens]) if (!existsSync(f)) throw new Error(`sherpa-onnx: ${f} does not exist`);
  return { transducer: files, modelType: 'nemo_transducer', tokens, numThreads: opts.numThreads ?? 1, provider: opts.provider ?? 'cpu', debug: opts.debug ? 1 : 0 };
}

/**
 * Fun-ASR-Nano's LLM export: `model` names the llm file (default llm.fp32.onnx, else llm.int8.onnx);
 * the encoder_adaptor and embedding are the int8 ones for llm.int8/fp16 files, as the archives pair them.
 * Through the Node addon itn defaults to 0 (the C API takes the field as it is), so the prompt says
 * 不进行文本规整 unless `useItn`.
 */
function nanoConfig(dir: string, opts: SherpaOptions): object {
  const llm = opts.model ?? (existsSync(join(dir, 'llm.fp32.onnx')) ? 'llm.fp32.onnx' : 'llm.int8.onnx');
  const sfx = llm === 'llm.fp32.onnx' || llm === 'llm.onnx' ? '' : '.int8';
  const files = { encoderAdaptor: join(dir, `encoder_adaptor${sfx}.onnx`), embedding: join(dir, `embedding${sfx}.onnx`), llm: join(dir, llm) };
  const tokenizer = join(dir, 'Qwen3-0.6B');
  for (const f of [...Object.values(files), join(tokenizer, 'tokenizer.json')]) if (!existsSync(f)) throw new Error(`sherpa-onnx: ${f} does not exist`);
  return {
    funasrNano: { ...files, tokenizer, language: opts.language ?? '', itn: opts.useItn ? 1 : 0, hotwords: opts.hotwords ?? '' },
    tokens: '',
    numThreads: opts.numThreads ?? 1,
    provider: opts.provider ?? 'cpu',
    debug: opts.debug ? 1 : 0,
  };
}

function modelConfig(kind: SherpaKind, dir: string, opts: SherpaOptions): object {
  if (kind === 'parakeet-tdt') return transducerConfig(dir, opts);
  if (kind === 'funasr-nano' || kind === 'funasr-nano-loop') return nanoConfig(dir, opts);
  const file = opts.model ?? (existsSync(join(dir, 'model.onnx')) ? 'model.onnx' : 'model.int8.onnx');
  const model = join(dir, file);
  const tokens = join(dir, 'tokens.txt');
  for (const f of [model, tokens]) if (!existsSync(f)) throw new Error(`sherpa-onnx: ${f} does not exist`);
  const common = { tokens, numThreads: opts.numThreads ?? 1, provider: opts.provider ?? 'cpu', debug: opts.debug ? 1 : 0 };
  switch (kind) {
    case 'sense-voice':
    case 'funasr-nano-ctc': // the Nano CTC variant goes through the SenseVoice config ("Nano" in its comment)
      return { ...common, senseVoice: { model, language: opts.language ?? '', useInverseTextNormalization: opts.useItn ? 1 : 0 } };
    case 'paraformer':
    case 'paraformer-ts':
      return { ...common, paraformer: { model } };
    case 'nemo-ctc':
      return { ...common, nemoCtc: { model } };
    default:
      throw new Error(`sherpa-onnx: unknown kind ${String(kind)}`);
  }
}

function tidy(r: RawResult): SherpaResult {
  const out: SherpaResult = { text: r.text, tokens: r.tokens, timestamps: r.timestamps };
  if (r.durations?.length) out.durations = r.durations;
  if (r.lang) out.lang = r.lang;
  if (r.emotion) out.emotion = r.emotion;
  if (r.event) out.event = r.event;
  return out;
}

export class SherpaRecognizer {
  private readonly rec: Recognizer;
  constructor(
    readonly kind: SherpaKind,
    readonly modelDir: string,
    readonly opts: SherpaOptions = {},
  ) {
    this.rec = new (sherpa().OfflineRecognizer)({
      featConfig: { sampleRate: 16000, featureDim: 80 },
      modelConfig: modelConfig(kind, modelDir, opts),
    });
  }

  private stream(samples: Float32Array): Stream {
    const s = this.rec.createStream();
    s.acceptWaveform({ samples, sampleRate: 16000 });
    return s;
  }

  /** One file, synchronously. */
  transcribe(samples: Float32Array): SherpaResult {
    const s = this.stream(samples);
    this.rec.decode(s);
    return tidy(parseSherpaJson<RawResult>(sherpaAddon().getOfflineStreamResultAsJson(s.handle)));
  }

  /** Many files, up to `concurrency` decodeAsync calls in flight; results in input order. */
  async transcribeMany(list: Float32Array[], concurrency = this.opts.concurrency ?? 1): Promise<SherpaResult[]> {
    if (concurrency <= 1) return list.map((x) => this.transcribe(x));
    const out = new Array<SherpaResult>(list.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < list.length) {
        const i = next++;
        const s = this.stream(list[i]!);
        out[i] = tidy(parseSherpaJson<RawResult>(await sherpaAddon().decodeOfflineStreamAsync(this.rec.handle, s.handle)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, lane));
    return out;
  }
}

/** sherpa-onnx's results for each 16 kHz input, in order. */
export async function sherpaTranscribe(
  kind: SherpaKind,
  modelDir: string,
  samples16k: Float32Array[],
  opts: SherpaOptions = {},
): Promise<SherpaResult[]> {
  return new SherpaRecognizer(kind, modelDir, opts).transcribeMany(samples16k);
}
