/**
 * Low frame rate (LFR) stacking, identical to FunASR's `apply_lfr`:
 * pad the start with floor((m-1)/2) copies of the first frame, then for each of
 * ceil(T/n) output frames i concatenate padded rows [i*n, i*n + m), repeating the last
 * input frame where that range runs past the end.
 */

import { fbankFrameCount, type Features, type FrameGeometry } from './fbank.js';

function checkLfr(m: number, n: number): void {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`LFR m must be a positive integer, got ${m}`);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`LFR n must be a positive integer, got ${n}`);
}

/** Output frame count of LFR with shift n over `frames` input frames: ceil(frames / n). */
export function lfrOutputFrames(frames: number, n: number): number {
  return frames <= 0 ? 0 : Math.ceil(frames / n);
}

/**
 * Stacks `frames` rows of `dim` values (row-major in `fbank`) into ceil(frames / n) rows
 * of m * dim values. Zero input frames give zero output frames.
 */
export function applyLfr(fbank: Float32Array, frames: number, dim: number, m: number, n: number): Features {
  checkLfr(m, n);
  if (!Number.isInteger(frames) || frames < 0) throw new RangeError(`frames must be a non-negative integer`);
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer`);
  if (fbank.length < frames * dim) throw new RangeError(`fbank holds ${fbank.length} values, need ${frames * dim}`);
  const outFrames = lfrOutputFrames(frames, n);
  const outDim = m * dim;
  const data = new Float32Array(outFrames * outDim);
  const leftPad = Math.floor((m - 1) / 2);
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
