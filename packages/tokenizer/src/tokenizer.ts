/**
 * A Hugging Face tokenizer directory (`tokenizer.json`, or `tokenizer.json.gz`,
 * plus an optional `tokenizer_config.json`) loaded through
 * `@huggingface/tokenizers` (tokenizers.js, pure JS): the normalizer,
 * pre-tokenizer, BPE model, added tokens and decoder all come from the file,
 * none is written here.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { HfTokenizerClass, type HfTokenizer } from './hf.js';

const gunzipAsync = promisify(gunzip);

/** The files looked for, in this order. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.json.gz'] as const;
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** A tokenizer directory that cannot be loaded: which file, and what is wrong with it. */
export class TokenizerLoadError extends Error {
  override readonly name = 'TokenizerLoadError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** One entry of `added_tokens` in tokenizer.json. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export interface DecodeOptions {
  /** drop the special tokens (`special: true` in tokenizer.json) from the text; default false */
  skipSpecialTokens?: boolean;
}

export interface EncodeOptions {
  /**
   * let the tokenizer's post-processor add its special tokens (BOS/EOS
   * templates). Default false: prompts spell their special tokens out.
   * Qwen's post-processor adds none either way.
   */
  addSpecialTokens?: boolean;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function readJson(file: string, gzipped: boolean): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new TokenizerLoadError(file, `cannot be read: ${errorText(e)}`);
  }
  if (gzipped) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new TokenizerLoadError(file, `not a valid gzip file: ${errorText(e)}`);
    }
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw new TokenizerLoadError(file, `not valid JSON: ${errorText(e)}`);
  }
}

/** The parts of tokenizer.json this package reads itself; the library checks the rest. */
function checkTokenizerJson(file: string, json: unknown): { added: AddedToken[] } {
  if (!isObject(json)) throw new TokenizerLoadError(file, 'not a Hugging Face tokenizer.json: the top level is not an object');
  const model = json['model'];
  if (!isObject(model) || typeof model['type'] !== 'string' || !isObject(model['vocab'])) {
    throw new TokenizerLoadError(file, 'not a Hugging Face tokenizer.json: no "model" with a "type" and a "vocab"');
  }
  const addedRaw = json['added_tokens'] ?? [];
  if (!Array.isArray(addedRaw)) throw new TokenizerLoadError(file, '"added_tokens" is not a list');
  const added: AddedToken[] = [];
  for (const t of addedRaw) {
    if (!isObject(t) || !Number.isInteger(t['id']) || typeof t['content'] !== 'string' || (t['content'] as string).length === 0) {
      throw new TokenizerLoadError(file, `"added_tokens" has an entry without an integer "id" and a non-empty "content": ${JSON.stringify(t)}`);
    }
    added.push({ id: t['id'] as number, content: t['content'] as string, special: t['special'] === true });
  }
  return { added };
}

/**
 * A loaded tokenizer: text ⇄ ids exactly as the directory's tokenizer.json
 * defines them (for Qwen: NFC normalisation, the Qwen2 split regex,
 * byte-level BPE, added tokens matched before the model sees the text).
 */
export class Tokenizer {
  private readonly byContent: ReadonlyMap<string, AddedToken>;
  private readonly addedIds: ReadonlySet<number>;

  private constructor(
    private readonly hf: HfTokenizer,
    /** the file the tokenizer was read from (tokenizer.json or tokenizer.json.gz) */
    readonly file: string,
    /** every entry of `added_tokens`, in file order */
    readonly addedTokens: readonly AddedToken[],
    /** largest id + 1 (base vocabulary and added tokens) */
    readonly vocabSize: number,
  ) {
    this.byContent = new Map(addedTokens.map((t) => [t.content, t]));
    this.addedIds = new Set(addedTokens.map((t) => t.id));
  }

  /**
   * Load a Hugging Face tokenizer directory: `tokenizer.json` (or
   * `tokenizer.json.gz`) and, when present, `tokenizer_config.json`.
   * Throws {@link TokenizerLoadError} naming the missing or broken file.
   */
  static async load(dir: string): Promise<Tokenizer> {
    let dirStat;
    try {
      dirStat = await stat(dir);
    } catch {
      throw new TokenizerLoadError(join(dir, TOKENIZER_FILES[0]), 'missing: no such directory');
    }
    if (!dirStat.isDirectory()) throw new TokenizerLoadError(dir, 'not a directory (give the directory that holds tokenizer.json)');

    let file: string | undefined;
    for (const name of TOKENIZER_FILES) {
      if (await isFile(join(dir, name))) {
        file = join(dir, name);
        break;
      }
    }
    if (file === undefined) throw new TokenizerLoadError(join(dir, TOKENIZER_FILES[0]), `missing (neither ${TOKENIZER_FILES.join(' nor ')} is in the directory)`);
    const json = await readJson(file, file.endsWith('.gz'));
    const { added } = checkTokenizerJson(file, json);

    const configFile = join(dir, TOKENIZER_CONFIG_FILE);
    let config: Record<string, unknown> = {};
    if (await isFile(configFile)) {
      const c = await readJson(configFile, false);
      if (!isObject(c)) throw new TokenizerLoadError(configFile, 'not a JSON object');
      config = c;
    }
    // tokenizers.js cleans up spaces in decoded text unless told not to; the
    // Rust `tokenizers` library that defines tokenizer.json never does, so
    // without a config saying otherwise, neither do we.
    if (config['clean_up_tokenization_spaces'] === undefined) config = { ...config, clean_up_tokenization_spaces: false };

    let hf: HfTokenizer;
    try {
      hf = new HfTokenizerClass(json as object, config);
    } catch (e) {
      throw new TokenizerLoadError(file, `rejected by @huggingface/tokenizers: ${errorText(e)}`);
    }
    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    return new Tokenizer(hf, file, added, maxId + 1);
  }

  /** Text → ids. Added tokens written in the text (`<|im_start|>`) become their single ids. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError('encode: text must be a string');
    const ids = this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
    // a model without byte fallback and without an unknown token has no id
    // for some pieces; say so instead of handing back holes
    if (ids.some((id) => !Number.isInteger(id))) throw new RangeError(`encode: ${this.file} has no id for part of the text (no unknown token defined)`);
    return ids;
  }

  /** Ids → text. Every id must be one the tokenizer has (RangeError otherwise). */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || this.hf.id_to_token(id) === undefined) throw new RangeError(`decode: ${id} is not a token id of ${this.file}`);
    }
    return this.hf.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** Whether an id is one of the added tokens (special or not: `<|im_end|>`, `<think>`). */
  isAddedToken(id: number): boolean {
    return this.addedIds.has(id);
  }

  /** The special tokens (`special: true` in tokenizer.json) by content. */
  get specialTokens(): ReadonlyMap<string, number> {
    return new Map(this.addedTokens.filter((t) => t.special).map((t) => [t.content, t.id]));
  }

  /**
   * The single id of a special token (`'<|im_start|>'`); throws
   * {@link TokenizerLoadError} when the tokenizer has no such special token.
   */
  specialTokenId(content: string): number {
    const t = this.byContent.get(content);
    if (t === undefined || !t.special) throw new TokenizerLoadError(this.file, `has no special token ${JSON.stringify(content)}`);
    return t.id;
  }
}

/** {@link Tokenizer.load}. */
export function loadTokenizer(dir: string): Promise<Tokenizer> {
  return Tokenizer.load(dir);
}
