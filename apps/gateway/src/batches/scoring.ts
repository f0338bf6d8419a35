/**
 * WER/CER against reference transcripts (`reference=sidecar` batches).
 *
 * The scorer is `@voxfleet/asr/score`, the same code `npm run eval` uses. The
 * subpath (not the package entry) keeps onnxruntime-node out of the gateway.
 */
import { charErrors, rate, sumCounts, wordErrors, type ErrorCounts } from '@voxfleet/asr/score';

export { rate, sumCounts, type ErrorCounts };

export interface Score {
  wer: number;
  cer: number;
  words: ErrorCounts;
  chars: ErrorCounts;
}

export function scoreTranscript(hypothesis: string, reference: string): Score {
  const words = wordErrors(hypothesis, reference);
  const chars = charErrors(hypothesis, reference);
  return { wer: rate(words), cer: rate(chars), words, chars };
}
