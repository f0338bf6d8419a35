/**
 * Low frame rate (LFR) stacking. Two layouts:
 *
 * - `funasr` (FunASR's `apply_lfr`, and sherpa-onnx's `ApplyLfr` since its commit af2bc02,
 *   sherpa-onnx/csrc/lfr.cc): pad the start with floor((m-1)/2) copies of the first frame,
 *   then for each of ceil(T/n) output frames i concatenate padded rows [i*n, i*n + m),
 *   repeating the last input frame where that range runs past the end.
 * - `none` (sherpa-onnx before af2bc02, and its Fun-ASR-Nano LLM path,
 *   offline-recognizer-funasr-nano-impl.cc ApplyLFR): output frame i is input rows
 *   [i*n, i*n + m), floor((T - m) / n) + 1 frames, none when T < m.
 */

import { fbankFrameCount, type Features, type FrameGeometry } from './fbank.js';

export type LfrPadding = 'funasr' | 'none';

function checkLfr(m: number, n: number, padding: LfrPadding = 'funasr'): void {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`LFR m must be a positive integer, got ${m}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`LFR n must be a positive integer, got ${n}`);
  if (padding !== 'funasr' && padding !== 'none') throw new RangeError(`unknown LFR padding ${String(padding)}`);
}

/**
 * Output frame count of LFR with shift n over `frames` input frames: ceil(frames / n)
 * with FunASR padding (the default); with `{ padding: 'none', m }`,
 * floor((frames - m) / n) + 1, or 0 when frames < m.
 */
export function lfrOutputFrames(frames: number, n: number, layout?: { m: number; padding: LfrPadding }): number {
  if (layout?.padding === 'none') return frames < layout.m ? 0 : Math.floor((frames - layout.m) / n) + 1;
  return frames <= 0 ? 0 : Math.ceil(frames / n);
}

/**
 * Stacks `frames` rows of `dim` values (row-major in `fbank`) into rows of m * dim values
 * (see the module comment for the two paddings). Zero input frames give zero output frames.
 */
export function applyLfr(
  fbank: Float32Array,
  frames: number,
  dim: number,
  m: number,
  n: number,
  padding: LfrPadding = 'funasr',
): Features {
  checkLfr(m, n, padding);
  if (!Number.isInteger(frames) || frames < 0) throw new RangeError(`frames must be a non-negative integer`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer`);
  if (fbank.length < frames * dim) throw new RangeError(`fbank holds ${fbank.length} values, need ${frames * dim}`);
  const outFrames = lfrOutputFrames(frames, n, { m, padding });
  const outDim = m * dim;
  const data = new Float32Array(outFrames * outDim);
  const leftPad = padding === 'funasr' ? Math.floor((m - 1) / 2) : 0;
  const last = frames - 1;
  for (let i = 0; i < outFrames; i++) {
    const base = i * n - leftPad;
    const rowOut = i * outDim;
    for (let j = 0; j < m; j++) {
      let src = base + j;
      if (src < 0) src = 0;
      else if (src > last) src = last;
      data.set(fbank.subarray(src * dim, src * dim + dim), rowOut + j * dim);
    }
  }
  return { data, frames: outFrames, dim: outDim };
}

/**
 * Predicts the number of LFR frames the front-end produces for `numSamples` samples
 * without computing anything: ceil(fbankFrames / lfrN), with fbankFrames =
 * 1 + floor((numSamples - window) / shift) (0 below one window), snip_edges=True.
 */
export function lfrFrameCount(numSamples: number, lfrN: number, geometry: FrameGeometry = {}): number {
  checkLfr(1, lfrN);
  return lfrOutputFrames(fbankFrameCount(numSamples, geometry), lfrN);
}
