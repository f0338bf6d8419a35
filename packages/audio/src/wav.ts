/**
 * In-process RIFF/WAVE reader for PCM and IEEE-float data.
 *
 * Handles any chunk order (LIST, fact, bext … are skipped), odd-size chunk padding,
 * WAVE_FORMAT_EXTENSIBLE, 8/16/24/32-bit integer and 32/64-bit float samples, any channel
 * count (downmixed by averaging). A data chunk that claims more bytes than exist — or the
 * "unknown length" sizes 0 / 0xFFFFFFFF written by streaming encoders — is clamped to
 * the bytes actually present, so a header can never make us read past the input.
 * Malformed headers raise AudioError('undecodable'); other codecs (ADPCM, µ-law …),
 * RF64 and big-endian RIFX raise AudioError('unsupported') — the decoders then hand
 * the input to ffmpeg instead. A PCM/float header with impossible values (channels,
 * sample rate, bits or block align out of range or inconsistent) raises
 * {@link InvalidWavError}, which is final: no decoder is tried after it, since
 * whatever one made of such a header would be garbage or nothing.
 * {@link checkWavComplete} refuses a file whose data chunk is shorter than it
 * declares (what the upload probe checks; the decoders clamp).
 */
import { AudioError } from './errors.js';

/** Bounds of a plausible PCM/float WAV (ffmpeg's own sanity limit on channels is 512, `FF_SANE_NB_CHANNELS`). */
export const WAV_MAX_CHANNELS = 512;
export const WAV_MIN_SAMPLE_RATE = 1000;
export const WAV_MAX_SAMPLE_RATE = 768_000;

/** A WAV header no decoder should try: undecodable, and final (the probe answers it instead of trying ffmpeg). */
export class InvalidWavError extends AudioError {
  constructor(reason: string) {
    super('undecodable', `invalid WAV header: ${reason}`);
  }
}

export type WavSampleFormat = 'u8' | 's16' | 's24' | 's32' | 'f32' | 'f64';

export interface WavHeader {
  sampleRate: number;
  channels: number;
  sampleFormat: WavSampleFormat;
  /** ffmpeg-style codec name, e.g. `pcm_s16le`. */
  codec: string;
  /** Declared significant bits per sample. */
  bitsPerSample: number;
  /** Bytes per frame (all channels). */
  blockAlign: number;
  /** Whether the fmt chunk used WAVE_FORMAT_EXTENSIBLE. */
  extensible: boolean;
  /** Byte offset of the first sample. */
  dataOffset: number;
  /** Bytes of sample data actually available (after clamping). */
  dataBytes: number;
  /** Bytes the data chunk declares; null for the "unknown length" sizes 0 / 0xFFFFFFFF. */
  declaredDataBytes: number | null;
  /** Complete frames available. */
  frames: number;
  durationSec: number;
}

export interface WavAudio extends WavHeader {
  /** Mono samples in [-1, 1] at the file's own `sampleRate`. */
  samples: Float32Array;
}

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID (…-0000-0010-8000-00AA00389B71). */
const SUBTYPE_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
const UNKNOWN_SIZE = 0xffffffff;
const MAX_CHUNKS = 10_000;

const CODEC_NAMES: Record<WavSampleFormat, string> = {
  u8: 'pcm_u8',
  s16: 'pcm_s16le',
  s24: 'pcm_s24le',
  s32: 'pcm_s32le',
  f32: 'pcm_f32le',
  f64: 'pcm_f64le',
};

function fourCC(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(bytes[offset] ?? 0, bytes[offset + 1] ?? 0, bytes[offset + 2] ?? 0, bytes[offset + 3] ?? 0);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True when the bytes start like a RIFF/WAVE file (cheap sniff, no validation). */
export function looksLikeWav(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 12 && fourCC(bytes, 0) === 'RIFF' && fourCC(bytes, 8) === 'WAVE';
}

function malformed(reason: string): AudioError {
  return new AudioError('undecodable', `malformed WAV file: ${reason}`);
}

interface FmtInfo {
  sampleRate: number;
  channels: number;
  sampleFormat: WavSampleFormat;
  bitsPerSample: number;
  blockAlign: number;
  extensible: boolean;
}

function parseFmt(bytes: Uint8Array, offset: number, size: number): FmtInfo {
  if (size < 16) throw malformed('fmt chunk too short');
  const dv = view(bytes);
  let tag = dv.getUint16(offset, true);
  const channels = dv.getUint16(offset + 2, true);
  const sampleRate = dv.getUint32(offset + 4, true);
  const declaredAlign = dv.getUint16(offset + 12, true);
  const bitsPerSample = dv.getUint16(offset + 14, true);
  let extensible = false;

  if (tag === FORMAT_EXTENSIBLE) {
    if (size < 40) throw malformed('WAVE_FORMAT_EXTENSIBLE fmt chunk too short');
    extensible = true;
    const guid = offset + 24;
    if (SUBTYPE_GUID_TAIL.some((b, i) => bytes[guid + 2 + i] !== b)) {
      throw new AudioError('unsupported', 'WAV sub-format GUID is not a standard PCM/float subtype');
    }
    tag = dv.getUint16(guid, true);
  }
  if (tag !== FORMAT_PCM && tag !== FORMAT_FLOAT) {
    throw new AudioError('unsupported', `WAV codec 0x${tag.toString(16).padStart(4, '0')} is not plain PCM or float`);
  }
  if (channels === 0) throw new InvalidWavError('zero channels');
  if (channels > WAV_MAX_CHANNELS) throw new InvalidWavError(`${channels} channels (at most ${WAV_MAX_CHANNELS})`);
  if (sampleRate === 0) throw new InvalidWavError('zero sample rate');
  if (sampleRate < WAV_MIN_SAMPLE_RATE || sampleRate > WAV_MAX_SAMPLE_RATE) {
    throw new InvalidWavError(`sample rate ${sampleRate} Hz (${WAV_MIN_SAMPLE_RATE}–${WAV_MAX_SAMPLE_RATE} Hz)`);
  }
  if (bitsPerSample === 0) throw new InvalidWavError('zero bits per sample');
  if (bitsPerSample > 64) throw new InvalidWavError(`${bitsPerSample} bits per sample (at most 64)`);

  // Container width from blockAlign: whole samples of bitsPerSample rounded up to bytes
  // (or 24 bits in 32-bit containers, a layout some writers use without WAVE_FORMAT_EXTENSIBLE).
  const fromBits = Math.ceil(bitsPerSample / 8);
  const fromAlign = declaredAlign % channels === 0 ? declaredAlign / channels : 0;
  if (fromAlign !== fromBits && !(fromBits === 3 && fromAlign === 4)) {
    throw new InvalidWavError(`block align ${declaredAlign} does not match ${channels} channel(s) of ${bitsPerSample}-bit samples (expected ${channels * fromBits})`);
  }
  const width = fromAlign;

  let sampleFormat: WavSampleFormat | undefined;
  if (tag === FORMAT_PCM) {
    sampleFormat = ({ 1: 'u8', 2: 's16', 3: 's24', 4: 's32' } as const)[width as 1 | 2 | 3 | 4];
  } else {
    sampleFormat = ({ 4: 'f32', 8: 'f64' } as const)[width as 4 | 8];
  }
  if (sampleFormat === undefined) {
    throw new AudioError('unsupported', `WAV ${tag === FORMAT_PCM ? 'PCM' : 'float'} samples of ${width * 8} bits are not supported`);
  }
  return { sampleRate, channels, sampleFormat, bitsPerSample, blockAlign: width * channels, extensible };
}

/**
 * Parses the header of a WAV file. `bytes` may be just a prefix of the file as long as it
 * reaches the start of the data chunk; `totalSize` is then the full file size, used to
 * clamp the data length.
 */
export function parseWavHeader(bytes: Uint8Array, totalSize: number = bytes.byteLength): WavHeader {
  if (bytes.byteLength < 12) throw malformed('shorter than a RIFF header');
  const riff = fourCC(bytes, 0);
  if (riff === 'RF64' || riff === 'RIFX') throw new AudioError('unsupported', `${riff} WAV variant is not handled in-process`);
  if (riff !== 'RIFF' || fourCC(bytes, 8) !== 'WAVE') throw malformed('missing RIFF/WAVE signature');

  const dv = view(bytes);
  let fmt: FmtInfo | undefined;
  let data: { offset: number; bytes: number; declared: number | null } | undefined;
  let pos = 12;

  for (let n = 0; n < MAX_CHUNKS && (fmt === undefined || data === undefined); n++) {
    if (pos + 8 > bytes.byteLength) break;
    const id = fourCC(bytes, pos);
    const size = dv.getUint32(pos + 4, true);
    const body = pos + 8;

    if (id === 'data' && data === undefined) {
      const available = Math.max(0, totalSize - body);
      const unknown = size === 0 || size === UNKNOWN_SIZE;
      data = { offset: body, bytes: unknown ? available : Math.min(size, available), declared: unknown ? null : size };
      if (unknown) break; // runs to end of file: no chunk can follow
    } else if (id === 'fmt ' && fmt === undefined) {
      if (body + size > bytes.byteLength && body + 16 > bytes.byteLength) throw malformed('truncated fmt chunk');
      fmt = parseFmt(bytes, body, Math.min(size, bytes.byteLength - body));
    }
    pos = body + size + (size & 1); // chunks are word aligned
  }

  if (fmt === undefined) throw malformed('no fmt chunk found');
  if (data === undefined) throw malformed('no data chunk found');

  const frames = Math.floor(data.bytes / fmt.blockAlign);
  return {
    ...fmt,
    codec: CODEC_NAMES[fmt.sampleFormat],
    dataOffset: data.offset,
    dataBytes: data.bytes,
    declaredDataBytes: data.declared,
    frames,
    durationSec: frames / fmt.sampleRate,
  };
}

/**
 * Refuses a WAV whose data chunk holds less than it declares (by a frame or
 * more): a truncated upload. The decoders read such a file up to its end; an
 * upload is better refused than transcribed in part without a word.
 */
export function checkWavComplete(header: WavHeader): void {
  const declared = header.declaredDataBytes;
  if (declared !== null && declared - header.dataBytes >= header.blockAlign) {
    throw new InvalidWavError(`the data chunk declares ${declared} bytes but the file holds ${header.dataBytes} (truncated?)`);
  }
}

type SampleReader = (dv: DataView, offset: number) => number;

const READERS: Record<WavSampleFormat, SampleReader> = {
  u8: (dv, o) => (dv.getUint8(o) - 128) / 128,
  s16: (dv, o) => dv.getInt16(o, true) / 32768,
  s24: (dv, o) => ((dv.getUint8(o) | (dv.getUint8(o + 1) << 8) | (dv.getInt8(o + 2) << 16)) / 8388608),
  s32: (dv, o) => dv.getInt32(o, true) / 2147483648,
  f32: (dv, o) => dv.getFloat32(o, true),
  f64: (dv, o) => dv.getFloat64(o, true),
};

/**
 * Converts interleaved sample bytes (whole frames, starting at a frame boundary) to mono
 * float32 by averaging channels. Float input is clamped to [-1, 1]; NaN becomes 0.
 */
export function wavFramesToMono(
  bytes: Uint8Array,
  format: Pick<WavHeader, 'sampleFormat' | 'channels' | 'blockAlign'>,
): Float32Array {
  const { channels, blockAlign } = format;
  const frames = Math.floor(bytes.byteLength / blockAlign);
  const out = new Float32Array(frames);
  const dv = view(bytes);
  const read = READERS[format.sampleFormat];
  const width = blockAlign / channels;
  const isFloat = format.sampleFormat === 'f32' || format.sampleFormat === 'f64';

  for (let f = 0, o = 0; f < frames; f++, o += blockAlign) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(dv, o + c * width);
    let v = channels === 1 ? sum : sum / channels;
    if (isFloat) v = Number.isNaN(v) ? 0 : Math.min(1, Math.max(-1, v));
    out[f] = v;
  }
  return out;
}

/** Parses a complete in-memory WAV file into mono float32 samples at its native rate. */
export function parseWav(bytes: Uint8Array): WavAudio {
  const header = parseWavHeader(bytes);
  if (header.frames === 0) throw new AudioError('empty', 'WAV file contains no audio frames');
  const data = bytes.subarray(header.dataOffset, header.dataOffset + header.frames * header.blockAlign);
  return { ...header, samples: wavFramesToMono(data, header) };
}
