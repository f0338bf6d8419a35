/**
 * A served model's identity, resolved once at load from its files: the
 * model's name (ONNX `model_id`, or the file name), a digest of the ONNX
 * file that runs, the decoder tag (decoder, its weights and LM digest) and
 * the precision. Anything that changes a transcript changes the identity, so
 * it keys the result cache; workers carry it in their heartbeats.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface ModelIdentity {
  /** the model's name: builds of one model share it */
  name: string;
  /** `name@digest+decoder/precision` */
  id: string;
}

/** First 12 hex digits of the file's SHA-256 (streamed: the file is not held in memory). */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex').slice(0, 12);
}

export function modelIdentity(p: { name: string; digest: string; decoderTag: string; precision: string }): ModelIdentity {
  return { name: p.name, id: `${p.name}@${p.digest}${p.decoderTag}/${p.precision}` };
}
