/** Probing a stored upload: duration, format and codec, or the audio error a client sees (the fleet's codes). */
import { AUDIO_ERROR_HTTP_STATUS, isAudioError, probe as probeAudio, type AudioInfo } from '@voxfleet/audio';
import { AUDIO_ERROR_CODES } from '@voxfleet/queue';
import type { BlobStore } from '@voxfleet/storage';
import { ApiError } from '../errors.js';

export type Probe = (path: string, opts: { maxDurationSec: number }) => Promise<AudioInfo>;

/** ffmpeg probes a file, not a pipe: some containers (mp4/m4a with the index at the end) need seeking, so the store lends a local file. */
export async function probeBlob(blobs: Pick<BlobStore, 'withFile'>, key: string, maxDurationSec: number, probe: Probe = probeAudio): Promise<AudioInfo> {
  try {
    return await blobs.withFile(key, (path) => probe(path, { maxDurationSec }));
  } catch (err) {
    if (!isAudioError(err)) throw err;
    const hint = err.code === 'undecodable' || err.code === 'unsupported' ? ' (send a common audio format: wav, mp3, flac, ogg/opus, m4a, webm)' : '';
    throw new ApiError(AUDIO_ERROR_HTTP_STATUS[err.code], AUDIO_ERROR_CODES[err.code], `${err.message}${hint}`);
  }
}
