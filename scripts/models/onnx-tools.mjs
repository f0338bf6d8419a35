#!/usr/bin/env node
/* global process, console */
/**
 * Node entry for the project's Python ONNX tools (Debian's python3-onnx +
 * python3-numpy, run with /usr/bin/python3: the pyenv `python3` on PATH does not
 * see Debian's packages).
 *
 *   npm run models:testgraph -- <kind> [--size tiny|full] --out <dir>
 *   npm run models:fp16 -- <in.onnx> <out.onnx> [--io fp32|fp16] [--keep-fp32 Op,Op] [--no-check]
 *   npm run models:int8 -- <in.onnx> <out.onnx> [--weight-type uint8|int8] [--per-channel]
 *
 * fp16 output is loaded with onnxruntime-node (CPU) afterwards; an op the CPU
 * provider has no float16 kernel for is added to --keep-fp32 and the conversion
 * rerun, so the file always loads where it was made.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const INSTALL_HINT = 'apt-get install -y python3-onnx python3-numpy';

/** The Python with Debian's onnx/numpy: $VOXFLEET_PYTHON, else /usr/bin/python3. Throws with the fix when missing. */
export function findPython() {
  const python = process.env.VOXFLEET_PYTHON || '/usr/bin/python3';
  if (!existsSync(python)) {
    throw new Error(`${python} not found: the ONNX tools need Debian's python3 with python3-onnx (${INSTALL_HINT})`);
  }
  const probe = spawnSync(python, ['-c', 'import onnx, numpy; print(onnx.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `${python} cannot import onnx/numpy (${(probe.stderr || '').trim().split('\n').pop()}).\n` +
        `Install them with: ${INSTALL_HINT}\n` +
        '(the pyenv python3 on PATH does not see Debian packages; set VOXFLEET_PYTHON to use another interpreter)',
    );
  }
  return python;
}

/** Where relative paths on the command line are meant from (npm run changes into the repository root). */
const CALLER_DIR = process.env.INIT_CWD || process.cwd();

/** Runs `python -m <module> ...args` with scripts/models importable; returns its exit status. */
export function runPython(module, args, { quiet = false } = {}) {
  const pythonPath = [HERE, process.env.PYTHONPATH].filter(Boolean).join(':');
  const r = spawnSync(findPython(), ['-m', module, ...args], {
    cwd: CALLER_DIR,
    env: { ...process.env, PYTHONPATH: pythonPath, PYTHONDONTWRITEBYTECODE: '1' },
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  if (r.status !== 0 && quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r.status ?? 1;
}

function missingKernel(message) {
  const m = /Could not find an implementation for (\w+)\(/.exec(message);
  return m ? m[1] : null;
}

async function loads(path) {
  const ort = createRequire(resolve(HERE, '../../package.json'))('onnxruntime-node');
  try {
    const s = await ort.InferenceSession.create(path);
    await s.release?.();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function fp16(args) {
  const check = !args.includes('--no-check');
  const keep = new Set();
  const pass = [];
  const files = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--no-check') continue;
    if (a === '--keep-fp32') (args[++i] ?? '').split(',').filter(Boolean).forEach((op) => keep.add(op));
    else if (a === '--io') pass.push(a, args[++i] ?? '');
    else files.push(a);
  }
  if (files.length !== 2) {
    console.error('usage: onnx-tools.mjs fp16 <in.onnx> <out.onnx> [--io fp32|fp16] [--keep-fp32 Op,Op] [--no-check]');
    return 2;
  }
  const base = [...files, ...pass];
  for (let attempt = 0; attempt < 12; attempt++) {
    const keepArg = keep.size ? ['--keep-fp32', [...keep].sort().join(',')] : [];
    const status = runPython('convert', ['fp16', ...base, ...keepArg]);
    if (status !== 0 || !check) return status;
    const error = await loads(resolve(CALLER_DIR, files[1]));
    if (!error) return 0;
    const op = missingKernel(error);
    if (!op || keep.has(op)) {
      console.error(`fp16: ${files[1]} does not load in onnxruntime-node: ${error}`);
      return 1;
    }
    console.error(`fp16: onnxruntime's CPU provider has no float16 ${op}; converting again with ${op} in float32`);
    keep.add(op);
  }
  return 1;
}

async function main(argv) {
  const [cmd, ...args] = argv;
  if (cmd === 'testgraph') return runPython('testgraph', args);
  if (cmd === 'fp16') return fp16(args);
  if (cmd === 'int8') return runPython('convert', ['int8', ...args]);
  console.error('usage: onnx-tools.mjs testgraph|fp16|int8 ... (see the header of scripts/models/onnx-tools.mjs)');
  return 2;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
