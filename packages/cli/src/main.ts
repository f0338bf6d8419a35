/**
 * `voxfleet`: transcribe files, folders and archives through a VoxFleet gateway.
 *
 *   voxfleet transcribe <files|dirs|archives…> [-o DIR] [--format srt]
 *   voxfleet status <batch-or-job-id>
 *   voxfleet results <batch-id> -o DIR [--format srt|vtt|txt|json|jsonl|csv]
 *   voxfleet cancel <batch-or-job-id>
 *   voxfleet delete <batch-or-job-id>
 *
 * Exit codes: 0 ok, 1 some jobs failed or were cancelled, 2 usage, 3 auth,
 * 4 not found, 5 server or network error, 6 input rejected by the gateway.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { Api, CliError, EXIT, type Json } from './api.js';
import { classify, packDir, unzipTo } from './files.js';
import { Progress, fmtBytes, fmtDuration } from './progress.js';

const USAGE = `usage: voxfleet <command> [options]

commands:
  transcribe <files|dirs|archives…>   upload (a folder is packed and sent as one batch; zip/tar/tar.gz
                                      archives as batches; other files as single jobs), wait, download
  status <id>                         show a batch (b_…) or a job (j_…)
  results <batch-id>                  download a batch's results
  cancel <id>                         cancel a batch or a job
  delete <id>                         erase a finished batch or job (transcripts, audio, records)

options:
  --url URL            gateway (env VOXFLEET_URL, default http://127.0.0.1:8080)
  --api-key KEY        API key (env VOXFLEET_API_KEY)
  -o, --out DIR        where results go (default ./transcripts)
  -f, --format F       transcript format: txt, srt, vtt, json (results also: jsonl, csv); default txt
  --language L         language code (en, en-US, auto)
  --reference sidecar  score each audio file against a same-named .txt beside it (batches)
  --priority N         1 (first) … 100 (last)
  --callback-url URL   called (signed) when a batch finishes
  --no-wait            upload and print the ids, do not wait or download
  --json               print JSON instead of text (status)
  -q, --quiet          no progress output
  -h, --help           this help

exit codes: 0 ok, 1 some jobs failed or were cancelled, 2 usage, 3 auth, 4 not found,
            5 server or network error, 6 input rejected by the gateway`;

const TRANSCRIPT_FORMATS = ['txt', 'srt', 'vtt', 'json'];

interface Opts {
  url: string;
  key: string | undefined;
  out: string;
  format: string;
  language?: string;
  reference?: string;
  priority?: string;
  callbackUrl?: string;
  wait: boolean;
  json: boolean;
  quiet: boolean;
}

const say = (s: string): void => void process.stdout.write(`${s}\n`);

function parse(argv: string[]): { command: string; args: string[]; opts: Opts } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        'api-key': { type: 'string' },
        out: { type: 'string', short: 'o' },
        format: { type: 'string', short: 'f' },
        language: { type: 'string' },
        reference: { type: 'string' },
        priority: { type: 'string' },
        'callback-url': { type: 'string' },
        'no-wait': { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, EXIT.usage);
  }
  const v = parsed.values;
  if (v.help) {
    say(USAGE);
    process.exit(0);
  }
  const [command, ...args] = parsed.positionals;
  if (!command) throw new CliError(USAGE, EXIT.usage);
  const opts: Opts = {
    url: (v.url ?? process.env.VOXFLEET_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    key: v['api-key'] ?? process.env.VOXFLEET_API_KEY ?? undefined,
    out: v.out ?? 'transcripts',
    format: (v.format ?? 'txt').toLowerCase(),
    ...(v.language ? { language: v.language } : {}),
    ...(v.reference ? { reference: v.reference } : {}),
    ...(v.priority ? { priority: v.priority } : {}),
    ...(v['callback-url'] ? { callbackUrl: v['callback-url'] } : {}),
    wait: !v['no-wait'],
    json: v.json === true,
    quiet: v.quiet === true,
  };
  if (!/^https?:\/\//.test(opts.url)) throw new CliError(`--url must be an http(s) URL, got "${opts.url}"`, EXIT.usage);
  return { command, args, opts };
}

function needId(args: string[], what: string): string {
  if (args.length !== 1) throw new CliError(`${what} takes exactly one id\n\n${USAGE}`, EXIT.usage);
  const id = args[0]!;
  if (!/^[bj]_[A-Za-z0-9_-]+$/.test(id)) throw new CliError(`"${id}" is not a batch (b_…) or job (j_…) id`, EXIT.usage);
  return id;
}

/** Counts bytes on the way to the gateway. */
function meter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

function query(fields: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function stripArchiveExt(name: string): string {
  return name.replace(/\.(tar\.gz|tgz|tar|zip)$/i, '') || name;
}

function batchLine(b: Json): string {
  const c = b.counts as Record<string, number>;
  const parts = Object.entries(c)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return `batch ${b.id} ${b.status}: ${parts.join(', ')} (${b.progress}%)`;
}

async function downloadBatch(api: Api, id: string, dir: string, format: string): Promise<string[]> {
  const tmp = await mkdtemp(join(tmpdir(), 'voxfleet-cli-'));
  try {
    const zipPath = join(tmp, 'results.zip');
    await pipeline(await api.download(`/v1/batches/${id}/results?format=zip&transcript=${format}`), createWriteStream(zipPath));
    await mkdir(dir, { recursive: true });
    return await unzipTo(zipPath, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

interface Submitted {
  input: string;
  type: 'batch' | 'job';
  id: string;
  outDir: string;
}

async function transcribe(api: Api, inputs: string[], o: Opts): Promise<number> {
  if (inputs.length === 0) throw new CliError(`transcribe needs at least one file, folder or archive\n\n${USAGE}`, EXIT.usage);
  if (!TRANSCRIPT_FORMATS.includes(o.format)) throw new CliError(`--format must be one of ${TRANSCRIPT_FORMATS.join(', ')}`, EXIT.usage);
  const tty = process.stderr.isTTY === true;
  const progress = new Progress(process.stderr, tty);
  const show = !o.quiet;
  const fields = { language: o.language, priority: o.priority };
  const batchFields = { ...fields, reference: o.reference, callback_url: o.callbackUrl };

  const kinds = [];
  for (const input of inputs) {
    try {
      kinds.push({ input, k: await classify(input) });
    } catch (err) {
      throw new CliError(`cannot read ${input}: ${(err as Error).message}`, EXIT.usage);
    }
  }

  const submitted: Submitted[] = [];
  for (const { input, k } of kinds) {
    const name = basename(input.replace(/\/+$/, '')) || 'input';
    if (k.kind === 'file') {
      const job = await api.postFile('/v1/jobs', input, name, Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>);
      submitted.push({ input, type: 'job', id: job.id, outDir: o.out });
      say(`job ${job.id} ${job.status}: ${input}`);
      continue;
    }
    let sent = 0;
    const label = `upload ${name}`;
    const tick = (n: number): void => {
      sent += n;
      if (show) progress.update(label, Math.min(sent, k.bytes), k.bytes, '', { bytes: true });
    };
    const body: Readable = k.kind === 'dir' ? packDir(k.files) : createReadStream(input);
    const filename = k.kind === 'dir' ? `${name}.tar` : name;
    const batch = await api.postStream(`/v1/batches${query({ ...batchFields, filename })}`, body.pipe(meter(tick)), 'application/octet-stream');
    if (show) progress.update(label, k.bytes, k.bytes, `sent ${fmtBytes(sent)}`, { bytes: true, final: true });
    submitted.push({ input, type: 'batch', id: batch.id, outDir: join(o.out, k.kind === 'dir' ? name : stripArchiveExt(name)) });
    say(`batch ${batch.id} ${batch.status}: ${input} (${batch.entries.audio} audio of ${batch.entries.total} entries)`);
  }
  if (!o.wait) return EXIT.ok;

  // Follow everything until final: jobs done / total with an ETA.
  const final = new Set(['completed', 'failed', 'cancelled']);
  const state = new Map<string, Json>();
  const started = Date.now();
  for (;;) {
    for (const s of submitted) {
      const cur = state.get(s.id);
      if (cur && final.has(cur.status)) continue;
      state.set(s.id, await api.json(s.type === 'batch' ? `/v1/batches/${s.id}` : `/v1/jobs/${s.id}`));
    }
    let total = 0;
    let done = 0;
    let eta: number | null = 0;
    for (const s of submitted) {
      const v = state.get(s.id)!;
      if (s.type === 'job') {
        total += 1;
        done += final.has(v.status) ? 1 : 0;
      } else {
        const c = v.counts as Record<string, number>;
        const t = Object.values(c).reduce((a, b) => a + b, 0);
        total += t;
        done += t - c.queued! - c.processing!;
        if (!final.has(v.status)) eta = v.etaSec === null || eta === null ? null : Math.max(eta, v.etaSec);
      }
    }
    if (eta === 0 && done < total) {
      const rate = done / Math.max(0.001, (Date.now() - started) / 1000);
      eta = rate > 0 ? (total - done) / rate : null;
    }
    const allFinal = submitted.every((s) => final.has(state.get(s.id)!.status));
    if (show) progress.update('jobs', done, total, `ETA ${fmtDuration(allFinal ? 0 : eta)}`, { final: allFinal });
    if (allFinal) break;
    await new Promise((r) => setTimeout(r, tty ? 500 : 1000));
  }

  // Download and sum up.
  const tally = { completed: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 };
  let files = 0;
  for (const s of submitted) {
    const v = state.get(s.id)!;
    if (s.type === 'batch') {
      const c = v.counts as Record<string, number>;
      tally.completed += c.completed!;
      tally.cached += c.cached!;
      tally.failed += c.failed!;
      tally.cancelled += c.cancelled!;
      tally.skipped += c.skipped!;
      const written = await downloadBatch(api, s.id, s.outDir, o.format);
      files += written.length;
      say(`${batchLine(v)} → ${s.outDir}/ (${written.length} files)`);
    } else {
      if (v.status === 'completed') {
        if (v.cached) tally.cached++;
        else tally.completed++;
        const res = await api.download(`/v1/jobs/${s.id}/transcript?format=${o.format}`);
        await mkdir(s.outDir, { recursive: true });
        const dest = join(s.outDir, `${basename(s.input).replace(/\.[^.]+$/, '')}.${o.format}`);
        await pipeline(res, createWriteStream(dest));
        files++;
        say(`job ${s.id} completed → ${dest}`);
      } else {
        if (v.status === 'failed') tally.failed++;
        else tally.cancelled++;
        say(`job ${s.id} ${v.status}: ${s.input}${v.error ? ` (${v.error.code}: ${v.error.message})` : ''}`);
      }
    }
  }
  say(`done: ${tally.completed} completed, ${tally.cached} cached, ${tally.failed} failed, ${tally.cancelled} cancelled, ${tally.skipped} skipped; ${files} files in ${o.out}/`);
  return tally.failed + tally.cancelled > 0 ? EXIT.failed : EXIT.ok;
}

async function status(api: Api, id: string, o: Opts): Promise<number> {
  const v = await api.json(id.startsWith('b_') ? `/v1/batches/${id}` : `/v1/jobs/${id}`);
  if (o.json) {
    say(JSON.stringify(v, null, 2));
    return EXIT.ok;
  }
  if (id.startsWith('b_')) {
    say(batchLine(v));
    say(`  archive: ${v.archive.filename} (${v.archive.format}, ${fmtBytes(v.archive.bytes)}), ${v.entries.total} entries, ${v.entries.audio} audio`);
    say(`  audio: ${v.audio.doneSec}/${v.audio.totalSec} s; throughput ${v.throughput.jobsPerSec} jobs/s; ETA ${fmtDuration(v.etaSec)}`);
    if (v.score) say(`  WER ${v.score.wer ?? '--'}  CER ${v.score.cer ?? '--'} (${v.score.scored} scored)`);
    if (v.callback) say(`  callback: ${v.callback.status} after ${v.callback.attempts} attempt(s)${v.callback.lastError ? ` (${v.callback.lastError})` : ''}`);
    if (v.error) say(`  error: ${v.error.code}: ${v.error.message}`);
  } else {
    say(`job ${v.id} ${v.status}${v.cached ? ' (cached)' : ''}: ${v.audio.filename}, ${v.audio.durationSec} s`);
    if (v.result) say(`  ${v.result.text}`);
    if (v.error) say(`  error: ${v.error.code}: ${v.error.message}`);
  }
  return EXIT.ok;
}

async function results(api: Api, id: string, o: Opts): Promise<number> {
  if (!id.startsWith('b_')) throw new CliError('results takes a batch id (b_…); for a job use its transcript URL', EXIT.usage);
  if (o.format === 'jsonl' || o.format === 'csv') {
    await mkdir(o.out, { recursive: true });
    const dest = join(o.out, `${id}.${o.format}`);
    await pipeline(await api.download(`/v1/batches/${id}/results?format=${o.format}`), createWriteStream(dest));
    say(`wrote ${dest}`);
    return EXIT.ok;
  }
  if (!TRANSCRIPT_FORMATS.includes(o.format)) throw new CliError(`--format must be one of ${[...TRANSCRIPT_FORMATS, 'jsonl', 'csv'].join(', ')}`, EXIT.usage);
  const written = await downloadBatch(api, id, o.out, o.format);
  say(`wrote ${written.length} files to ${o.out}/`);
  return EXIT.ok;
}

const resource = (id: string): string => (id.startsWith('b_') ? `/v1/batches/${id}` : `/v1/jobs/${id}`);

/** Cancels what is not finished; something already finished is left as it is (exit 1). */
async function cancel(api: Api, id: string): Promise<number> {
  const v = await api.json(`${resource(id)}/cancel`, { method: 'POST' });
  say(id.startsWith('b_') ? batchLine(v) : `job ${v.id} ${v.status}`);
  return EXIT.ok;
}

/** Erases a finished job or batch (transcripts, audio, records); one still running is cancelled first. */
async function erase(api: Api, id: string): Promise<number> {
  const path = resource(id);
  const first = await api.request(path, { method: 'DELETE' });
  if (first === null) {
    say(`${id} erased`);
    return EXIT.ok;
  }
  say(`${id} cancelled (run \`voxfleet delete ${id}\` again once it has stopped to erase it)`);
  return EXIT.ok;
}

export async function run(argv: string[]): Promise<number> {
  const { command, args, opts } = parse(argv);
  const api = new Api(opts.url, opts.key);
  switch (command) {
    case 'transcribe':
      return transcribe(api, args, opts);
    case 'status':
      return status(api, needId(args, 'status'), opts);
    case 'results':
      return results(api, needId(args, 'results'), opts);
    case 'cancel':
      return cancel(api, needId(args, 'cancel'));
    case 'delete':
      return erase(api, needId(args, 'delete'));
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
  }
}

const isMain = process.argv[1] !== undefined && /(?:^|[\\/])(main\.ts|voxfleet(\.js)?)$/.test(process.argv[1]);
if (isMain) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
      if (err instanceof CliError) {
        process.stderr.write(`voxfleet: ${err.message}\n`);
        process.exit(err.exitCode);
      }
      process.stderr.write(`voxfleet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(EXIT.server);
    },
  );
}
