/**
 * npm run -s tokenize -- <tokenizer-dir> <text>
 * Prints the ids of <text> under the Hugging Face tokenizer in <tokenizer-dir>
 * (tokenizer.json or tokenizer.json.gz) as one JSON array on stdout, so they
 * can be checked against another implementation. Special tokens written in the
 * text (`<|im_start|>`) are their single ids; nothing is added around the text.
 * Exit 2 with the usage for wrong arguments, 1 when the tokenizer cannot be loaded.
 */
import { TokenizerLoadError, loadTokenizer } from './tokenizer.js';

const USAGE = `usage: npm run -s tokenize -- <tokenizer-dir> <text>
  prints the token ids of <text> as one JSON array
  <tokenizer-dir>: a Hugging Face tokenizer directory (tokenizer.json or tokenizer.json.gz,
                   optional tokenizer_config.json), e.g. fixtures/qwen3-tokenizer`;

async function main(args: readonly string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir, text] = args;
  if (args.length !== 2 || dir === undefined || dir === '' || text === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    const tokenizer = await loadTokenizer(dir);
    process.stdout.write(`${JSON.stringify(tokenizer.encode(text))}\n`);
    return 0;
  } catch (e) {
    if (e instanceof TokenizerLoadError) {
      process.stderr.write(`tokenize: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
