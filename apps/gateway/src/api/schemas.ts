/**
 * Request schemas (zod): every parameter a client can send, validated in one
 * place. A failure becomes a 400 with the field's own error code; ids that
 * cannot exist answer 404 like ids that do not.
 */
import { z } from 'zod';
import { BATCH_ENTRY_STATUSES } from '../batches/views.js';
import { TRANSCRIPT_FORMATS } from '../jobs/render.js';
import { JOB_STATUSES } from '@voxfleet/storage';
import { ApiError, notFound } from '../errors.js';

const LANGUAGE_RE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/;
const blank = (v: unknown): boolean => v === undefined || (typeof v === 'string' && v.trim() === '');

/** `language`: a code like "en" or "en-US"; empty or "auto" → null (the model decides). */
export const language = z
  .string()
  .optional()
  .transform((v) => (blank(v) || v!.trim().toLowerCase() === 'auto' ? null : v!.trim()))
  .refine((v) => v === null || LANGUAGE_RE.test(v), { message: 'language must be a code like "en" or "en-US" (or "auto")' })
  .transform((v) => v?.toLowerCase() ?? null);

/** `priority`: 1 (first) to 100 (last); empty → null (the default for the kind of job). */
export const priority = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? null : Number(v)))
  .refine((v) => v === null || (Number.isInteger(v) && v >= 1 && v <= 100), { message: 'priority must be an integer from 1 (first) to 100 (last)' });

const limit = (dflt: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (blank(v) ? dflt : Number(v)))
    .refine((v) => Number.isInteger(v) && v >= 1 && v <= max, { message: `limit must be an integer from 1 to ${max}` });

const cursor = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? null : v!));

const statusOf = <T extends string>(values: readonly T[]) =>
  z
    .string()
    .optional()
    .transform((v) => (blank(v) ? undefined : v))
    .refine((v): v is T | undefined => v === undefined || (values as readonly string[]).includes(v), { message: `status must be one of ${values.join(', ')}` });

/** `model`: a model name or alias; empty → null (the default model). */
export const model = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? null : v!.trim()))
  .refine((v) => v === null || /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(v), { message: 'model must be a model name or alias (GET /v1/models lists them)' });

/** `itn`: inverse text normalisation (SenseVoice: numbers as digits, punctuation): on/off; empty → null (the model's default, off). */
export const itn = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? undefined : v!.trim().toLowerCase()))
  .refine((v) => v === undefined || ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'].includes(v), { message: 'itn must be on or off (true/false)' })
  .transform((v) => (v === undefined ? null : ['1', 'true', 'on', 'yes'].includes(v)));

/**
 * `hotwords` (Fun-ASR-Nano): words the model should expect, separated by commas (also ，；; or new lines,
 * as sherpa-onnx parses them); empty → null (none). At most 50 words of at most 64 characters.
 */
export const hotwords = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? [] : v!.split(/[,;\n\r\t，；]/u).map((w) => w.trim()).filter((w) => w !== '')))
  .refine((v) => v.length <= 50, { message: 'at most 50 hotwords' })
  .refine((v) => v.every((w) => [...w].length <= 64), { message: 'a hotword has at most 64 characters' })
  .refine((v) => v.every((w) => !/[<>]\|/u.test(w) && !/\|[<>]/u.test(w)), { message: 'hotwords are plain words (no special tokens)' })
  .transform((v) => (v.length === 0 ? null : v));

export const jobUploadFields = z.object({ language, priority, model, itn, hotwords });

export const listJobsQuery = z.object({ status: statusOf(JOB_STATUSES), limit: limit(20, 100), cursor });

export const waitQuery = z.object({
  wait: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? 0 : Number(v)))
    .refine((v) => Number.isFinite(v) && v >= 0, { message: 'wait must be a number of seconds ≥ 0' }),
});

export const transcriptFormat = z
  .string()
  .optional()
  .transform((v) => (blank(v) ? 'json' : v!.toLowerCase()))
  .refine((v): v is (typeof TRANSCRIPT_FORMATS)[number] => (TRANSCRIPT_FORMATS as readonly string[]).includes(v), { message: `format must be one of ${TRANSCRIPT_FORMATS.join(', ')}` });

export const transcriptQuery = z.object({ format: transcriptFormat });

export const batchFields = z.object({
  language,
  priority,
  model,
  itn,
  hotwords,
  reference: z
    .string()
    .optional()
    .transform((v) => (blank(v) ? 'none' : v!.trim().toLowerCase()))
    .refine((v) => v === 'sidecar' || v === 'none', { message: 'reference must be "sidecar" (a same-named .txt beside each audio file) or "none"' })
    .transform((v) => (v === 'sidecar' ? ('sidecar' as const) : null)),
  callback_url: z
    .string()
    .optional()
    .transform((v) => (blank(v) ? null : v!.trim())),
});

export const listEntriesQuery = z.object({ status: statusOf(BATCH_ENTRY_STATUSES), limit: limit(100, 1000), cursor });

export const resultsQuery = z.object({
  format: z
    .string()
    .optional()
    .transform((v) => (v === undefined ? 'jsonl' : v.toLowerCase()))
    .refine((v): v is 'jsonl' | 'csv' | 'zip' => ['jsonl', 'csv', 'zip'].includes(v), { message: 'format must be one of jsonl, csv, zip' }),
  transcript: z
    .string()
    .optional()
    .refine((v) => blank(v) || (TRANSCRIPT_FORMATS as readonly string[]).includes(v!.toLowerCase()), { message: `transcript must be one of ${TRANSCRIPT_FORMATS.join(', ')}` })
    .transform((v) => (blank(v) ? undefined : (v!.toLowerCase() as (typeof TRANSCRIPT_FORMATS)[number]))),
});

/** The error code each field reports. */
const FIELD_CODES: Record<string, string> = {
  language: 'invalid_language',
  priority: 'invalid_priority',
  status: 'invalid_status',
  limit: 'invalid_limit',
  cursor: 'invalid_cursor',
  wait: 'invalid_wait',
  format: 'invalid_format',
  transcript: 'invalid_format',
  reference: 'invalid_reference',
  model: 'unknown_model',
  itn: 'invalid_itn',
  hotwords: 'invalid_hotwords',
  callback_url: 'invalid_callback_url',
};

/** Parses `input` with `schema`; the first failing field answers 400 with its code. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = String(issue.path[0] ?? '');
  throw new ApiError(400, FIELD_CODES[field] ?? 'invalid_request', issue.message);
}

const JOB_ID = /^j_[A-Za-z0-9_-]{8,64}$/;
const BATCH_ID = /^b_[A-Za-z0-9_-]{8,64}$/;

export function jobId(id: string): string {
  if (!JOB_ID.test(id)) throw notFound();
  return id;
}

export function batchId(id: string): string {
  if (!BATCH_ID.test(id)) throw notFound('batch');
  return id;
}
