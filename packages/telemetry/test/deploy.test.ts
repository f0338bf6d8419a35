/**
 * The Prometheus and Grafana files in deploy/: promtool accepts the scrape
 * config and the alert rules, and every metric the rules and the dashboard
 * query is one the code exports (the names module), Prometheus's own `up`,
 * or the Redis exporter's — so a renamed metric fails here, not as a blank
 * panel or an alert that can never fire.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { METRICS, exportedSeries } from '../src/index.js';

const run = promisify(execFile);
const DEPLOY = new URL('../../../deploy', import.meta.url).pathname;
const RULES = join(DEPLOY, 'prometheus/rules.yml');
const CONFIG = join(DEPLOY, 'prometheus/prometheus.yml');
const DASHBOARD = join(DEPLOY, 'grafana/dashboards/voxfleet.json');

/** Series from outside VoxFleet that the files may name: Prometheus's scrape health and oliver006/redis_exporter's memory gauges. */
const EXTERNAL = new Set(['up', 'redis_memory_used_bytes', 'redis_memory_max_bytes']);

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers left once strings, label matchers,
 * ranges and grouping clauses are taken out, minus function calls, keywords and numbers.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping labels
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = bare.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after)) continue; // a function
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

/** The `expr:` lines of the rules file (the file keeps each on one line; a block scalar would hide the rest of it). */
async function ruleExprs(): Promise<string[]> {
  const text = await readFile(RULES, 'utf8');
  const lines = text.split('\n').filter((l) => /^\s*expr:/.test(l));
  for (const l of lines) expect(l, 'keep each expr on one line').not.toMatch(/expr:\s*[|>]/);
  expect(lines.length).toBe(text.split('\n').filter((l) => /^\s*- alert:/.test(l)).length);
  return lines.map((l) => l.replace(/^\s*expr:\s*/, '').trim());
}

interface Panel {
  title?: string;
  type: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

async function dashboard(): Promise<{ panels: Panel[]; uid: string }> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Panel[]; uid: string };
}

const promtool = await run('promtool', ['--version']).then(
  () => true,
  () => false,
);
if (!promtool) console.warn('deploy.test: promtool is not installed (Debian: apt-get install prometheus), so the promtool check is skipped');

describe('deploy/: Prometheus rules and config, Grafana dashboard', () => {
  it.skipIf(!promtool)('promtool accepts the config (with its rule file) and the rules', async () => {
    const config = await run('promtool', ['check', 'config', CONFIG]);
    expect(config.stdout).toMatch(/SUCCESS: .*prometheus\.yml is valid/);
    const rules = await run('promtool', ['check', 'rules', RULES]);
    expect(rules.stdout).toMatch(/SUCCESS: 5 rules found/);
  });

  it('finds metric names in PromQL', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le, model) (rate(a_bucket{outcome="x"}[10m]))) > 60')).toEqual(['a_bucket']);
    expect(metricNames('sum(max by (outcome) (rate(t_total{outcome="failed"}[5m]))) / sum(rate(t_total[$__rate_interval]))')).toEqual(['t_total', 't_total']);
    expect(metricNames('a > 0 and b / c > 0.9')).toEqual(['a', 'b', 'c']);
    expect(metricNames('up{job=~"voxfleet-worker|x"} == 0 unless on (instance) d')).toEqual(['up', 'd']);
  });

  it('the rules use only metrics the code exports (or up / the Redis exporter\'s)', async () => {
    const known = exportedSeries();
    const exprs = await ruleExprs();
    expect(exprs).toHaveLength(5);
    const used = exprs.flatMap(metricNames);
    expect(used.filter((n) => !known.has(n) && !EXTERNAL.has(n))).toEqual([]);
    // the five alerts of issue 16: backlog, failure ratio, p95, no ready worker, Redis memory
    for (const m of [METRICS.queueJobs.name, METRICS.tasksTotal.name, `${METRICS.jobDuration.name}_bucket`, METRICS.workers.name, 'redis_memory_max_bytes']) expect(used).toContain(m);
  });

  it('the dashboard queries only metrics the code exports, through the provisioned data source', async () => {
    const known = exportedSeries();
    const d = await dashboard();
    const provisioned = await readFile(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8');
    const uid = /uid:\s*(\S+)/.exec(provisioned)?.[1];
    const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
    const exprs: string[] = [];
    for (const p of panels) {
      expect(p.targets?.length, `panel ${p.title} has queries`).toBeGreaterThan(0);
      expect(p.datasource?.uid).toBe(uid);
      for (const t of p.targets ?? []) {
        expect(t.datasource?.uid).toBe(uid);
        exprs.push(t.expr!);
      }
    }
    const used = exprs.flatMap(metricNames);
    expect(used.filter((n) => !known.has(n) && !EXTERNAL.has(n))).toEqual([]);
    // the panels of issue 16
    expect(panels.map((p) => p.title)).toEqual(['Throughput', 'Job latency P50 / P95 / P99', 'Queue depth per model', 'Batch sizes', 'Cache hit ratio', 'Errors', 'Workers', 'Worker memory', 'Worker speed']);
    for (const m of ['voxfleet_job_duration_seconds_bucket', 'voxfleet_queue_jobs', 'voxfleet_batch_size_bucket', 'voxfleet_cache_lookups_total', 'voxfleet_model_loaded', 'voxfleet_process_memory_bytes']) expect(used).toContain(m);
  });
});
