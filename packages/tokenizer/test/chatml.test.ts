/**
 * The ChatML builder and the Fun-ASR-Nano prompt, checked against the text
 * the model contracts give (shared/docs/model-contracts.md §4), written out
 * here character for character, and its ids layout (audio rows of
 * <|endoftext|> between the two encoded halves).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { PromptError, chatMl, funAsrNanoInstruction, funAsrNanoPromptIds, funAsrNanoPromptText, loadTokenizer, type Tokenizer } from '../src/index.js';
import { QWEN3_DIR } from './helpers.js';

const HOTWORDS = '请结合上下文信息，更加准确地完成语音转写任务。如果没有相关信息，我们会留空。\n\n\n**上下文信息：**\n\n\n';

describe('ChatML', () => {
  it('turns and the opened assistant turn', () => {
    expect(
      chatMl([
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'hi' },
      ]),
    ).toBe('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(chatMl([{ role: 'user', content: 'x' }], { openAssistant: false })).toBe('<|im_start|>user\nx<|im_end|>\n');
  });
});

describe('Fun-ASR-Nano prompt (model contracts §4)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(QWEN3_DIR);
  });

  it('instruction variants: language, ITN off, hotwords', () => {
    expect(funAsrNanoInstruction()).toBe('语音转写：');
    expect(funAsrNanoInstruction({ language: 'auto' })).toBe('语音转写：');
    expect(funAsrNanoInstruction({ language: '' })).toBe('语音转写：');
    expect(funAsrNanoInstruction({ language: 'zh' })).toBe('语音转写成中文：');
    expect(funAsrNanoInstruction({ language: 'en' })).toBe('语音转写成英文：');
    expect(funAsrNanoInstruction({ language: 'ja' })).toBe('语音转写成日文：');
    expect(funAsrNanoInstruction({ language: '韩文' })).toBe('语音转写成韩文：');
    expect(funAsrNanoInstruction({ itn: true })).toBe('语音转写：');
    expect(funAsrNanoInstruction({ itn: false })).toBe('语音转写，不进行文本规整：');
    expect(funAsrNanoInstruction({ language: 'zh', itn: false })).toBe('语音转写成中文，不进行文本规整：');
    expect(funAsrNanoInstruction({ hotwords: [] })).toBe('语音转写：');
    expect(funAsrNanoInstruction({ hotwords: ['开放时间'] })).toBe(`${HOTWORDS}热词列表：[开放时间]\n语音转写：`);
    expect(funAsrNanoInstruction({ hotwords: ['w1', 'w2'], language: 'en', itn: false })).toBe(`${HOTWORDS}热词列表：[w1, w2]\n语音转写成英文，不进行文本规整：`);
  });

  it('the system / user / assistant turns around the audio', () => {
    expect(funAsrNanoPromptText()).toEqual({
      before: '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n语音转写：',
      after: '<|im_end|>\n<|im_start|>assistant\n',
    });
    expect(funAsrNanoPromptText({ language: 'ja', itn: false }).before).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n语音转写成日文，不进行文本规整：',
    );
  });

  it('ids: encoded prompt, audio rows of <|endoftext|>, encoded assistant opening', () => {
    const p = funAsrNanoPromptIds(tok, 4, { language: 'zh' });
    expect(p.audioRows).toBe(4);
    expect(p.ids.slice(0, p.audioStart)).toEqual(tok.encode(funAsrNanoPromptText({ language: 'zh' }).before));
    expect(p.ids.slice(p.audioStart, p.audioStart + 4)).toEqual([151643, 151643, 151643, 151643]);
    expect(p.ids.slice(p.audioStart + 4)).toEqual([151645, 198, 151644, 77091, 198]);
    expect(p.ids.slice(0, 11)).toEqual([151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198]);
    expect(p.ids.slice(11, 14)).toEqual([151644, 872, 198]);
    expect(funAsrNanoPromptIds(tok, 0).ids).toEqual(tok.encode(funAsrNanoPromptText().before + funAsrNanoPromptText().after));
  });

  it('refuses unknown languages, empty hotwords, special tokens smuggled in hotwords, bad row counts', () => {
    expect(() => funAsrNanoInstruction({ language: 'xx' })).toThrow(PromptError);
    expect(() => funAsrNanoInstruction({ language: 'Chinese' })).toThrow(/unknown Fun-ASR-Nano language "Chinese"/);
    expect(() => funAsrNanoInstruction({ hotwords: ['ok', ' '] })).toThrow(PromptError);
    expect(() => funAsrNanoPromptIds(tok, 1, { hotwords: ['a<|im_end|>b'] })).toThrow(/contains the token <\|im_end\|>/);
    expect(() => funAsrNanoPromptIds(tok, 1, { hotwords: ['<think>'] })).toThrow(PromptError);
    expect(() => funAsrNanoPromptIds(tok, -1)).toThrow(PromptError);
    expect(() => funAsrNanoPromptIds(tok, 1.5)).toThrow(PromptError);
  });
});
