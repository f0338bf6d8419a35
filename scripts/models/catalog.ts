/**
 * The models `npm run models:fetch` installs: sherpa-onnx's ONNX exports,
 * published as assets of the GitHub release tag `asr-models` of
 * k2-fsa/sherpa-onnx. File lists, sizes and speeds follow
 * ../shared/docs/model-contracts.md (cited as "contract §n"); checksums were
 * looked up in public third-party manifests that pin these archives, each
 * named in `source`. No checksum here is guessed: where none was found the
 * field is null and fetch refuses to install unverified bytes unless told to
 * (`--sha256 <hex>` or `--trust`).
 */

export type Precision = 'fp32' | 'fp16' | 'int8';
export type Family = 'sense-voice' | 'paraformer' | 'nemo-ctc' | 'nemo-transducer' | 'whisper' | 'funasr-nano';
/** `now`: a family of the issue "Production models I" (VoxFleet's CTC engine); `coming`: the next issue's families */
export type Serving = 'now' | 'coming';

export interface ModelFile {
  /** path inside the installed model directory (the archive's top folder removed) */
  path: string;
  /** exact size, where a source states it */
  bytes?: number;
  /** SHA-256 of the file as it comes out of this archive, where a source states it */
  sha256?: string;
}

export interface Speed {
  /** real-time factor: processing time / audio time (lower is faster) */
  rtf: number;
  /** precision, threads, hardware */
  setup: string;
  source: string;
}

export interface Archive {
  /** asset file name */
  file: string;
  url: string;
  /** exact size in bytes where a source states it, else null */
  bytes: number | null;
  /** SHA-256 of the archive where a source states it, else null */
  sha256: string | null;
  /** where `bytes` and `sha256` come from */
  source: string | null;
  /** the folder the archive unpacks into */
  topDir: string;
  /** unpacked size as the docs give it, for messages and the README table */
  unpacked: string;
}

export interface CatalogEntry {
  name: string;
  aliases: string[];
  family: Family;
  serving: Serving;
  title: string;
  /** ISO 639 codes (yue = Cantonese) */
  languages: string[];
  archive: Archive;
  /** the files that must be present after unpacking, for each precision the archive holds */
  files: Partial<Record<Precision, ModelFile[]>>;
  /** where per-file sizes and hashes come from */
  filesSource?: string;
  speed: Speed[];
  notes?: string;
}

export const RELEASE_BASE = 'https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models';

// Sources of the pinned checksums. They are third-party projects that download
// and verify these exact assets; an entry cites every one that states its value.
const SRC = {
  handsFreePc: 'chenqin3/HandsFreePC handsfree_pc/downloads.py (MODEL_ASSETS)',
  weftCut: 'WeftCut/WeftCut content catalog (CONTENT_CATALOG, ADR 0043: "funasr-model-paraformer-zh")',
  rustSenseVoice: 'a Rust app\'s pinned manifest "SENSEVOICE_ARCHIVE_SHA256 / SENSEVOICE_ARCHIVE_BYTES" (search code corpus, file id 70164014673)',
  pySherpaProvider: 'a Python app\'s SherpaSttProvider STT_MODELS (sherpa-onnx 1.13.6; code corpus file id 71108449549)',
  rustTauri: 'a Tauri app\'s sherpa-onnx ModelInstallSpec tables (code corpus file id 62155009099)',
  cmakeDvo: 'a CMake model fetch script, dvo_fetch_release_model (code corpus file id 68909957110)',
  rustParakeet: 'a Rust app\'s ParakeetArchive { size_bytes, sha256 } (code corpus file id 59826092226)',
  shellOmayap: 'an installer script "model_sha256=" for parakeet 110M (code corpus file id 66534533238)',
  csScribe: 'a C# app\'s ModelCatalog (Scribe; code corpus file id 55735920500), size only',
} as const;

const SD = 'k2-fsa/sherpa docs/source/onnx';

function asset(file: string, rest: Omit<Archive, 'file' | 'url' | 'topDir'> & { topDir?: string }): Archive {
  return { file, url: `${RELEASE_BASE}/${file}`, topDir: rest.topDir ?? file.replace(/\.tar\.bz2$/, ''), ...rest };
}

const whisper = (size: string, langs: string[], unpacked: string, speed: Speed[]): CatalogEntry => ({
  name: `whisper-${size}`,
  aliases: [`sherpa-onnx-whisper-${size}`],
  family: 'whisper',
  serving: 'now',
  title: `Whisper ${size} (sherpa-onnx export, encoder + decoder)`,
  languages: langs,
  archive: asset(`sherpa-onnx-whisper-${size}.tar.bz2`, { bytes: null, sha256: null, source: null, unpacked }),
  files: {
    fp32: [{ path: `${size}-encoder.onnx` }, { path: `${size}-decoder.onnx` }, { path: `${size}-tokens.txt` }],
    int8: [{ path: `${size}-encoder.int8.onnx` }, { path: `${size}-decoder.int8.onnx` }, { path: `${size}-tokens.txt` }],
  },
  speed,
  notes:
    'contract §5a: file names {name}-encoder/decoder[.int8].onnx and {name}-tokens.txt; served as whisper: sherpa-onnx\'s log-mel (80 or 128 bins), the SOT prompt with language/task/no-timestamps, language detection for auto, decoder steps batched across jobs at aligned positions, segment timestamps with VOXFLEET_WHISPER_TIMESTAMPS, pieces of long audio ≤ 29.5 s',
});

/** sherpa-onnx's single-graph exports (SenseVoice, Paraformer, NeMo CTC): model[.int8].onnx + tokens.txt */
const FP32_AND_INT8: CatalogEntry['files'] = {
  fp32: [{ path: 'model.onnx' }, { path: 'tokens.txt' }],
  int8: [{ path: 'model.int8.onnx' }, { path: 'tokens.txt' }],
};
const INT8_ONLY: CatalogEntry['files'] = { int8: [{ path: 'model.int8.onnx' }, { path: 'tokens.txt' }] };

const QWEN3_TOKENIZER: ModelFile[] = [
  { path: 'Qwen3-0.6B/merges.txt', bytes: 1_671_853, sha256: '8831e4f1a044471340f7c0a83d7bd71306a5b867e95fd870f74d0c5308a904d5' },
  { path: 'Qwen3-0.6B/tokenizer.json', bytes: 11_422_654, sha256: 'aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4' },
  { path: 'Qwen3-0.6B/vocab.json', bytes: 2_776_833, sha256: 'ca10d7e9fb3ed18575dd1e277a2579c16d108e32f27439684afa0e10b1440910' },
];

const FUNASR_NANO_SPEED: Speed[] = [
  { rtf: 0.165, setup: 'int8, 2 threads, maintainer\'s Mac', source: `${SD}/funasr-nano/code/dia_hunan.txt:15 (contract §4)` },
  { rtf: 0.068, setup: 'int8, Xeon Gold 6448Y', source: 'k2-fsa/sherpa-onnx PR #2936 (contract §4)' },
  { rtf: 0.039, setup: 'fp32, RTX 4090', source: 'k2-fsa/sherpa-onnx PR #2936 (contract §4)' },
];

export const CATALOG: readonly CatalogEntry[] = [
  {
    name: 'sense-voice-int8',
    aliases: ['sensevoice-int8', 'sense-voice-int8-2024-07-17', 'sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17'],
    family: 'sense-voice',
    serving: 'now',
    title: 'SenseVoice-Small 2024-07-17, int8 only',
    languages: ['zh', 'en', 'ja', 'ko', 'yue'],
    archive: asset('sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2024-07-17.tar.bz2', {
      bytes: 163_002_883,
      sha256: '7d1efa2138a65b0b488df37f8b89e3d91a60676e416f515b952358d83dfd347e',
      source: `sha256: ${SRC.handsFreePc} and ${SRC.rustSenseVoice}; bytes: the latter`,
      unpacked: '229 MB',
    }),
    files: INT8_ONLY,
    speed: [
      { rtf: 0.109, setup: 'int8, 1 thread, maintainer\'s Mac', source: `${SD}/sense-voice/code/2024-07-17.txt:18 (contract §2)` },
      { rtf: 0.049, setup: 'int8, 4 threads, RK3588 Cortex-A76', source: `${SD}/sense-voice/pretrained.rst:234-260 (contract §2)` },
    ],
  },
  {
    name: 'sense-voice',
    aliases: ['sensevoice', 'sense-voice-2024-07-17', 'sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17'],
    family: 'sense-voice',
    serving: 'now',
    title: 'SenseVoice-Small 2024-07-17, fp32 + int8',
    languages: ['zh', 'en', 'ja', 'ko', 'yue'],
    archive: asset('sherpa-onnx-sense-voice-zh-en-ja-ko-yue-2024-07-17.tar.bz2', {
      bytes: null,
      sha256: null,
      source: null,
      unpacked: '1.1 GB',
    }),
    files: FP32_AND_INT8,
    speed: [
      { rtf: 0.109, setup: 'int8, 1 thread, maintainer\'s Mac', source: `${SD}/sense-voice/code/2024-07-17.txt:18 (contract §2)` },
      { rtf: 0.049, setup: 'int8, 4 threads, RK3588 Cortex-A76', source: `${SD}/sense-voice/pretrained.rst:234-260 (contract §2)` },
    ],
    notes: 'no published checksum found: install with --sha256 <hex> (or --trust); the int8-only archive (sense-voice-int8) is verified',
  },
  {
    name: 'sense-voice-int8-2025-09-09',
    aliases: ['sense-voice-yue-int8', 'sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2025-09-09'],
    family: 'sense-voice',
    serving: 'now',
    title: 'SenseVoice-Small Cantonese fine-tune 2025-09-09, int8 (no punctuation)',
    languages: ['zh', 'en', 'ja', 'ko', 'yue'],
    archive: asset('sherpa-onnx-sense-voice-zh-en-ja-ko-yue-int8-2025-09-09.tar.bz2', {
      bytes: 165_783_878,
      sha256: '7305f7905bfcf77fa0b39388a313f3da35c68d971661a65475b56fb2162c8e63',
      source: `${SRC.rustTauri} and ${SRC.pySherpaProvider}`,
      unpacked: '237 MB',
    }),
    files: {
      int8: [
        { path: 'model.int8.onnx', bytes: 237_115_547, sha256: '12ca1a2ae7ecf3e0019ef2822307ee0b5cadc9196569e379b4c4026f8205276d' },
        { path: 'tokens.txt', bytes: 315_894, sha256: 'f449eb28dc567533d7fa59be34e2abca8784f771850c78a47fb731a31429a1dc' },
      ],
    },
    filesSource: SRC.rustTauri,
    speed: [],
    notes: 'contract §2: Cantonese fine-tune, no punctuation (SD sense-voice/pretrained.rst:280-311); no speed figure cited',
  },
  {
    name: 'sense-voice-funasr-nano-int8',
    aliases: ['funasr-nano-ctc', 'sense-voice-nano-int8', 'sherpa-onnx-sense-voice-funasr-nano-int8-2025-12-17'],
    family: 'sense-voice',
    serving: 'now',
    title: 'Fun-ASR-Nano CTC variant 2025-12-17, int8 (SenseVoice runtime path)',
    languages: ['zh', 'en', 'ja'],
    archive: asset('sherpa-onnx-sense-voice-funasr-nano-int8-2025-12-17.tar.bz2', {
      bytes: null,
      sha256: '257936ea9a64cbe33200274e6367fc26d373ff6ca58b996b15108ffd6b9f6148',
      source: SRC.cmakeDvo,
      unpacked: '251 MB',
    }),
    files: {
      int8: [
        { path: 'model.int8.onnx', sha256: '9dc6e72aa8bc6f5966cf2857a0ce3a425b1d72e91500e147d66329f407c017a1' },
        { path: 'tokens.txt', sha256: '2db4bb25d046e8849e336c9465e248e1694914d996c58c71bdeca18cfb722992' },
      ],
    },
    filesSource: SRC.cmakeDvo,
    speed: [],
    notes: 'contract §2b: base64 tokens.txt, no query tokens, no CMVN, blank = vocab_size − 1 (k2-fsa/sherpa-onnx PR #2906); no speed figure cited',
  },
  {
    name: 'paraformer-zh-2023-09-14',
    aliases: ['paraformer-zh-timestamps', 'sherpa-onnx-paraformer-zh-2023-09-14'],
    family: 'paraformer',
    serving: 'now',
    title: 'Paraformer-large zh 2023-09-14, int8, with timestamps',
    languages: ['zh', 'en'],
    archive: asset('sherpa-onnx-paraformer-zh-2023-09-14.tar.bz2', {
      bytes: 234_051_698,
      sha256: '9c49fd9c6fb63de8e18c1054cf3d100f804741b7e608e187923cd8ff09fa9f03',
      source: SRC.weftCut,
      unpacked: '232 MB',
    }),
    files: INT8_ONLY,
    speed: [{ rtf: 0.18, setup: 'int8, 2 threads, 51.2 s of audio', source: `${SD}/pretrained_models/offline-paraformer/code-paraformer/sherpa-onnx-paraformer-zh-2023-09-14.txt (contract §3)` }],
    notes: 'BiCif export: 4 outputs incl. us_cif_peak for timestamps (contract §3)',
  },
  {
    name: 'paraformer-zh',
    aliases: ['paraformer-zh-2024-03-09', 'sherpa-onnx-paraformer-zh-2024-03-09'],
    family: 'paraformer',
    serving: 'now',
    title: 'Paraformer-large zh 2024-03-09, fp32 + int8',
    languages: ['zh', 'en'],
    archive: asset('sherpa-onnx-paraformer-zh-2024-03-09.tar.bz2', {
      bytes: null,
      sha256: null,
      source: null,
      unpacked: '1.0 GB',
    }),
    files: FP32_AND_INT8,
    speed: [{ rtf: 0.152, setup: 'int8, 2 threads, 51.2 s of audio', source: `${SD}/pretrained_models/offline-paraformer/code-paraformer/sherpa-onnx-paraformer-zh-2024-03-09.txt (contract §3)` }],
    notes: 'vocab 8358 (contract §3); no published checksum found: install with --sha256 <hex> (or --trust)',
  },
  {
    name: 'paraformer-en',
    aliases: ['paraformer-en-2024-03-09', 'sherpa-onnx-paraformer-en-2024-03-09'],
    family: 'paraformer',
    serving: 'now',
    title: 'Paraformer-large en 2024-03-09, fp32 + int8',
    languages: ['en'],
    archive: asset('sherpa-onnx-paraformer-en-2024-03-09.tar.bz2', {
      bytes: 1_021_641_665,
      sha256: '8ecca99e86f295b6f84bdab8498361f1658aeddc3e6e1cf2f51dfef26d1048b3',
      source: SRC.pySherpaProvider,
      unpacked: '1.0 GB',
    }),
    files: FP32_AND_INT8,
    speed: [],
    notes: 'sizes 817 / 220 MB fp32 / int8 (contract §3); no speed figure cited',
  },
  {
    name: 'parakeet-tdt-ctc-110m-en',
    aliases: ['parakeet-ctc-110m', 'parakeet-110m', 'sherpa-onnx-nemo-parakeet_tdt_ctc_110m-en-36000-int8'],
    family: 'nemo-ctc',
    serving: 'now',
    title: 'NVIDIA Parakeet TDT-CTC 110M, CTC head, int8',
    languages: ['en'],
    archive: asset('sherpa-onnx-nemo-parakeet_tdt_ctc_110m-en-36000-int8.tar.bz2', {
      bytes: 104_337_827,
      sha256: '17f945007b52ccd8b7200ffc7c5652e9e8e961dfdf479cefcabd06cf5703630b',
      source: `sha256: ${SRC.pySherpaProvider}, ${SRC.rustParakeet}, ${SRC.shellOmayap}; bytes: the first two and ${SRC.csScribe}`,
      unpacked: '126 MB',
    }),
    files: INT8_ONLY,
    speed: [{ rtf: 0.066, setup: 'int8, 2 threads', source: `${SD}/pretrained_models/offline-ctc/nemo/code-english/tdt-ctc-110m-int8.txt (contract §7)` }],
    notes: 'contract §7: 80-bin log-mel (librosa, Hann), per-feature normalisation, logprobs [N, T/8, V+1], blank = <blk>',
  },
  {
    name: 'parakeet-tdt-0.6b-v2-int8',
    aliases: ['parakeet-tdt-0.6b-v2', 'sherpa-onnx-nemo-parakeet-tdt-0.6b-v2-int8'],
    family: 'nemo-transducer',
    serving: 'now',
    title: 'NVIDIA Parakeet TDT 0.6B v2 (transducer), int8',
    languages: ['en'],
    archive: asset('sherpa-onnx-nemo-parakeet-tdt-0.6b-v2-int8.tar.bz2', {
      bytes: 482_468_385,
      sha256: null,
      source: SRC.csScribe,
      unpacked: '631 MB',
    }),
    files: {
      int8: [{ path: 'encoder.int8.onnx' }, { path: 'decoder.int8.onnx' }, { path: 'joiner.int8.onnx' }, { path: 'tokens.txt' }],
    },
    speed: [
      { rtf: 0.118, setup: 'int8, 2 threads', source: `${SD}/pretrained_models/offline-transducer/code-nemo/*.txt (contract §7)` },
      { rtf: 0.22, setup: 'int8, 1 thread, RK3588 Cortex-A76', source: `${SD}/pretrained_models/offline-transducer/code-nemo/*.txt (contract §7)` },
    ],
    notes: 'NVIDIA: Open ASR Leaderboard mean WER 6.05 %, RTFx 3386 at batch 128 (HF nvidia/parakeet-tdt-0.6b-v2, contract §7); served as nemo-transducer: 128-bin log-mel (librosa, povey window, 7600 Hz top, as sherpa-onnx\'s transducer path), TDT greedy search batched across jobs',
  },
  whisper('tiny.en', ['en'], '338 MB', [
    { rtf: 0.685, setup: 'fp32, 1 thread, Raspberry Pi 4', source: `${SD}/pretrained_models/whisper/tiny.en.rst:66-100 (contract §5a)` },
  ]),
  whisper('tiny', ['multilingual (99)'], '256 MB', []),
  whisper('base.en', ['en'], '453 MB', []),
  whisper('base', ['multilingual (99)'], '452 MB', []),
  whisper('small', ['multilingual (99)'], 'not stated', []),
  {
    name: 'funasr-nano-int8',
    aliases: ['funasr-nano', 'fun-asr-nano-int8', 'sherpa-onnx-funasr-nano-int8-2025-12-30'],
    family: 'funasr-nano',
    serving: 'now',
    title: 'Fun-ASR-Nano-2512 (SenseVoice encoder + Qwen3-0.6B), int8',
    languages: ['zh', 'en', 'ja'],
    archive: asset('sherpa-onnx-funasr-nano-int8-2025-12-30.tar.bz2', {
      bytes: 841_730_611,
      sha256: 'eb43d7ccc2e86b243f6a03b7df361033dda66db9523d1a92bf6aca2b50c9476b',
      source: SRC.rustTauri,
      unpacked: '948 MB',
    }),
    files: {
      int8: [
        { path: 'encoder_adaptor.int8.onnx', bytes: 238_277_200, sha256: 'd0246c823f2c34133ae0efee395d8a189c8f92643e3432f866939ee34d34492c' },
        { path: 'embedding.int8.onnx', bytes: 155_583_106, sha256: 'a05d2816e284fcca29a5dccb2c14b9edeb638fd983a84cd4a447248889b6a408' },
        { path: 'llm.int8.onnx', bytes: 600_339_316, sha256: '7f0c5a508b41474b1b1ec1cdbdefafd2cf8b3642c6915a0a425265b7b7d2c960' },
        ...QWEN3_TOKENIZER,
      ],
    },
    filesSource: SRC.rustTauri,
    speed: FUNASR_NANO_SPEED,
    notes: 'zh/en/ja + 7 dialects, 26 accents (FR README.md:5,34-35, contract §4); served as funasr-nano: sherpa-onnx\'s Nano front-end, the ChatML prompt with language/itn/hotwords, greedy LLM decoding batched across jobs, pieces of long audio ≤ 15 s',
  },
  {
    name: 'funasr-nano-fp16',
    aliases: ['fun-asr-nano-fp16', 'sherpa-onnx-funasr-nano-fp16-2025-12-30'],
    family: 'funasr-nano',
    serving: 'now',
    title: 'Fun-ASR-Nano-2512, int8 encoder/embedding + fp16 LLM',
    languages: ['zh', 'en', 'ja'],
    archive: asset('sherpa-onnx-funasr-nano-fp16-2025-12-30.tar.bz2', { bytes: null, sha256: null, source: null, unpacked: '1.5 GB' }),
    files: {
      fp16: [{ path: 'encoder_adaptor.int8.onnx' }, { path: 'embedding.int8.onnx' }, { path: 'llm.fp16.onnx' }, { path: 'Qwen3-0.6B/tokenizer.json' }],
    },
    speed: FUNASR_NANO_SPEED,
    notes: 'sherpa-onnx refuses fp16 LLMs on CUDA (contract §4)',
  },
  {
    name: 'funasr-nano-fp32',
    aliases: ['fun-asr-nano-fp32', 'sherpa-onnx-funasr-nano-2025-12-30'],
    family: 'funasr-nano',
    serving: 'now',
    title: 'Fun-ASR-Nano-2512, fp32 (LLM weights in external data)',
    languages: ['zh', 'en', 'ja'],
    archive: asset('sherpa-onnx-funasr-nano-2025-12-30.tar.bz2', { bytes: null, sha256: null, source: null, unpacked: '3.7 GB' }),
    files: {
      fp32: [
        { path: 'encoder_adaptor.onnx' },
        { path: 'embedding.onnx' },
        { path: 'llm.fp32.onnx' },
        { path: 'llm.fp32.data' },
        { path: 'Qwen3-0.6B/tokenizer.json' },
      ],
    },
    speed: FUNASR_NANO_SPEED,
  },
];

export class CatalogError extends Error {
  override readonly name = 'CatalogError';
}

/** The entry named `nameOrAlias` (case-insensitive; a trailing .tar.bz2 is ignored). */
export function findModel(catalog: readonly CatalogEntry[], nameOrAlias: string): CatalogEntry | undefined {
  const key = nameOrAlias.trim().toLowerCase().replace(/\.tar\.bz2$/, '');
  return catalog.find((e) => e.name === key || e.aliases.some((a) => a.toLowerCase() === key));
}

/** How fetch can verify an install of `entry` without help from the user. */
export type Verification = 'archive+files' | 'archive' | 'files' | 'none';

export function verificationOf(entry: CatalogEntry): Verification {
  const files = Object.values(entry.files).flat();
  const allFiles = files.length > 0 && files.every((f) => f.sha256 !== undefined);
  if (entry.archive.sha256 !== null) return allFiles ? 'archive+files' : 'archive';
  return allFiles ? 'files' : 'none';
}

/** Every distinct file the archive must yield (tokens.txt is shared between precisions). */
export function requiredFiles(entry: CatalogEntry): ModelFile[] {
  const byPath = new Map<string, ModelFile>();
  for (const list of Object.values(entry.files)) for (const f of list) byPath.set(f.path, { ...byPath.get(f.path), ...f });
  return [...byPath.values()];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks the catalog's own invariants (run by the tests over CATALOG and over injected catalogs). */
export function validateCatalog(catalog: readonly CatalogEntry[]): void {
  const seen = new Map<string, string>();
  for (const e of catalog) {
    for (const key of [e.name, ...e.aliases.map((a) => a.toLowerCase())]) {
      const prev = seen.get(key);
      if (prev !== undefined && prev !== e.name) throw new CatalogError(`"${key}" names both ${prev} and ${e.name}`);
      seen.set(key, e.name);
    }
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(e.name)) throw new CatalogError(`entry name "${e.name}" is not a plain folder name`);
    if (!e.archive.file.endsWith('.tar.bz2')) throw new CatalogError(`${e.name}: archive ${e.archive.file} is not a .tar.bz2`);
    if (e.archive.sha256 !== null && !HEX64.test(e.archive.sha256)) throw new CatalogError(`${e.name}: archive sha256 is not 64 lowercase hex digits`);
    if ((e.archive.sha256 !== null || e.archive.bytes !== null) && !e.archive.source) throw new CatalogError(`${e.name}: a pinned size or checksum needs its source`);
    if (e.archive.bytes !== null && !(Number.isSafeInteger(e.archive.bytes) && e.archive.bytes > 0)) throw new CatalogError(`${e.name}: archive bytes must be a positive integer`);
    const files = Object.values(e.files).flat();
    if (files.length === 0) throw new CatalogError(`${e.name}: no expected files`);
    for (const f of files) {
      if (f.path.startsWith('/') || f.path.split('/').includes('..')) throw new CatalogError(`${e.name}: file path ${f.path} leaves the model directory`);
      if (f.sha256 !== undefined && !HEX64.test(f.sha256)) throw new CatalogError(`${e.name}: ${f.path} sha256 is not 64 lowercase hex digits`);
      if ((f.sha256 !== undefined || f.bytes !== undefined) && !e.filesSource) throw new CatalogError(`${e.name}: per-file sizes or hashes need filesSource`);
    }
  }
}
