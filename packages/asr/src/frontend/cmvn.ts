/**
 * Global CMVN as stored in FunASR / sherpa-onnx models: x = (x + negMean) * invStd,
 * applied per feature dimension, in place.
 */
export function applyCmvn(
  features: Float32Array,
  dim: number,
  negMean: ArrayLike<number>,
  invStd: ArrayLike<number>,
): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError('dim must be a positive integer');
  if (negMean.length !== dim || invStd.length !== dim) {
    throw new RangeError(`CMVN vectors must have ${dim} values (negMean ${negMean.length}, invStd ${invStd.length})`);
  }
  if (features.length % dim !== 0) throw new RangeError(`feature length ${features.length} is not a multiple of ${dim}`);
  for (let row = 0; row < features.length; row += dim) {
    for (let d = 0; d < dim; d++) {
      features[row + d] = (features[row + d]! + negMean[d]!) * invStd[d]!;
    }
  }
  return features;
}
