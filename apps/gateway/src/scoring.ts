/**
 * WER/CER against reference transcripts (`reference=sidecar` batches).
 *
 * The scorer is packages/asr/src/score.ts, the same code `npm run eval` uses.
 * It is imported by file, not through `@voxfleet/asr`: that package's entry
 * point loads onnxruntime-node (the model runner), which has no business in
 * the gateway process. score.ts imports nothing, so this pulls in only the
 * scoring functions.
 */
import { charErrors, rate, sumCounts, wordErrors, type ErrorCounts } from '../../../packages/asr/src/score.js';

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
