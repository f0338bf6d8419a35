/**
 * The contract between `npm run chaos` (chaos/run.ts) and its modules.
 *
 * A module is a file in chaos/ that exports `run(ctx): Promise<Section>`.
 * The runner starts the stack it tests against (loopback only), builds a
 * `ChaosContext` for it, calls each module present in turn (its own sections,
 * then `fuzz.ts` and `tenants.ts` when those files exist), prints every
 * section and writes them all to BENCHMARKS.md under "Reliability".
 *
 * Rules for a module:
 * - bounded: a fixed number of requests / iterations, never "until it breaks";
 *   it must finish on its own (the runner gives each module `ctx.deadlineMs`
 *   of wall time and records a module that overruns as failed);
 * - loopback only: talk to `ctx.url`, nothing else;
 * - never throw for a finding: a broken behaviour is a row with `ok: false`
 *   and `pass: false` on the section. A throw means the module itself broke;
 *   the runner records it as a failed section with the message;
 * - leave the stack running and usable for the next module (no kill -9 of the
 *   gateway or Redis; the runner's own sections do those).
 */

/** What the runner hands each module. */
export interface ChaosContext {
  /** Gateway base URL, e.g. http://127.0.0.1:18080 (no trailing slash). */
  url: string;
  /** Two API keys of two different tenants (both valid; `apiKeys[0]` is tenant A, `apiKeys[1]` tenant B). */
  apiKeys: [string, string];
  /** Basic-auth credentials of the admin pages (Bull Board at /admin/queues). */
  admin: { user: string; password: string };
  /** The stack's var directory (blobs, redis data, api-key files); read-only for modules. */
  varDir: string;
  /** Wall-time budget for this module in milliseconds; finish well inside it. */
  deadlineMs: number;
  /** Progress lines (prefixed with the module's name by the runner). */
  log: (msg: string) => void;
}

/** One measured or checked line of a section; printed as a table row. */
export interface Row {
  /** What was checked or measured, e.g. "jobs lost" or "POST /v1/jobs with a 3 GB Content-Length". */
  check: string;
  /** What was observed, e.g. 0, "413 payload_too_large", "1.2 s". */
  value: string | number;
  /** The bound or expectation, e.g. "0", "4xx, no crash", "< 2 s". Optional for pure measurements. */
  expect?: string;
  /** Whether `value` meets `expect`; omit for a pure measurement. */
  ok?: boolean;
}

/** The result of one module (or one of the runner's own scenarios). */
export interface Section {
  /** Heading, e.g. "Worker kill -9 during 500 jobs". */
  title: string;
  rows: Row[];
  /** True when every checked row holds (`rows.every(r => r.ok !== false)`, at least). */
  pass: boolean;
  /** Optional free-text lines printed under the table (setup, trade-offs, caveats). */
  notes?: string[];
}

/** The shape of a chaos module file (chaos/fuzz.ts, chaos/tenants.ts, …). */
export interface ChaosModule {
  run(ctx: ChaosContext): Promise<Section>;
}

/** A section's pass value computed from its rows. */
export function allOk(rows: readonly Row[]): boolean {
  return rows.every((r) => r.ok !== false);
}
