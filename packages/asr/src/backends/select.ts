/**
 * Provider × precision selection, for every backend: with `auto`, each
 * runnable pair (a provider and one of the model's files) is opened and timed
 * on a fixed batch, and the fastest is kept; one pair is opened without
 * timing. Errors of the pairs that cannot run are collected (the report
 * shows them), and only when none runs does loading fail.
 */
import * as ort from 'onnxruntime-node';
import type { AsrConfig, Precision, Provider } from '../config.js';
import { EngineSetupError, openSession, type ModelVariant } from '../session.js';

/** One pair as it was tried: its calibration time, or why it could not run. */
export interface Calibration {
  provider: Provider;
  precision: Precision;
  /** milliseconds for the calibration batch (fastest of 5), or why it could not run */
  ms?: number;
  error?: string;
}

export const AUTO_PROVIDERS: Provider[] = ['cuda', 'webgpu', 'cpu'];

export interface Selected<M> {
  model: M;
  provider: Provider;
  variant: ModelVariant;
  calibration: Calibration[];
}

/** The variants `config.precision` asks for (all with auto), or a clear error. */
export function wantedVariants(config: Pick<AsrConfig, 'precision' | 'modelPath'>, variants: ModelVariant[]): ModelVariant[] {
  const wanted = config.precision === 'auto' ? variants : variants.filter((v) => v.precision === config.precision);
  if (wanted.length === 0) {
    throw new EngineSetupError('precision_unavailable', `precision ${config.precision} is not available for ${config.modelPath}; it has ${variants.map((v) => v.precision).join(', ')}`);
  }
  return wanted;
}

/**
 * `count` clips of `seconds` s of quiet seeded noise, the same on every call: the input a backend's
 * calibration times (what it sounds like does not matter, only its length and that it is fixed).
 */
export function calibrationAudio(count: number, seconds: number): Float32Array[] {
  let seed = 1;
  return Array.from({ length: count }, () => {
    const s = new Float32Array(seconds * 16000);
    for (let i = 0; i < s.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s[i] = (seed / 0x7fffffff - 0.5) * 0.1;
    }
    return s;
  });
}

/** Fastest of `runs` timed calls after one warm-up (the minimum is the least disturbed by other load). */
export async function fastestOf(run: () => Promise<unknown>, runs = 5): Promise<number> {
  await run();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * The step-batching choice of a Whisper, Parakeet TDT or Fun-ASR-Nano model: `auto` times `batched` and `single`
 * (the same calibration batch decoded both ways, once each after a warm-up, on the provider and precision already
 * chosen) and keeps the faster, because which one wins depends on the provider, the precision and the model's size
 * (on CPU a small decoder's per-call overhead favours batching, a large one's compute may not); the setting's other
 * values fix it (`setting.batched` / `setting.single`: on/off, or TDT's batched/sequential). `setting.name` is the
 * environment variable the reason the load report prints names.
 */
export async function chooseStepBatching<V extends string>(
  setting: { name: string; value: V | 'auto'; batched: V; single: V },
  on: string,
  batched: () => Promise<unknown>,
  single: () => Promise<unknown>,
): Promise<{ batched: boolean; why: string; ms?: number }> {
  if (setting.value !== 'auto') return { batched: setting.value === setting.batched, why: `${setting.name}=${setting.value}` };
  const b = await fastestOf(batched, 1);
  const s = await fastestOf(single, 1);
  // ms: the calibration batch's time the way it will run (a later load-time choice compares against it)
  return { batched: b <= s, why: `measured at load: batched ${b.toFixed(0)} ms, one at a time ${s.toFixed(0)} ms on ${on}`, ms: Math.min(b, s) };
}

/**
 * `open` opens what a pair needs (default: the variant's one session; a transducer opens
 * its three graphs) and throws an error the calibration list shows when it cannot.
 */
export async function selectSession<M extends { release(): Promise<void> }, S = ort.InferenceSession>(
  config: AsrConfig,
  variants: ModelVariant[],
  build: (session: S, variant: ModelVariant, provider: Provider) => M,
  calibrate: (model: M) => Promise<number>,
  open: (variant: ModelVariant, provider: Provider) => Promise<S> = (variant, provider) => openSession(variant, provider, config) as Promise<S>,
): Promise<Selected<M>> {
  const wanted = wantedVariants(config, variants);
  const providers = config.provider === 'auto' ? AUTO_PROVIDERS : [config.provider];
  // Probing absent GPU providers makes onnxruntime log errors we already report in `calibration`.
  if (config.provider === 'auto') ort.env.logLevel = 'fatal';
  const candidates = providers.flatMap((provider) => wanted.map((variant) => ({ provider, variant })));
  const calibration: Calibration[] = [];
  const errors: string[] = [];
  let best: { model: M; ms: number; provider: Provider; variant: ModelVariant } | undefined;
  for (const { provider, variant } of candidates) {
    let session: S;
    try {
      session = await open(variant, provider);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      calibration.push({ provider, precision: variant.precision, error: msg });
      errors.push(msg);
      continue;
    }
    const model = build(session, variant, provider);
    if (candidates.length === 1) return { model, provider, variant, calibration };
    let ms: number;
    try {
      ms = await calibrate(model);
    } catch (err) {
      calibration.push({ provider, precision: variant.precision, error: String(err) });
      await model.release();
      continue;
    }
    calibration.push({ provider, precision: variant.precision, ms: Math.round(ms * 10) / 10 });
    if (!best || ms < best.ms) {
      if (best) await best.model.release();
      best = { model, ms, provider, variant };
    } else {
      await model.release();
    }
  }
  if (!best) {
    const code = config.provider !== 'cpu' && config.provider !== 'auto' ? 'provider_unavailable' : 'bad_model';
    throw new EngineSetupError(code, errors.join('; '));
  }
  return { model: best.model, provider: best.provider, variant: best.variant, calibration };
}
