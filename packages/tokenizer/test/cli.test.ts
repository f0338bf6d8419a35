/**
 * `npm run -s tokenize -- <tokenizer-dir> <text>` as a child process: one JSON
 * array of ids on stdout (equal to the reference implementation's), usage on
 * stderr and exit 2 for wrong arguments, exit 1 naming the file for a missing
 * tokenizer.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { QWEN3_DIR, REPO_ROOT, reference } from './helpers.js';

function tokenize(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('npm', ['run', '-s', 'tokenize', '--', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run -s tokenize', () => {
  it('prints exactly one JSON array of ids, equal to the reference', () => {
    const text = '<|im_start|>user\n我哋去飲茶 and 寿司 🍣 한국어 123<|im_end|>\n';
    const r = tokenize('fixtures/qwen3-tokenizer', text);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    const ids: unknown = JSON.parse(r.stdout);
    expect(ids).toEqual(reference().encode(text));
    // an absolute directory works the same; an empty text is []
    expect(JSON.parse(tokenize(QWEN3_DIR, 'hello').stdout)).toEqual([14990]);
    expect(tokenize(QWEN3_DIR, '').stdout).toBe('[]\n');
  });

  it('wrong arguments: usage on stderr, nothing on stdout, exit 2', () => {
    for (const args of [[], ['fixtures/qwen3-tokenizer'], ['fixtures/qwen3-tokenizer', 'a', 'b']]) {
      const r = tokenize(...args);
      expect(r.status, JSON.stringify(args)).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^usage: npm run -s tokenize -- <tokenizer-dir> <text>/);
    }
  });

  it('a directory without a tokenizer: exit 1, the file named on stderr', () => {
    const r = tokenize('fixtures', 'x');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/tokenize: fixtures\/tokenizer\.json: missing/);
  });
});
