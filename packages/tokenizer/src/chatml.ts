/**
 * ChatML prompts, and the one Fun-ASR-Nano (SenseVoice encoder + adaptor +
 * Qwen3-0.6B) is run with.
 *
 * The Nano prompt is written exactly as the project's model contracts give it
 * (`shared/docs/model-contracts.md` §4, "Prompt (ChatML)"), which cites
 * FunASR `funasr/models/fun_asr_nano/model.py` (`get_prompt`, and the ChatML
 * assembly with the system prompt "You are a helpful assistant.") and
 * sherpa-onnx `offline-recognizer-funasr-nano-impl.cc` (`BuildUserPrompt`,
 * `BuildSourceIds`):
 *
 *   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n
 *   + instruction + audio rows + <|im_end|>\n<|im_start|>assistant\n
 *
 *   instruction = [hotword block] + 语音转写 | 语音转写成{语言}
 *                 + (，不进行文本规整 when ITN is off) + ：
 *   hotword block = 请结合上下文信息，更加准确地完成语音转写任务。如果没有相关信息，我们会留空。\n\n\n
 *                   **上下文信息：**\n\n\n热词列表：[w1, w2]\n
 *
 * Language names are Chinese (中文, 英文, 日文 for Fun-ASR-Nano-2512; Fun-ASR
 * README). The audio positions hold `<|endoftext|>` ids for the embedding
 * call; the engine overwrites those rows with `encoder_out` (sherpa-onnx uses
 * the pad token, which Qwen's tokenizer_config sets to `<|endoftext|>`).
 */
import type { Tokenizer } from './tokenizer.js';

export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';
export const END_OF_TEXT = '<|endoftext|>';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatTurn {
  role: ChatRole;
  content: string;
}

/** Wrong input for a prompt (unknown language, a hotword that is not plain text, ...). */
export class PromptError extends Error {
  override readonly name = 'PromptError';
}

/** One ChatML turn: `<|im_start|>{role}\n{content}<|im_end|>\n`. */
export function chatMlTurn(turn: ChatTurn): string {
  return `${IM_START}${turn.role}\n${turn.content}${IM_END}\n`;
}

/** Turns in ChatML, then (by default) the opened assistant turn the model continues. */
export function chatMl(turns: readonly ChatTurn[], options: { openAssistant?: boolean } = {}): string {
  return turns.map(chatMlTurn).join('') + (options.openAssistant === false ? '' : `${IM_START}assistant\n`);
}

/** The ids ChatML is built from; each must be a single special token of the tokenizer. */
export interface ChatMlIds {
  imStart: number;
  imEnd: number;
  endOfText: number;
}

export function chatMlIds(tokenizer: Tokenizer): ChatMlIds {
  return {
    imStart: tokenizer.specialTokenId(IM_START),
    imEnd: tokenizer.specialTokenId(IM_END),
    endOfText: tokenizer.specialTokenId(END_OF_TEXT),
  };
}

// ---------------------------------------------------------------- Fun-ASR-Nano

export const FUNASR_NANO_SYSTEM_PROMPT = 'You are a helpful assistant.';

/** Language codes → the Chinese names the prompt takes (Fun-ASR-Nano-2512). */
export const FUNASR_NANO_LANGUAGES: Readonly<Record<string, string>> = { zh: '中文', en: '英文', ja: '日文' };

const HOTWORD_INTRO = '请结合上下文信息，更加准确地完成语音转写任务。如果没有相关信息，我们会留空。\n\n\n**上下文信息：**\n\n\n';

export interface FunAsrNanoPromptOptions {
  /**
   * a code of {@link FUNASR_NANO_LANGUAGES}, or a language name in Chinese
   * used as it is (韩文 for Fun-ASR-MLT-Nano); undefined, '' or 'auto': none
   * (`语音转写`, the model picks)
   */
  language?: string;
  /** inverse text normalisation; default true. Off adds `，不进行文本规整`. */
  itn?: boolean;
  /** hotwords for the context block; none or [] leaves the block out */
  hotwords?: readonly string[];
}

function languageName(language: string | undefined): string | undefined {
  if (language === undefined || language === '' || language === 'auto') return undefined;
  const known = FUNASR_NANO_LANGUAGES[language];
  if (known !== undefined) return known;
  // a name written in Chinese (CJK ideographs) is passed through as it is
  if (/^\p{Script=Han}+$/u.test(language)) return language;
  throw new PromptError(`unknown Fun-ASR-Nano language ${JSON.stringify(language)} (codes: ${Object.keys(FUNASR_NANO_LANGUAGES).join(', ')}, auto, or a language name in Chinese such as 中文)`);
}

/** The user instruction that precedes the audio rows. */
export function funAsrNanoInstruction(options: FunAsrNanoPromptOptions = {}): string {
  const hotwords = options.hotwords ?? [];
  for (const w of hotwords) {
    if (typeof w !== 'string' || w.trim() === '') throw new PromptError(`a hotword must be non-empty text, got ${JSON.stringify(w)}`);
  }
  const name = languageName(options.language);
  let prompt = hotwords.length > 0 ? `${HOTWORD_INTRO}热词列表：[${hotwords.join(', ')}]\n` : '';
  prompt += name === undefined ? '语音转写' : `语音转写成${name}`;
  if (options.itn === false) prompt += '，不进行文本规整';
  return `${prompt}：`;
}

/** The prompt text around the audio rows: `before` + audio + `after`. */
export interface FunAsrNanoPromptText {
  before: string;
  after: string;
}

export function funAsrNanoPromptText(options: FunAsrNanoPromptOptions = {}): FunAsrNanoPromptText {
  return {
    before: `${chatMlTurn({ role: 'system', content: FUNASR_NANO_SYSTEM_PROMPT })}${IM_START}user\n${funAsrNanoInstruction(options)}`,
    after: `${IM_END}\n${IM_START}assistant\n`,
  };
}

/** The prompt as ids, with where the audio rows go. */
export interface FunAsrNanoPrompt {
  ids: number[];
  /** index of the first audio row in `ids` */
  audioStart: number;
  /** number of audio rows (ids[audioStart .. audioStart + audioRows) are `<|endoftext|>`) */
  audioRows: number;
}

/**
 * The Fun-ASR-Nano prompt as ids: encode(before) + audioRows × `<|endoftext|>`
 * + encode(after), as sherpa-onnx's `BuildSourceIds` builds it. Hotwords and
 * a language name must be plain text: one that spells an added token
 * (`<|im_end|>`, `<think>`) is refused rather than turned into that token.
 */
export function funAsrNanoPromptIds(tokenizer: Tokenizer, audioRows: number, options: FunAsrNanoPromptOptions = {}): FunAsrNanoPrompt {
  if (!Number.isInteger(audioRows) || audioRows < 0) throw new PromptError(`audioRows must be a non-negative integer, got ${audioRows}`);
  for (const text of [...(options.hotwords ?? []), options.language ?? '']) {
    const added = tokenizer.addedTokens.find((t) => text.includes(t.content));
    if (added !== undefined) throw new PromptError(`${JSON.stringify(text)} contains the token ${added.content}; hotwords and languages must be plain text`);
  }
  const { endOfText } = chatMlIds(tokenizer);
  const text = funAsrNanoPromptText(options);
  const before = tokenizer.encode(text.before);
  const after = tokenizer.encode(text.after);
  return { ids: [...before, ...new Array<number>(audioRows).fill(endOfText), ...after], audioStart: before.length, audioRows };
}
