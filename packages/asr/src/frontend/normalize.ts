/**
 * NeMo's `per_feature` normalisation as sherpa-onnx computes it
 * (sherpa-onnx/csrc/math.cc NemoNormalizePerFeature, called from offline-stream.cc
 * GetFrames when the model's metadata says normalize_type=per_feature): for every feature
 * dimension d over the T frames of one utterance,
 *
 *   mean_d = sum_t x[t,d] / T
 *   var_d  = max(0, sum_t x[t,d]^2 / T - mean_d^2)        (population variance)
 *   x[t,d] = (x[t,d] - mean_d) / (sqrt(var_d) + 1e-5)
 *
 * sherpa-onnx does this in float32 with Eigen; here the sums run in float64 and the result
 * is stored as float32 (NeMo itself uses the unbiased variance; sherpa does not).
 */

/** The epsilon sherpa-onnx adds to the standard deviation (1e-5f). */
export const PER_FEATURE_EPSILON = Math.fround(1e-5);

/** Normalises `frames` rows of `dim` values (row-major) in place, per column. */
export function normalizePerFeature(
  data: Float32Array,
  frames: number,
  dim: number,
  epsilon: number = PER_FEATURE_EPSILON,
): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError('dim must be a positive integer');
  if (!Number.isInteger(frames) || frames < 0 || data.length < frames * dim) {
    throw new RangeError(`normalizePerFeature: ${data.length} values cannot hold ${frames} x ${dim}`);
  }
  if (frames === 0) return data;
  const sum = new Float64Array(dim);
  const sumSq = new Float64Array(dim);
  for (let t = 0; t < frames; t++) {
    const row = t * dim;
    for (let d = 0; d < dim; d++) {
      const x = data[row + d]!;
      sum[d] = sum[d]! + x;
      sumSq[d] = sumSq[d]! + x * x;
    }
  }
  const mean = new Float64Array(dim);
  const inv = new Float64Array(dim);
  for (let d = 0; d < dim; d++) {
    const m = sum[d]! / frames;
    const variance = Math.max(0, sumSq[d]! / frames - m * m);
    mean[d] = m;
    inv[d] = 1 / (Math.sqrt(variance) + epsilon);
  }
  for (let t = 0; t < frames; t++) {
    const row = t * dim;
    for (let d = 0; d < dim; d++) data[row + d] = (data[row + d]! - mean[d]!) * inv[d]!;
  }
  return data;
}
