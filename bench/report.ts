/** Writes the bench's own section of BENCHMARKS.md (other sections are left alone) and the JSON results. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '@voxfleet/config';

export const SECTION = '## Throughput (npm run bench)';
const FILE = join(REPO_ROOT, 'BENCHMARKS.md');

const GPU_NOTE = `### Provider / precision matrix (GPU)

Not run: the machine these numbers come from has no GPU (and none was lent to this task), so there are no
GPU figures here — none are estimated. What a user needs for each provider (from the engine's
\`EngineSetupError\` messages in \`packages/asr/src/session.ts\`):

- \`VOXFLEET_PROVIDER=cuda\`: "onnxruntime-node ships without the CUDA execution provider: on a machine with an NVIDIA driver,
  CUDA 12 and cuDNN 9, reinstall it with \`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12\` (the project .npmrc
  skips that download by default)."
- \`VOXFLEET_PROVIDER=webgpu\`: "onnxruntime-node bundles WebGPU (Dawn); it needs a GPU adapter with a working Vulkan driver
  (e.g. the NVIDIA driver with its Vulkan ICD, or mesa-vulkan-drivers)."
- fp16 vs fp32: \`VOXFLEET_PRECISION=fp16\` selects \`model.fp16.onnx\`; the CPU comparison of both is \`npm run bench:engine\`.

Run it where a GPU exists: \`VOXFLEET_PROVIDER=cuda npm run bench:engine\` (inference) and \`npm run bench\` with
the workers' \`VOXFLEET_PROVIDER\`/\`VOXFLEET_PRECISION\` set.`;

function block(name: string, body: string): string {
  return `<!-- bench:${name}:start -->\n${body.trim()}\n<!-- bench:${name}:end -->`;
}

/**
 * Replaces the `name` block inside this section (creating the section, or the block, when missing; a new
 * block goes at the section's end, under `heading` when one is given).
 */
export async function updateBenchmarks(name: 'main' | 'long' | 'model' | `model-${string}`, body: string, heading?: string): Promise<void> {
  let text = await readFile(FILE, 'utf8').catch(() => '# Benchmarks\n');
  const start = text.indexOf(SECTION);
  if (start < 0) {
    const placeholder = (n: string, what: string): string => block(n, `_${what} not run yet._`);
    text = `${text.trimEnd()}\n\n${SECTION}\n\n${placeholder('main', '`npm run bench`')}\n\n### Long audio (\`npm run bench -- --long\`)\n\n${placeholder('long', '`npm run bench -- --long`')}\n\n${GPU_NOTE}\n`;
  }
  const s = text.indexOf(SECTION);
  const next = text.indexOf('\n## ', s + SECTION.length);
  const end = next < 0 ? text.length : next;
  let section = text.slice(s, end);
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`);
  section = re.test(section) ? section.replace(re, () => block(name, body)) : `${section.trimEnd()}\n\n${heading ? `${heading}\n\n` : ''}${block(name, body)}\n`;
  text = text.slice(0, s) + section + text.slice(end);
  await writeFile(FILE, text);
}

export async function writeJson(prefix: string, data: unknown): Promise<string> {
  const dir = join(REPO_ROOT, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${prefix}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
export const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toString() : '–');
