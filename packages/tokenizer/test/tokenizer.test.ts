/**
 * Loading a Hugging Face tokenizer directory (plain or gzipped tokenizer.json),
 * the special tokens as single ids, decode's guards, and a typed error naming
 * the file for a missing or broken tokenizer.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenizerLoadError, chatMlIds, loadTokenizer, type Tokenizer } from '../src/index.js';
import { QWEN3_DIR } from './helpers.js';

async function loadError(dir: string): Promise<TokenizerLoadError> {
  const err = await loadTokenizer(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenizerLoadError);
  return err as TokenizerLoadError;
}

describe('tokenizer loading', () => {
  let tok: Tokenizer;
  let work: string;
  beforeAll(async () => {
    tok = await loadTokenizer(QWEN3_DIR);
    work = await mkdtemp(join(tmpdir(), 'voxfleet-tokenizer-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('loads the gzipped fixture; special tokens are their single ids', () => {
    expect(tok.file).toBe(join(QWEN3_DIR, 'tokenizer.json.gz'));
    expect(chatMlIds(tok)).toEqual({ imStart: 151644, imEnd: 151645, endOfText: 151643 });
    for (const [content, id] of [
      ['<|endoftext|>', 151643],
      ['<|im_start|>', 151644],
      ['<|im_end|>', 151645],
    ] as const) {
      expect(tok.specialTokenId(content)).toBe(id);
      expect(tok.specialTokens.get(content)).toBe(id);
      expect(tok.encode(content)).toEqual([id]);
      expect(tok.decode([id])).toBe(content);
      expect(tok.tokenToId(content)).toBe(id);
      expect(tok.idToToken(id)).toBe(content);
    }
    // added but not special: <think> is one id, yet not a special token
    expect(tok.encode('<think>')).toEqual([151667]);
    expect(tok.isAddedToken(151667)).toBe(true);
    expect(tok.specialTokens.has('<think>')).toBe(false);
    expect(() => tok.specialTokenId('<think>')).toThrow(TokenizerLoadError);
    expect(() => tok.specialTokenId('<|pad|>')).toThrow(/has no special token "<\|pad\|>"/);
    expect(tok.vocabSize).toBe(151669);
  });

  it('encodes and decodes; skipSpecialTokens drops the special tokens', () => {
    const ids = tok.encode('<|im_start|>user\nhello world<|im_end|>');
    expect(ids).toEqual([151644, 872, 198, 14990, 1879, 151645]);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nhello world');
    expect(tok.encode('')).toEqual([]);
    expect(tok.decode([])).toBe('');
  });

  it('decode refuses ids the tokenizer does not have', () => {
    expect(() => tok.decode([151669])).toThrow(RangeError);
    expect(() => tok.decode([-1])).toThrow(RangeError);
    expect(() => tok.decode([1.5])).toThrow(RangeError);
  });

  it('loads a directory with a plain tokenizer.json the same way', async () => {
    const dir = join(work, 'plain');
    await mkdir(dir);
    await writeFile(join(dir, 'tokenizer.json'), gunzipSync(readFileSync(join(QWEN3_DIR, 'tokenizer.json.gz'))));
    await copyFile(join(QWEN3_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    const plain = await loadTokenizer(dir);
    expect(plain.file).toBe(join(dir, 'tokenizer.json'));
    const text = '<|im_start|>系统 test 123 👩🏽‍💻<|im_end|>';
    expect(plain.encode(text)).toEqual(tok.encode(text));
  });

  it('a missing directory, a directory without tokenizer.json and a file instead of a directory name the file', async () => {
    let err = await loadError(join(work, 'nope'));
    expect(err.file).toBe(join(work, 'nope', 'tokenizer.json'));
    expect(err.message).toMatch(/tokenizer\.json: missing/);

    const empty = join(work, 'empty');
    await mkdir(empty);
    err = await loadError(empty);
    expect(err.file).toBe(join(empty, 'tokenizer.json'));
    expect(err.problem).toMatch(/neither tokenizer\.json nor tokenizer\.json\.gz/);

    err = await loadError(join(QWEN3_DIR, 'tokenizer_config.json'));
    expect(err.problem).toMatch(/not a directory/);
  });

  it('broken files: bad JSON, not a tokenizer, bad gzip, bad added tokens, bad config', async () => {
    const cases: [string, string | Buffer, RegExp][] = [
      ['tokenizer.json', '{"model": ', /not valid JSON/],
      ['tokenizer.json', '[1, 2]', /not a Hugging Face tokenizer\.json/],
      ['tokenizer.json', '{"version": "1.0"}', /no "model" with a "type" and a "vocab"/],
      ['tokenizer.json', JSON.stringify({ model: { type: 'BPE', vocab: {} }, added_tokens: [{ id: 'x', content: '' }] }), /"added_tokens" has an entry/],
      ['tokenizer.json', JSON.stringify({ model: { type: 'NoSuchModel', vocab: {} }, added_tokens: [] }), /rejected by @huggingface\/tokenizers/],
      ['tokenizer.json.gz', Buffer.from('not gzip at all'), /not a valid gzip file/],
      ['tokenizer.json.gz', gzipSync('{"model": '), /not valid JSON/],
    ];
    let n = 0;
    for (const [name, content, problem] of cases) {
      const dir = join(work, `broken-${n++}`);
      await mkdir(dir);
      await writeFile(join(dir, name), content);
      const err = await loadError(dir);
      expect(err.file, String(problem)).toBe(join(dir, name));
      expect(err.problem).toMatch(problem);
      expect(err.message.startsWith(`${join(dir, name)}: `)).toBe(true);
    }

    const dir = join(work, 'bad-config');
    await mkdir(dir);
    await copyFile(join(QWEN3_DIR, 'tokenizer.json.gz'), join(dir, 'tokenizer.json.gz'));
    await writeFile(join(dir, 'tokenizer_config.json'), '{oops');
    const err = await loadError(dir);
    expect(err.file).toBe(join(dir, 'tokenizer_config.json'));
    expect(err.problem).toMatch(/not valid JSON/);
  });

  it('without tokenizer_config.json it still loads and decodes without space clean-up', async () => {
    const dir = join(work, 'no-config');
    await mkdir(dir);
    await copyFile(join(QWEN3_DIR, 'tokenizer.json.gz'), join(dir, 'tokenizer.json.gz'));
    const bare = await loadTokenizer(dir);
    const text = "a , b . c 's";
    expect(bare.encode(text)).toEqual(tok.encode(text));
    expect(bare.decode(bare.encode(text))).toBe(text);
  });
});
