/**
 * The part of `@huggingface/tokenizers` (0.2.x) this package uses, typed.
 *
 * The package's own declarations (`types/index.d.ts`) import `./core/Tokenizer`
 * without a file extension, which TypeScript's NodeNext resolution does not
 * follow inside an ESM package: with `skipLibCheck` it silently types the
 * whole module as `any`. So the few members used here are declared by hand,
 * as `types/core/Tokenizer.d.ts` of 0.2.0 declares them.
 */
import { Tokenizer } from '@huggingface/tokenizers';

export interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean | null }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}

/** `new Tokenizer(tokenizerJson, tokenizerConfig)`; throws on a tokenizer.json it cannot build. */
export const HfTokenizerClass = Tokenizer as unknown as new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;
