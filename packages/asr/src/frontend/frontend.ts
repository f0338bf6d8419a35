/**
 * The complete ASR front-end: Kaldi fbank -> LFR stacking -> optional global CMVN.
 * Configure once; `compute` reuses the precomputed tables and an internal fbank buffer.
 */

import { applyCmvn } from './cmvn.js';
import { FbankComputer, type FbankOptions, type Features } from './fbank.js';
import { applyLfr, lfrOutputFrames, type LfrPadding } from './lfr.js';

/** Keep a reusable fbank buffer up to this many values (60 s of 80-dim frames). */
const MAX_SCRATCH_VALUES = 6000 * 80;

export interface CmvnStats {
  negMean: ArrayLike<number>;
  invStd: ArrayLike<number>;
}

export interface FrontEndConfig extends FbankOptions {
  /** LFR window size (frames stacked), e.g. 7. */
  lfrM: number;
  /** LFR shift (frames advanced), e.g. 6 (SenseVoice) or 3. */
  lfrN: number;
  /** Default 'funasr' (see lfr.ts). */
  lfrPadding?: LfrPadding;
  /** Global CMVN applied after LFR; both vectors have lfrM * melBins values. */
  cmvn?: CmvnStats;
}

export class FrontEnd {
  readonly lfrM: number;
  readonly lfrN: number;
  readonly lfrPadding: LfrPadding;
  /** Feature dimension of the output: lfrM * melBins. */
  readonly dim: number;
  readonly fbank: FbankComputer;
  private readonly negMean: Float32Array | undefined;
  private readonly invStd: Float32Array | undefined;
  private scratch: Float32Array = new Float32Array(0);

  constructor(config: FrontEndConfig) {
    const { lfrM, lfrN, lfrPadding = 'funasr', cmvn, ...fbankOpts } = config;
    if (!Number.isInteger(lfrM) || lfrM < 1) throw new RangeError(`lfrM must be a positive integer, got ${lfrM}`);
    if (!Number.isInteger(lfrN) || lfrN < 1) throw new RangeError(`lfrN must be a positive integer, got ${lfrN}`);
    if (lfrPadding !== 'funasr' && lfrPadding !== 'none') throw new RangeError(`unknown LFR padding ${String(lfrPadding)}`);
    this.fbank = new FbankComputer(fbankOpts);
    this.lfrM = lfrM;
    this.lfrN = lfrN;
    this.lfrPadding = lfrPadding;
    this.dim = lfrM * this.fbank.dim;
    if (cmvn) {
      if (cmvn.negMean.length !== this.dim || cmvn.invStd.length !== this.dim) {
        throw new RangeError(
          `CMVN vectors must have ${this.dim} values (negMean ${cmvn.negMean.length}, invStd ${cmvn.invStd.length})`,
        );
      }
      this.negMean = Float32Array.from(cmvn.negMean);
      this.invStd = Float32Array.from(cmvn.invStd);
    }
  }

  /** Output frames for `numSamples` input samples, without computing. */
  frameCount(numSamples: number): number {
    return lfrOutputFrames(this.fbank.frameCount(numSamples), this.lfrN, { m: this.lfrM, padding: this.lfrPadding });
  }

  /** Features of shape [frames, dim] (row-major) for float samples in [-1, 1]. */
  compute(samples: Float32Array): Features {
    const need = this.fbank.frameCount(samples.length) * this.fbank.dim;
    let buf: Float32Array | undefined;
    if (need <= MAX_SCRATCH_VALUES) {
      if (this.scratch.length < need) this.scratch = new Float32Array(need);
      buf = this.scratch;
    }
    // longer inputs get a temporary buffer so one long file does not pin memory
    const fb = this.fbank.compute(samples, buf);
    const out = applyLfr(fb.data, fb.frames, fb.dim, this.lfrM, this.lfrN, this.lfrPadding);
    if (this.negMean && this.invStd) applyCmvn(out.data, out.dim, this.negMean, this.invStd);
    return out;
  }
}
