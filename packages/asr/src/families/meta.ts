/**
 * Reading ONNX custom metadata (all values are strings) the way sherpa-onnx's
 * SHERPA_ONNX_READ_META_DATA* macros do (sherpa-onnx/csrc/macros.h): a missing or empty
 * value is absent; integers must be non-negative; float vectors are comma-separated.
 * Unlike sherpa-onnx (which exits the process), a bad value throws ModelMetadataError.
 */
export type OnnxMetadata = Readonly<Record<string, string>>;

export class ModelMetadataError extends Error {
  override readonly name = 'ModelMetadataError';
}

/** A non-negative integer value; `fallback` when absent, an error when absent without one. */
export function metaInt(meta: OnnxMetadata, key: string, fallback?: number): number {
  const raw = meta[key]?.trim();
  if (!raw) {
    if (fallback === undefined) throw new ModelMetadataError(`model metadata lacks "${key}"`);
    return fallback;
  }
  if (!/^\+?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new ModelMetadataError(`metadata ${key}="${raw}" is not a non-negative integer`);
  }
  return Number(raw);
}

/** A comma-separated float vector of `length` finite values. */
export function metaFloats(meta: OnnxMetadata, key: string, length: number): Float32Array {
  const raw = meta[key]?.trim();
  if (!raw) throw new ModelMetadataError(`model metadata lacks "${key}"`);
  const parts = raw.split(',').filter((s) => s.trim() !== '');
  const v = Float32Array.from(parts, Number);
  if (v.length !== length || !v.every(Number.isFinite)) {
    throw new ModelMetadataError(`metadata ${key} has ${v.length} values (finite: ${v.every(Number.isFinite)}), expected ${length} finite values`);
  }
  return v;
}
