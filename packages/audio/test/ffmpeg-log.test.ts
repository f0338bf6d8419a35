import { describe, expect, it } from 'vitest';
import { FfmpegLog, channelsFromLayout, classifyFfmpegFailure, parseAudioStream } from '../src/ffmpeg-log.js';

describe('ffmpeg stderr parsing', () => {
  it('channel layouts', () => {
    expect(channelsFromLayout('mono')).toBe(1);
    expect(channelsFromLayout('stereo')).toBe(2);
    expect(channelsFromLayout('5.1(side)')).toBe(6);
    expect(channelsFromLayout('7.1')).toBe(8);
    expect(channelsFromLayout('quad(side)')).toBe(4);
    expect(channelsFromLayout('6 channels')).toBe(6);
    expect(channelsFromLayout('2 channels (FL+LFE)')).toBe(2);
    expect(channelsFromLayout('fltp')).toBeUndefined();
  });

  it('audio stream details', () => {
    expect(parseAudioStream('aac (LC) (mp4a / 0x6134706D), 16000 Hz, mono, fltp, 69 kb/s (default)')).toEqual({
      codec: 'aac',
      sampleRate: 16000,
      channels: 1,
    });
    expect(parseAudioStream('pcm_s16le ([1][0][0][0] / 0x0001), 44100 Hz, stereo, s16, 1411 kb/s')).toEqual({
      codec: 'pcm_s16le',
      sampleRate: 44100,
      channels: 2,
    });
  });

  it('input section, including ffmpeg 5+ stream ids', () => {
    const log = new FfmpegLog();
    const lines = [
      "Input #0, matroska,webm, from 'pipe:0':",
      '  Metadata:',
      '    ENCODER         : Lavf58.24.100',
      '  Duration: 01:02:03.50, start: -0.002000, bitrate: N/A',
      '  Stream #0:0[0x1](eng): Audio: opus, 48000 Hz, stereo, fltp (default)',
      '  Stream #0:1: Audio: aac, 8000 Hz, mono',
    ];
    for (const line of lines) expect(log.push(line)).toBe(false);
    expect(log.push('Stream mapping:')).toBe(true);
    expect(log.info).toEqual({ format: 'matroska,webm', durationSec: 3723.5, codec: 'opus', sampleRate: 48000, channels: 2 });
  });

  it('failure classification', () => {
    const exit = new Error('ffmpeg exited with code 1: boom');
    expect(classifyFfmpegFailure(exit, 'x.wav: Invalid data found when processing input').code).toBe('undecodable');
    expect(classifyFfmpegFailure(exit, "[http @ 0x1] Protocol 'http' not on whitelist 'file,pipe'!").code).toBe('unsupported');
    expect(classifyFfmpegFailure(exit, "[hls @ 0x1] Format not on whitelist 'wav'").code).toBe('unsupported');
    expect(classifyFfmpegFailure(exit, "Stream map '0:a:0' matches no streams.").code).toBe('unsupported');
    const spawn = Object.assign(new Error('spawn /x ENOENT'), { code: 'ENOENT' });
    expect(classifyFfmpegFailure(spawn, '').code).toBe('io');
    const err = classifyFfmpegFailure(exit, 'file:/srv/uploads/secret.wav: Invalid data found when processing input');
    expect(err.message).not.toContain('/srv/uploads');
    expect(err.detail).toContain('Invalid data');
  });
});
