/**
 * Worker-thread side of AsrEngine: owns the model (whatever its kind — the
 * registry recognises it), runs front-end and inference for each request, so
 * the main thread only moves typed arrays.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FamilyModel } from './backends/family.js';
import { TransducerModel } from './backends/transducer.js';
import { NanoModel } from './backends/funasr-nano.js';
import { asrConfigSchema } from './config.js';
import { CtcModel, type LoadReport } from './ctc-model.js';
import type { Transcript } from './ctc.js';
import { errorInfo, type BatchTiming, type EngineRequest, type EngineResponse, type FrameCost, type UtteranceOptions } from './engine-protocol.js';
import { loadModelSpec } from './registry.js';
import { WhisperModel } from './backends/whisper.js';

const port = parentPort;
if (!port) throw new Error('engine-thread must run in a worker thread');

function post(msg: EngineResponse): void {
  port!.postMessage(msg);
}

/** What the thread needs of a loaded model, whatever its kind. */
interface Loaded {
  report: LoadReport;
  cost: FrameCost;
  transcribe(audio: Float32Array[], options: UtteranceOptions[]): Promise<{ transcripts: Transcript[]; timing: BatchTiming }>;
  release(): Promise<void>;
  /** transcribe calls may overlap (the model joins them into one running decode) */
  concurrent?: boolean;
}

async function load(): Promise<Loaded> {
  const config = asrConfigSchema.parse(workerData);
  const spec = await loadModelSpec(config);
  if (spec.kind === 'whisper') {
    const m = await WhisperModel.load(spec, config);
    // the batcher's cost: encoder frames, 20 ms each
    return { report: m.report, cost: { kind: 'subsampled', factor: 2 }, transcribe: (audio, options) => m.transcribe(audio, options), release: () => m.release() };
  }
  if (spec.kind === 'nemo-transducer') {
    const m = await TransducerModel.load(spec, config);
    const cost: FrameCost = { kind: 'subsampled', factor: spec.transducer!.info.subsamplingFactor };
    return { report: m.report, cost, transcribe: (audio, options) => m.transcribe(audio, options), release: () => m.release() };
  }
  if (spec.kind === 'funasr-nano') {
    const m = await NanoModel.load(spec, config);
    // overlapping requests share the model's one LLM loop (continuous batching)
    return { report: m.report, cost: { kind: 'lfr', n: spec.nano!.info.lfrWindowShift }, transcribe: (audio, options) => m.transcribe(audio, options), release: () => m.release(), concurrent: true };
  }
  if (spec.kind !== 'voxfleet-ctc') {
    const m = await FamilyModel.load(spec, config);
    const fe = spec.frontEnd!;
    const cost: FrameCost = fe.kind === 'funasr' ? { kind: 'lfr', n: fe.lfr.n } : { kind: 'subsampled', factor: Number(spec.metadata.subsampling_factor ?? 8) };
    return { report: m.report, cost, transcribe: (audio, options) => m.transcribe(audio, options), release: () => m.release() };
  }
  const model = await CtcModel.load(config);
  return {
    report: model.report,
    cost: { kind: 'lfr', n: model.meta.lfrN },
    async transcribe(audio) {
      const t0 = performance.now();
      const feats = audio.map((s) => model.features(s));
      const t1 = performance.now();
      const transcripts = await model.inferFeatures(
        feats,
        audio.map((s) => s.length / 16000),
      );
      const t2 = performance.now();
      const timing = { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(...feats.map((f) => f.frames)) * feats.length, frames: feats.reduce((a, f) => a + f.frames, 0) };
      return { transcripts, timing };
    },
    release: () => model.release(),
  };
}

async function main(): Promise<void> {
  let model: Loaded;
  try {
    model = await load();
  } catch (err) {
    post({ type: 'failed', error: errorInfo(err) });
    return;
  }
  post({ type: 'ready', report: model.report, cost: model.cost, concurrent: model.concurrent === true });
  const run = async (req: Extract<EngineRequest, { type: 'transcribe' }>): Promise<void> => {
    try {
      const { transcripts, timing } = await model.transcribe(req.audio, req.options ?? []);
      post({ type: 'result', id: req.id, transcripts, timing });
    } catch (err) {
      post({ type: 'error', id: req.id, error: errorInfo(err) });
    }
  };
  // Requests are handled one at a time, in order (one session, one batch in flight), except on a
  // concurrent model, whose requests start as they come; close waits for every one still running.
  let chain = Promise.resolve();
  const running = new Set<Promise<void>>();
  port!.on('message', (req: EngineRequest) => {
    if (req.type === 'transcribe' && model.concurrent) {
      const p = run(req).finally(() => running.delete(p));
      running.add(p);
      return;
    }
    chain = chain.then(async () => {
      if (req.type === 'close') {
        await Promise.all(running);
        await model.release();
        post({ type: 'closed' });
        port!.close();
        return;
      }
      await run(req);
    });
  });
}

void main();
