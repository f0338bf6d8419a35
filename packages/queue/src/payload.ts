/**
 * What the gateway and the workers must agree on about a task: the payload
 * schema (keys and metadata, never audio bytes), task ids and result-cache
 * keys.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Version 2 made `modelId` nullable and added `modelName`; version 1 payloads still parse. */
export const PAYLOAD_VERSION = 2;

/** What a worker needs to transcribe one task. The audio itself stays in the blob store. */
export const transcribeJobSchema = z.object({
  v: z.union([z.literal(1), z.literal(PAYLOAD_VERSION)]),
  /** blob store key of the uploaded audio */
  blobKey: z.string().min(1),
  md5: z.string().regex(/^[0-9a-f]{32}$/),
  bytes: z.number().int().nonnegative(),
  filename: z.string(),
  durationSec: z.number().nonnegative(),
  /** requested language, or null for the model's own */
  language: z.string().nullable(),
  /** inverse text normalisation asked for (SenseVoice), or null for the model's default */
  itn: z.boolean().nullable().default(null),
  /** hotwords for the model's prompt (Fun-ASR-Nano); absent or null: none */
  hotwords: z.array(z.string().min(1)).nullish(),
  /** identity of the model the task was keyed for (see `modelIdentity`); null when no worker had announced one yet */
  modelId: z.string().min(1).nullable(),
  /** that model's name (identities of one name differ in weights, decoder or precision) */
  modelName: z.string().min(1).nullable().default(null),
  /** result-cache key the gateway claimed for this task (md5 + modelId + options + scope) */
  cacheKey: z.string().regex(/^[0-9a-f]{32,64}$/),
  /** the cache scope the key was made with (the owner's id, or '' when the cache is shared) */
  cacheScope: z.string().default(''),
  submittedAt: z.number().int(),
  /** W3C trace context of the gateway's enqueue span, so the worker's spans join the request's trace (nothing else of telemetry rides here) */
  traceparent: z.string().max(128).optional(),
});
export type TranscribeJob = z.infer<typeof transcribeJobSchema>;

/** What a job returns to BullMQ (small: the transcript itself lives in the result store). */
export interface TranscribeReturn {
  status: 'completed';
  workerId: string;
  textLength: number;
  batchSizes: number[];
}

/** Options that change the transcript; everything in here is part of the cache key. */
export interface OutputOptions {
  language: string | null;
  itn?: boolean | null;
  /** Fun-ASR-Nano's hotwords (keyed only when there are some) */
  hotwords?: string[] | null;
}

/** What a cached transcript is keyed by. */
export interface CacheKeyParts {
  md5: string;
  /** the model identity; null (no worker has announced its model yet) keys on the queue instead, so such tasks still deduplicate in flight */
  modelId: string | null;
  options: OutputOptions;
  queue: string;
  /** whose cache: the owner's id, so tenants never see each other's entries; '' for a cache shared by all */
  scope: string;
}

/** Result-cache key: MD5 of the audio + model identity + the options that change the output + the tenant scope. */
export function cacheKeyFor(p: CacheKeyParts): string {
  const canonical = JSON.stringify({ md5: p.md5, modelId: p.modelId ?? `unresolved:${p.queue}`, language: p.options.language ?? null, ...(p.options.itn != null ? { itn: p.options.itn } : {}), ...(p.options.hotwords?.length ? { hotwords: p.options.hotwords } : {}), scope: p.scope });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 40);
}

/** Model names: what `model` asks for; they also name the model's queue. */
export const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The queue of a model: `<base>-<model name>` (BullMQ queue names may not contain ':'). */
export function modelQueueName(base: string, model: string): string {
  if (!MODEL_NAME_RE.test(model)) throw new Error(`invalid model name "${model}": use letters, digits, ".", "_" and "-"`);
  return `${base}-${model}`;
}

/** BullMQ ids may not contain ':' (they become parts of Redis keys). */
export function assertJobId(id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`invalid job id "${id}": use [A-Za-z0-9_-] only (no ':')`);
  return id;
}

/**
 * Task (BullMQ job) id for a cache key. All identical uploads in flight share
 * one task; `generation` starts a fresh task once a previous one has finished.
 */
export function taskIdFor(cacheKey: string, generation: string): string {
  return assertJobId(`t-${cacheKey}-${generation}`);
}
