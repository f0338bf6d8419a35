/**
 * GPU memory and utilisation from `nvidia-smi` where it is installed. It is
 * run in the background on a timer (an async child process, never at scrape
 * time and never blocking the event loop) and the gauges report the last
 * sample; without nvidia-smi, or when it fails, there are no GPU series at all.
 */
import { execFile } from 'node:child_process';
import type { Meter } from '@opentelemetry/api';
import { gauge, observe } from './instruments.js';

export interface GpuSample {
  index: string;
  name: string;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  /** 0–1 */
  utilization: number;
}

const QUERY = ['--query-gpu=index,name,memory.used,memory.total,utilization.gpu', '--format=csv,noheader,nounits'];
const MiB = 1024 * 1024;

/** nvidia-smi's CSV (MiB and percent) → samples; lines it could not measure ("[N/A]") are left out. */
export function parseNvidiaSmi(csv: string): GpuSample[] {
  const out: GpuSample[] = [];
  for (const line of csv.split('\n')) {
    const f = line.split(',').map((x) => x.trim());
    if (f.length < 5) continue;
    const [index, name, used, total, util] = f as [string, string, string, string, string];
    const nums = [Number(used), Number(total), Number(util)];
    if (nums.some((n) => !Number.isFinite(n))) continue;
    out.push({ index, name, memoryUsedBytes: nums[0]! * MiB, memoryTotalBytes: nums[1]! * MiB, utilization: nums[2]! / 100 });
  }
  return out;
}

function sampleNvidiaSmi(command: string): Promise<GpuSample[] | null> {
  return new Promise((resolve) => {
    execFile(command, QUERY, { timeout: 5000 }, (err, stdout) => resolve(err ? null : parseNvidiaSmi(stdout)));
  });
}

/** Starts sampling; resolves once the first sample is in (or nvidia-smi is known absent). Returns a stop function. */
export async function observeGpus(meter: Meter, opts: { intervalMs?: number; command?: string } = {}): Promise<() => void> {
  const command = opts.command ?? 'nvidia-smi';
  let last = await sampleNvidiaSmi(command);
  if (last === null) return () => undefined; // no NVIDIA GPU here (or no driver tools): no series
  const timer = setInterval(() => {
    void sampleNvidiaSmi(command).then((s) => (last = s));
  }, opts.intervalMs ?? 5000);
  timer.unref();
  const attrs = (g: GpuSample) => ({ gpu: g.index, name: g.name });
  const stops = [
    observe(gauge(meter, 'gpuMemoryUsed'), (r) => last?.forEach((g) => r.observe(g.memoryUsedBytes, attrs(g)))),
    observe(gauge(meter, 'gpuMemoryTotal'), (r) => last?.forEach((g) => r.observe(g.memoryTotalBytes, attrs(g)))),
    observe(gauge(meter, 'gpuUtilization'), (r) => last?.forEach((g) => r.observe(g.utilization, attrs(g)))),
  ];
  return () => {
    clearInterval(timer);
    stops.forEach((s) => s());
  };
}
