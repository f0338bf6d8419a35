/**
 * Worker-thread side of AsrEngine: owns the CtcModel, runs front-end and
 * inference for each request, so the main thread only moves typed arrays.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { asrConfigSchema } from './config.js';
import { CtcModel, type Features } from './ctc-model.js';
import { errorInfo, type EngineRequest, type EngineResponse } from './engine-protocol.js';

const port = parentPort;
if (!port) throw new Error('engine-thread must run in a worker thread');

function post(msg: EngineResponse): void {
  port!.postMessage(msg);
}

async function main(): Promise<void> {
  let model: CtcModel;
  try {
    model = await CtcModel.load(asrConfigSchema.parse(workerData));
  } catch (err) {
    post({ type: 'failed', error: errorInfo(err) });
    return;
  }
  post({ type: 'ready', report: model.report, frameShiftSec: model.meta.frameShiftSec, lfrN: model.meta.lfrN });
  // Requests are handled one at a time, in order: one session, one batch in flight.
  let chain = Promise.resolve();
  port!.on('message', (req: EngineRequest) => {
    chain = chain.then(async () => {
      if (req.type === 'close') {
        await model.release();
        post({ type: 'closed' });
        port!.close();
        return;
      }
      try {
        const t0 = performance.now();
        const feats: Features[] = req.audio.map((s) => model.features(s));
        const t1 = performance.now();
        const transcripts = await model.inferFeatures(
          feats,
          req.audio.map((s) => s.length / 16000),
        );
        const t2 = performance.now();
        post({
          type: 'result',
          id: req.id,
          transcripts,
          timing: { frontEndMs: t1 - t0, inferenceMs: t2 - t1, paddedFrames: Math.max(...feats.map((f) => f.frames)) * feats.length, frames: feats.reduce((a, f) => a + f.frames, 0) },
        });
      } catch (err) {
        post({ type: 'error', id: req.id, error: errorInfo(err) });
      }
    });
  });
}

void main();
