import type { Readable } from 'node:stream';

/** Every decoder in this package produces mono float32 PCM at this rate. */
export const SAMPLE_RATE = 16000;

export interface DecodeOptions {
  /** ffmpeg binary; `system` means `ffmpeg` on PATH. Default: env VOXFLEET_FFMPEG_PATH, else the bundled binary. */
  ffmpegPath?: string;
  /** Reject audio longer than this: checked from the header/container first, then enforced while decoding. */
  maxDurationSec?: number;
  /** Aborting kills ffmpeg; the pending call rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Wall-clock limit for the whole call (for streams: until the last chunk); ffmpeg is killed and an `io` AudioError thrown. */
  timeoutMs?: number;
  /** Decode 16 kHz PCM/float WAV in-process instead of via ffmpeg (default true). */
  wavFastPath?: boolean;
}

export interface StreamOptions extends DecodeOptions {
  /** Samples per yielded chunk (the last chunk may be shorter). Default 16000 (1 s). */
  chunkSamples?: number;
}

/** Local file path, in-memory bytes, or a readable byte stream. URLs are never accepted. */
export type AudioInput = string | Uint8Array | Readable;

export interface AudioInfo {
  /** Duration reported by the header/container; decode-counted when the container has none. */
  durationSec: number;
  /** Container: `wav` for WAV files, otherwise ffmpeg's demuxer name (e.g. `mp3`, `ogg`, `matroska,webm`). */
  format: string;
  /** Codec name in ffmpeg's spelling (e.g. `pcm_s16le`, `mp3`, `opus`, `aac`). */
  codec: string;
  /** Native sample rate of the audio stream (0 if ffmpeg did not report one). */
  sampleRate: number;
  /** Native channel count (0 if ffmpeg did not report one). */
  channels: number;
}
