/**
 * The one place that turns environment variables into typed, validated
 * configuration for the gateway, the worker, Redis and storage. Every app
 * calls one of the `*ConfigFromEnv` functions at start and prints the result
 * with `redact` (API keys and passwords masked).
 */
import { isAbsolute, resolve } from 'node:path';
import { hostname } from 'node:os';
import { z } from 'zod';

/** Repository root (config lives at packages/config/src). */
export const REPO_ROOT = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');
export const DEFAULT_REDIS_PORT = 6390;

const HOUR = 3600;
const DAY = 24 * HOUR;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** The project's own default model (models/<this>). */
export const DEFAULT_MODEL_NAME = 'voxfleet-en-char-ctc';

export const redisConfigSchema = z.object({
  url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
  /** namespace for VoxFleet's own keys (BullMQ keeps its `bull:` prefix) */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_-]+$/),
  /** a gateway's own Redis call (and a queue call behind an HTTP request) fails after this long instead of waiting for Redis */
  commandTimeoutMs: int(50, 60_000),
  /**
   * Redis Sentinel (null: connect to `url` directly). With it, every connection asks the sentinels
   * for the current primary of `name`; `url` then supplies only the data nodes' credentials, db and TLS.
   */
  sentinel: z
    .object({
      nodes: z.array(z.object({ host: z.string().min(1), port: int(1, 65535) })).min(1),
      /** the master name the sentinels monitor (`sentinel monitor <name> …`) */
      name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'master names use letters, digits, ".", "_" and "-"'),
      /** the sentinels' own password (`requirepass` in sentinel.conf), empty for none */
      password: z.string(),
    })
    .nullable(),
  /**
   * Replicas that must have a submission's writes before the gateway acknowledges it (202/200; Redis
   * `WAIT`): replication is asynchronous, so without it a job acknowledged just before the primary dies
   * can be missing on the promoted replica. 0 = acknowledge without waiting.
   */
  ackReplicas: int(0, 16),
  /** how long the gateway waits for those replicas before it answers 503 instead */
  ackTimeoutMs: int(10, 60_000),
});

/** The S3-compatible bucket blobs live in with VOXFLEET_BLOB_STORE=s3 (hosts that share no disk). */
export const s3ConfigSchema = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'VOXFLEET_S3_BUCKET must name a bucket (3-63 lower-case letters, digits, "." and "-")'),
    /** object keys are `<prefix><xx>/<uuid>` */
    prefix: z.string().regex(/^$|^[A-Za-z0-9._/-]*\/$/, 'VOXFLEET_S3_PREFIX must be empty or end with "/" (letters, digits, ".", "_", "-", "/")'),
    region: z.string().min(1),
    /** an S3-compatible server; absent: AWS's endpoint for the region */
    endpoint: z.string().regex(/^https?:\/\/[^\s/]+/, 'VOXFLEET_S3_ENDPOINT must be an http:// or https:// URL').optional(),
    forcePathStyle: z.boolean(),
    /** absent (both): the AWS SDK's default credential chain */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** temporary local copies for decoders that seek (this host's own disk) */
    tmpDir: z.string(),
  })
  .refine((s) => (s.accessKeyId === undefined) === (s.secretAccessKey === undefined), {
    message: 'set both VOXFLEET_S3_ACCESS_KEY_ID and VOXFLEET_S3_SECRET_ACCESS_KEY, or neither (the AWS default credential chain)',
  });

export const storageConfigSchema = z.object({
  varDir: z.string(),
  /** where blobs live: a directory (`local`, shared by the processes of one host or a shared volume) or an S3 bucket */
  blobStore: z.enum(['local', 's3'], 'VOXFLEET_BLOB_STORE must be local or s3'),
  blobDir: z.string(),
  s3: s3ConfigSchema.nullable(),
  /** jobs, results and blobs older than this are deleted */
  retentionSec: int(60),
  /** how long a transcript stays in the result cache */
  cacheTtlSec: int(1),
  /** one result cache for all API keys (saves transcribing the same audio twice; reveals to a tenant that someone sent that exact audio) */
  cacheShared: z.boolean(),
});

export const queueConfigSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'queue names may not contain ":"'),
  attempts: int(1, 100),
  backoffMs: int(0),
});

export const gatewayConfigSchema = z.object({
  host: z.string().min(1),
  port: int(0, 65535),
  /** keys accepted in `Authorization: Bearer …`; empty = generate one on first start */
  apiKeys: z.array(z.string().min(16, 'API keys need at least 16 characters')),
  authEnabled: z.boolean(),
  adminUser: z.string().min(1),
  /** Bull Board password; empty = generated at first start into `<var>/admin-password` (never an API key) */
  adminPassword: z.string(),
  maxUploadBytes: int(1),
  maxAudioSec: z.coerce.number().positive(),
  /** upper bound for `?wait=` long polls */
  maxWaitSec: int(0, 600),
  /** how often retention cleanup runs (0 = never) */
  cleanupIntervalSec: int(0),
  /** trust X-Forwarded-* (behind a reverse proxy) */
  trustProxy: z.boolean(),
  /** SIGTERM: the process exits within this long even if Redis or a client does not let it close cleanly */
  drainTimeoutMs: int(100),
});

/** The gateway's HTTP hardening: timeouts and in-process rate limits (each gateway process enforces its own). */
export const httpConfigSchema = z.object({
  /** the request line and headers must arrive within this */
  headersTimeoutMs: int(1000),
  /** the whole request (headers and body) must arrive within this; 0 = no limit */
  requestTimeoutMs: int(0),
  /** an upload body that sends nothing for this long is cut (408) */
  bodyIdleTimeoutMs: int(100),
  /** and one slower than this on average, after `bodyIdleTimeoutMs` of grace, bytes/s; 0 = no minimum */
  bodyMinBytesPerSec: int(0),
  /** uploads (`POST /v1/jobs`, `POST /v1/batches`) per API key: sustained rate per second (0 = no limit) and burst */
  uploadsPerSec: z.coerce.number().min(0),
  uploadBurst: int(1),
  /** failed authentications per client address: sustained rate per minute (0 = no limit) and burst */
  authFailuresPerMin: z.coerce.number().min(0),
  authFailureBurst: int(1),
});

/** The models the fleet serves, as the gateway routes to them (the workers announce what they hold). */
export const modelsConfigSchema = z.object({
  /** model names jobs may ask for (`model`); a configured model with no live worker queues its jobs until one comes */
  names: z.array(z.string().regex(MODEL_NAME, 'model names use letters, digits, ".", "_" and "-"')).min(1),
  /** the model of a job that names none */
  defaultModel: z.string().min(1),
  /** alias → model name */
  aliases: z.record(z.string(), z.string()),
});

/** Archive batches (`POST /v1/batches`) and their completion callbacks. */
export const batchConfigSchema = z.object({
  /** largest archive accepted (compressed, as uploaded) */
  maxArchiveBytes: int(1),
  /** most entries (files, folders, anything) in one archive */
  maxEntries: int(1),
  /** sum of the entries' uncompressed sizes */
  maxTotalBytes: int(1),
  /** uncompressed/compressed ratio above which an entry (zip) or the gzip stream (tar.gz) is a bomb */
  maxRatio: z.coerce.number().min(1),
  /** the ratio guard applies once an entry (or the stream) has produced this many bytes */
  ratioMinBytes: int(0),
  /** jobs per BullMQ addBulk call while ingesting */
  enqueueChunk: int(1, 10_000),
  /** callbacks to loopback/private/link-local addresses (off: only public addresses) */
  callbackAllowPrivate: z.boolean(),
  /** signing secret when auth is off (with auth on, each API key's secret is derived from it) */
  callbackSecret: z.string(),
  callbackAttempts: int(1, 20),
  callbackBackoffMs: int(0),
  callbackTimeoutMs: int(100),
});

export const workerConfigSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  maxBatch: int(1, 256),
  maxWaitMs: int(0, 60_000),
  /** a batch's padded size (batch size × longest item, in model frames) stays within this */
  maxFrames: int(1),
  /** cost of one extra batch in model frames: length grouping splits when that saves more padding */
  batchOverheadFrames: int(0),
  /** run a batch at once when nothing else is decoding locally or waiting in the queue */
  adaptiveWait: z.boolean(),
  /**
   * batches sent to an engine at once; 0 (auto): 1, or 2 for an engine that decodes overlapping batches
   * together (continuous batching: Fun-ASR-Nano), so the next batch's sequences join the running decode
   */
  batchesInFlight: int(0, 64),
  /** jobs held at once (above maxBatch: the next batch decodes while this one infers) */
  concurrency: int(1, 4096),
  /** longest segment long audio is cut into (at pauses) */
  segmentMaxSec: z.coerce.number().min(1).max(120),
  /** heartbeat key TTL; the worker refreshes it every third of that */
  heartbeatTtlMs: int(1000),
  /** BullMQ job lock: a crashed worker's jobs are taken up again once their lock expires */
  lockDurationMs: int(1000),
  /** how often a worker looks for jobs whose lock expired (stalled) */
  stalledIntervalMs: int(500),
  /** a task for another model waits this long (after submission) for a worker holding it, then fails model_unavailable */
  modelWaitSec: int(1),
  /** wall-clock limit for decoding one file */
  decodeTimeoutMs: int(1000),
  maxAudioSec: z.coerce.number().positive(),
  /** SIGTERM: in-flight jobs get this long to finish; then the engine stops and the process exits (their locks expire, another worker re-runs them) */
  drainTimeoutMs: int(100),
});

/** OpenTelemetry (packages/telemetry): the Prometheus listener of this process and an optional OTLP endpoint. */
export const telemetryConfigSchema = z.object({
  /** Prometheus text on http://<metricsHost>:<metricsPort>/metrics; null = no listener (VOXFLEET_METRICS_PORT=off) */
  metricsPort: int(1, 65535).nullable(),
  /** loopback by default: the listener has no authentication */
  metricsHost: z.string().min(1),
  /** OTLP/HTTP base URL (metrics to /v1/metrics, traces to /v1/traces); null = no OTLP export */
  otlpEndpoint: z.string().regex(/^https?:\/\/[^\s/]+/, 'must be an http:// or https:// URL').nullable(),
  /** how often metrics are pushed over OTLP */
  otlpIntervalMs: int(1000),
});

/** `npm start` (apps/stack): the embedded Redis and the processes it supervises. */
export const stackConfigSchema = z.object({
  /** port of the embedded Redis (ignored with VOXFLEET_REDIS_URL) */
  redisPort: int(1, 65535),
  /** worker processes to run */
  workers: int(1, 64),
  /** first delay before restarting a process that exited; doubles while it keeps failing soon after start */
  restartDelayMs: int(0),
  /** the delay stops doubling here */
  restartDelayMaxMs: int(0),
  /** a process that ran this long before it exited is restarted after the first delay again */
  stableAfterMs: int(0),
});

export type RedisConfig = z.infer<typeof redisConfigSchema>;
export type StorageConfig = z.infer<typeof storageConfigSchema>;
export type S3Config = z.infer<typeof s3ConfigSchema>;
export type QueueConfig = z.infer<typeof queueConfigSchema>;
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type WorkerConfig = z.infer<typeof workerConfigSchema>;
export type BatchConfig = z.infer<typeof batchConfigSchema>;
export type ModelsConfig = z.infer<typeof modelsConfigSchema>;
export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type StackConfig = z.infer<typeof stackConfigSchema>;
export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

export interface CommonConfig {
  redis: RedisConfig;
  storage: StorageConfig;
  queue: QueueConfig;
}
export interface GatewayAppConfig extends CommonConfig {
  gateway: GatewayConfig;
  batch: BatchConfig;
  models: ModelsConfig;
  http: HttpConfig;
  telemetry: TelemetryConfig;
}
export interface WorkerAppConfig extends CommonConfig {
  worker: WorkerConfig;
  telemetry: TelemetryConfig;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const v = get(env, name)?.toLowerCase();
  if (v === undefined) return dflt;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be on/off (true/false), got "${v}"`);
}

function parse<T extends z.ZodType>(schema: T, what: string, input: unknown): z.infer<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${what}.${i.path.join('.')}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

function absolute(p: string): string {
  return isAbsolute(p) ? p : resolve(REPO_ROOT, p);
}

/** Redis, storage and queue settings shared by the gateway and the workers. */
export function commonConfigFromEnv(env: Env = process.env): CommonConfig {
  const varDir = absolute(get(env, 'VOXFLEET_VAR_DIR') ?? 'var');
  return {
    redis: redisConfigFromEnv(env),
    storage: parse(storageConfigSchema, 'storage', {
      varDir,
      blobStore: get(env, 'VOXFLEET_BLOB_STORE')?.toLowerCase() ?? 'local',
      blobDir: get(env, 'VOXFLEET_BLOB_DIR') ? absolute(get(env, 'VOXFLEET_BLOB_DIR')!) : resolve(varDir, 'blobs'),
      s3: get(env, 'VOXFLEET_BLOB_STORE')?.toLowerCase() === 's3' ? s3Settings(env, varDir) : null,
      retentionSec: get(env, 'VOXFLEET_RETENTION_SEC') ?? 7 * DAY,
      cacheTtlSec: get(env, 'VOXFLEET_CACHE_TTL_SEC') ?? DAY,
      cacheShared: bool(env, 'VOXFLEET_CACHE_SHARED', false),
    }),
    queue: parse(queueConfigSchema, 'queue', {
      name: get(env, 'VOXFLEET_QUEUE') ?? 'transcribe',
      attempts: get(env, 'VOXFLEET_JOB_ATTEMPTS') ?? 3,
      backoffMs: get(env, 'VOXFLEET_JOB_BACKOFF_MS') ?? 2000,
    }),
  };
}

/**
 * VOXFLEET_REDIS_URL, VOXFLEET_REDIS_PREFIX, VOXFLEET_REDIS_TIMEOUT_MS; Sentinel: VOXFLEET_REDIS_SENTINELS
 * (`host:port,host:port`, port 26379 when left out), VOXFLEET_REDIS_SENTINEL_NAME, VOXFLEET_REDIS_SENTINEL_PASSWORD;
 * VOXFLEET_REDIS_ACK_REPLICAS (default 1 with Sentinel, else 0), VOXFLEET_REDIS_ACK_TIMEOUT_MS.
 */
export function redisConfigFromEnv(env: Env = process.env): RedisConfig {
  const nodes = sentinelNodes(get(env, 'VOXFLEET_REDIS_SENTINELS'));
  const name = get(env, 'VOXFLEET_REDIS_SENTINEL_NAME');
  const password = get(env, 'VOXFLEET_REDIS_SENTINEL_PASSWORD');
  if (!nodes && (name !== undefined || password !== undefined)) {
    throw new ConfigError('VOXFLEET_REDIS_SENTINEL_NAME / VOXFLEET_REDIS_SENTINEL_PASSWORD are set but VOXFLEET_REDIS_SENTINELS is not: list the sentinels (host:port,host:port)');
  }
  if (nodes && name === undefined) throw new ConfigError('VOXFLEET_REDIS_SENTINELS is set: VOXFLEET_REDIS_SENTINEL_NAME must name the master the sentinels monitor');
  const redis = parse(redisConfigSchema, 'redis', {
    url: get(env, 'VOXFLEET_REDIS_URL') ?? `redis://127.0.0.1:${DEFAULT_REDIS_PORT}`,
    keyPrefix: get(env, 'VOXFLEET_REDIS_PREFIX') ?? 'voxfleet',
    commandTimeoutMs: get(env, 'VOXFLEET_REDIS_TIMEOUT_MS') ?? 2000,
    sentinel: nodes ? { nodes, name, password: password ?? '' } : null,
    ackReplicas: get(env, 'VOXFLEET_REDIS_ACK_REPLICAS') ?? (nodes ? 1 : 0),
    ackTimeoutMs: get(env, 'VOXFLEET_REDIS_ACK_TIMEOUT_MS') ?? 1000,
  });
  // The wait runs on a connection whose every command fails after commandTimeoutMs: it must answer before that.
  if (redis.ackReplicas > 0 && redis.ackTimeoutMs >= redis.commandTimeoutMs) {
    throw new ConfigError(`VOXFLEET_REDIS_ACK_TIMEOUT_MS (${redis.ackTimeoutMs}) must be below VOXFLEET_REDIS_TIMEOUT_MS (${redis.commandTimeoutMs})`);
  }
  return redis;
}

/** `host:port,host:port` (IPv6 as `[::1]:26379`; port 26379 when left out) → addresses; undefined when unset. */
function sentinelNodes(list: string | undefined): { host: string; port: number }[] | undefined {
  if (list === undefined) return undefined;
  return list.split(',').map((raw) => {
    const item = raw.trim();
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/@]+))(?::(\d{1,5}))?$/.exec(item);
    const port = m?.[3] === undefined ? 26379 : Number(m[3]);
    if (!m || port < 1 || port > 65535) throw new ConfigError(`VOXFLEET_REDIS_SENTINELS: "${item}" is not host:port (e.g. 10.0.0.5:26379,[::1]:26380)`);
    return { host: m[1] ?? m[2]!, port };
  });
}

/** VOXFLEET_S3_* as given (validated by s3ConfigSchema); path-style addressing is the default with a custom endpoint. */
function s3Settings(env: Env, varDir: string): Record<string, unknown> {
  const endpoint = get(env, 'VOXFLEET_S3_ENDPOINT');
  const accessKeyId = get(env, 'VOXFLEET_S3_ACCESS_KEY_ID');
  const secretAccessKey = get(env, 'VOXFLEET_S3_SECRET_ACCESS_KEY');
  return {
    bucket: get(env, 'VOXFLEET_S3_BUCKET') ?? '',
    prefix: get(env, 'VOXFLEET_S3_PREFIX') ?? 'blobs/',
    region: get(env, 'VOXFLEET_S3_REGION') ?? get(env, 'AWS_REGION') ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: bool(env, 'VOXFLEET_S3_FORCE_PATH_STYLE', endpoint !== undefined),
    ...(accessKeyId ? { accessKeyId } : {}),
    ...(secretAccessKey ? { secretAccessKey } : {}),
    tmpDir: resolve(varDir, 'blob-tmp'),
  };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function gatewayConfigFromEnv(env: Env = process.env): GatewayAppConfig {
  const common = commonConfigFromEnv(env);
  const gateway = parse(gatewayConfigSchema, 'gateway', {
    host: get(env, 'VOXFLEET_HOST') ?? '127.0.0.1',
    port: get(env, 'VOXFLEET_PORT') ?? 8080,
    apiKeys: (get(env, 'VOXFLEET_API_KEYS') ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    authEnabled: bool(env, 'VOXFLEET_AUTH', true),
    adminUser: get(env, 'VOXFLEET_ADMIN_USER') ?? 'admin',
    adminPassword: get(env, 'VOXFLEET_ADMIN_PASSWORD') ?? '',
    maxUploadBytes: get(env, 'VOXFLEET_MAX_UPLOAD_BYTES') ?? 200 * 1024 * 1024,
    maxAudioSec: get(env, 'VOXFLEET_MAX_AUDIO_SEC') ?? 3 * HOUR,
    maxWaitSec: get(env, 'VOXFLEET_MAX_WAIT_SEC') ?? 60,
    cleanupIntervalSec: get(env, 'VOXFLEET_CLEANUP_INTERVAL_SEC') ?? HOUR,
    trustProxy: bool(env, 'VOXFLEET_TRUST_PROXY', false),
    drainTimeoutMs: get(env, 'VOXFLEET_GATEWAY_DRAIN_MS') ?? 10_000,
  });
  if (!gateway.authEnabled && !isLoopback(gateway.host)) {
    throw new ConfigError(`VOXFLEET_AUTH=off is only allowed while the gateway binds to loopback (VOXFLEET_HOST=${gateway.host})`);
  }
  const GiB = 1024 * 1024 * 1024;
  const batch = parse(batchConfigSchema, 'batch', {
    maxArchiveBytes: get(env, 'VOXFLEET_BATCH_MAX_ARCHIVE_BYTES') ?? 10 * GiB,
    maxEntries: get(env, 'VOXFLEET_BATCH_MAX_ENTRIES') ?? 50_000,
    maxTotalBytes: get(env, 'VOXFLEET_BATCH_MAX_TOTAL_BYTES') ?? 50 * GiB,
    maxRatio: get(env, 'VOXFLEET_BATCH_MAX_RATIO') ?? 100,
    ratioMinBytes: get(env, 'VOXFLEET_BATCH_RATIO_MIN_BYTES') ?? 1024 * 1024,
    enqueueChunk: get(env, 'VOXFLEET_BATCH_ENQUEUE_CHUNK') ?? 500,
    callbackAllowPrivate: bool(env, 'VOXFLEET_CALLBACK_ALLOW_PRIVATE', false),
    callbackSecret: get(env, 'VOXFLEET_CALLBACK_SECRET') ?? '',
    callbackAttempts: get(env, 'VOXFLEET_CALLBACK_ATTEMPTS') ?? 6,
    callbackBackoffMs: get(env, 'VOXFLEET_CALLBACK_BACKOFF_MS') ?? 1000,
    callbackTimeoutMs: get(env, 'VOXFLEET_CALLBACK_TIMEOUT_MS') ?? 10_000,
  });
  const http = parse(httpConfigSchema, 'http', {
    headersTimeoutMs: get(env, 'VOXFLEET_HEADERS_TIMEOUT_MS') ?? 30_000,
    requestTimeoutMs: get(env, 'VOXFLEET_REQUEST_TIMEOUT_MS') ?? HOUR * 1000,
    bodyIdleTimeoutMs: get(env, 'VOXFLEET_BODY_IDLE_TIMEOUT_MS') ?? 30_000,
    bodyMinBytesPerSec: get(env, 'VOXFLEET_BODY_MIN_RATE') ?? 1024,
    uploadsPerSec: get(env, 'VOXFLEET_RATE_UPLOADS_PER_SEC') ?? 50,
    uploadBurst: get(env, 'VOXFLEET_RATE_UPLOAD_BURST') ?? 200,
    authFailuresPerMin: get(env, 'VOXFLEET_RATE_AUTH_FAILURES_PER_MIN') ?? 60,
    authFailureBurst: get(env, 'VOXFLEET_RATE_AUTH_BURST') ?? 20,
  });
  if (http.requestTimeoutMs > 0 && http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(`VOXFLEET_HEADERS_TIMEOUT_MS (${http.headersTimeoutMs}) must not exceed VOXFLEET_REQUEST_TIMEOUT_MS (${http.requestTimeoutMs})`);
  }
  return { ...common, gateway, batch, http, models: modelsConfigFromEnv(env), telemetry: telemetryConfigFromEnv(env, DEFAULT_GATEWAY_METRICS_PORT) };
}

/** VOXFLEET_MODELS (comma list), VOXFLEET_DEFAULT_MODEL (default: the first), VOXFLEET_MODEL_ALIASES (`alias=name,…`). */
export function modelsConfigFromEnv(env: Env = process.env): ModelsConfig {
  const list = (v: string | undefined): string[] => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const names = list(get(env, 'VOXFLEET_MODELS'));
  if (names.length === 0) names.push(DEFAULT_MODEL_NAME);
  const aliases: Record<string, string> = {};
  for (const pair of list(get(env, 'VOXFLEET_MODEL_ALIASES'))) {
    const [alias, name] = pair.split('=').map((x) => x.trim());
    if (!alias || !name) throw new ConfigError(`VOXFLEET_MODEL_ALIASES: "${pair}" is not alias=name`);
    aliases[alias] = name;
  }
  const models = parse(modelsConfigSchema, 'models', { names, defaultModel: get(env, 'VOXFLEET_DEFAULT_MODEL') ?? names[0], aliases });
  if (!models.names.includes(models.defaultModel)) throw new ConfigError(`VOXFLEET_DEFAULT_MODEL=${models.defaultModel} is not one of VOXFLEET_MODELS (${models.names.join(', ')})`);
  for (const [alias, name] of Object.entries(models.aliases)) {
    if (!models.names.includes(name)) throw new ConfigError(`VOXFLEET_MODEL_ALIASES: ${alias} points at ${name}, which is not one of VOXFLEET_MODELS`);
  }
  return models;
}

export function workerConfigFromEnv(env: Env = process.env): WorkerAppConfig {
  const common = commonConfigFromEnv(env);
  const worker = parse(workerConfigSchema, 'worker', {
    id: get(env, 'VOXFLEET_WORKER_ID') ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}`,
    maxBatch: get(env, 'VOXFLEET_BATCH_MAX') ?? 8,
    maxWaitMs: get(env, 'VOXFLEET_BATCH_WAIT_MS') ?? 100,
    maxFrames: get(env, 'VOXFLEET_BATCH_MAX_FRAMES') ?? 4000,
    batchOverheadFrames: get(env, 'VOXFLEET_BATCH_OVERHEAD_FRAMES') ?? 30,
    adaptiveWait: bool(env, 'VOXFLEET_BATCH_ADAPTIVE', true),
    batchesInFlight: get(env, 'VOXFLEET_BATCHES_IN_FLIGHT') ?? 0,
    concurrency: get(env, 'VOXFLEET_WORKER_CONCURRENCY') ?? 2 * Number(get(env, 'VOXFLEET_BATCH_MAX') ?? 8),
    segmentMaxSec: get(env, 'VOXFLEET_SEGMENT_MAX_SEC') ?? 30,
    heartbeatTtlMs: get(env, 'VOXFLEET_HEARTBEAT_TTL_MS') ?? 15_000,
    // A dead worker's tasks are re-run ½–1 lock + ≤ 1 stalled interval after it died; a live worker keeps its
    // locks as long as its event loop and Redis stall for less than ~½ lock (BullMQ extends them every ¼–½ lock).
    lockDurationMs: get(env, 'VOXFLEET_LOCK_MS') ?? 30_000,
    stalledIntervalMs: get(env, 'VOXFLEET_STALLED_INTERVAL_MS') ?? 5000,
    modelWaitSec: get(env, 'VOXFLEET_MODEL_WAIT_SEC') ?? 600,
    decodeTimeoutMs: get(env, 'VOXFLEET_DECODE_TIMEOUT_MS') ?? 10 * 60_000,
    maxAudioSec: get(env, 'VOXFLEET_MAX_AUDIO_SEC') ?? 3 * HOUR,
    drainTimeoutMs: get(env, 'VOXFLEET_WORKER_DRAIN_MS') ?? 60_000,
  });
  return { ...common, worker, telemetry: telemetryConfigFromEnv(env, DEFAULT_WORKER_METRICS_PORT) };
}

/** Default Prometheus ports: the gateway's, and a worker's (`npm start` gives worker i the gateway's port + i). */
export const DEFAULT_GATEWAY_METRICS_PORT = 9464;
export const DEFAULT_WORKER_METRICS_PORT = 9465;

/** VOXFLEET_METRICS_PORT (a port, or off), VOXFLEET_METRICS_HOST (127.0.0.1), OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_METRIC_EXPORT_INTERVAL (ms). */
export function telemetryConfigFromEnv(env: Env = process.env, defaultPort: number = DEFAULT_GATEWAY_METRICS_PORT): TelemetryConfig {
  const port = get(env, 'VOXFLEET_METRICS_PORT')?.toLowerCase();
  return parse(telemetryConfigSchema, 'telemetry', {
    metricsPort: port === 'off' || port === '0' ? null : (port ?? defaultPort),
    metricsHost: get(env, 'VOXFLEET_METRICS_HOST') ?? '127.0.0.1',
    otlpEndpoint: get(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? null,
    otlpIntervalMs: get(env, 'OTEL_METRIC_EXPORT_INTERVAL') ?? 15_000,
  });
}

export function stackConfigFromEnv(env: Env = process.env): StackConfig {
  return parse(stackConfigSchema, 'stack', {
    redisPort: get(env, 'VOXFLEET_REDIS_PORT') ?? DEFAULT_REDIS_PORT,
    workers: get(env, 'VOXFLEET_WORKERS') ?? 1,
    restartDelayMs: get(env, 'VOXFLEET_RESTART_DELAY_MS') ?? 1000,
    restartDelayMaxMs: get(env, 'VOXFLEET_RESTART_DELAY_MAX_MS') ?? 30_000,
    stableAfterMs: get(env, 'VOXFLEET_RESTART_STABLE_MS') ?? 60_000,
  });
}

const SECRET_KEY = /(key|password|secret|token)/i;

function maskUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => {
    const user = cred.includes(':') ? cred.slice(0, cred.indexOf(':')) : '';
    return `${scheme}${user}:***@`;
  });
}

function maskSecret(s: string): string {
  return s.length === 0 ? '' : s.length <= 8 ? '***' : `${s.slice(0, 3)}***`;
}

/** A copy with secrets masked: fields named like key/password/secret/token, and credentials inside URLs. */
export function redact(value: unknown, field = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, field));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  if (typeof value === 'string') {
    if (SECRET_KEY.test(field) && !/prefix$/i.test(field)) return maskSecret(value);
    if (/^[a-z]+:\/\/[^/]*@/i.test(value)) return maskUrl(value);
  }
  return value;
}

/** One line per top-level section, secrets masked, for the start-up log. */
export function formatConfig(config: object): string {
  return Object.entries(redact(config) as Record<string, unknown>)
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    .join('\n');
}
export { createLogger, type Logger, type Fields } from './log.js';
export { ProcessLifecycle, LAST_WORDS_MS, type RunningProcess } from './lifecycle.js';
