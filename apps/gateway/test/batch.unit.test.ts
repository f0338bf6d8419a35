/** Pure pieces of batches: entry names, format sniffing, result paths, callback URL checks and signatures, config. */
import { createHmac } from 'node:crypto';
import { gatewayConfigFromEnv } from '@voxfleet/config';
import { describe, expect, it } from 'vitest';
import { checkEntryName, sniffBytes } from '../src/batches/archive.js';
import { transcriptPath } from '../src/batches/export.js';
import { callbackSecretForKey, checkCallbackUrl, isPublicAddress, signCallback } from '../src/batches/callback.js';
import { ApiError } from '../src/errors.js';
import { scoreTranscript } from '../src/batches/scoring.js';
import { tarOf, zipOf } from '@voxfleet/testkit';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
  return undefined;
};
const codeAsync = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: unknown) => (err instanceof ApiError ? err.code : String(err)),
  );

describe('batch building blocks', () => {
  it('normalises safe entry names and refuses traversal, absolute and empty ones', () => {
    expect(checkEntryName('a/b.wav')).toBe('a/b.wav');
    expect(checkEntryName('./a//b/./c.wav')).toBe('a/b/c.wav');
    expect(checkEntryName('win\\dir\\x.wav')).toBe('win/dir/x.wav');
    expect(checkEntryName('a/..b/c.wav')).toBe('a/..b/c.wav');
    expect(code(() => checkEntryName('../x.wav'))).toBe('path_traversal');
    expect(code(() => checkEntryName('a/../../x.wav'))).toBe('path_traversal');
    expect(code(() => checkEntryName('a\\..\\x.wav'))).toBe('path_traversal');
    expect(code(() => checkEntryName('/etc/x.wav'))).toBe('absolute_path');
    expect(code(() => checkEntryName('C:/x.wav'))).toBe('absolute_path');
    expect(code(() => checkEntryName('\\\\host\\share\\x.wav'))).toBe('absolute_path');
    expect(code(() => checkEntryName('./'))).toBe('invalid_entry_name');
    expect(code(() => checkEntryName('a\0.wav'))).toBe('invalid_entry_name');
  });

  it('recognises archives by their first bytes', async () => {
    expect(sniffBytes(await zipOf([{ name: 'a.txt', data: 'x' }]))).toBe('zip');
    expect(sniffBytes(await zipOf([]))).toBe('zip');
    expect(sniffBytes(await tarOf([{ name: 'a.txt', data: 'x' }]))).toBe('tar');
    expect(sniffBytes(await tarOf([{ name: 'a.txt', data: 'x' }], { gzip: true }))).toBe('tgz');
    expect(sniffBytes(Buffer.from('RIFF....WAVEfmt '))).toBeNull();
    expect(sniffBytes(Buffer.from('Rar!\x1a\x07\x00'))).toBe('rar');
  });

  it('puts transcripts at the entry path with the format extension, without collisions', () => {
    const used = new Set<string>();
    expect(transcriptPath('calls/a.wav', 'srt', used)).toBe('calls/a.srt');
    expect(transcriptPath('calls/a.mp3', 'srt', used)).toBe('calls/a.mp3.srt');
    expect(transcriptPath('calls/noext', 'srt', used)).toBe('calls/noext.srt');
    expect(transcriptPath('x.tar.wav', 'vtt', used)).toBe('x.tar.vtt');
  });

  it('refuses non-http and (by default) private callback targets', async () => {
    expect(await codeAsync(checkCallbackUrl('ftp://127.0.0.1/x', true))).toBe('invalid_callback_url');
    expect(await codeAsync(checkCallbackUrl('file:///etc/passwd', true))).toBe('invalid_callback_url');
    expect(await codeAsync(checkCallbackUrl('not a url', true))).toBe('invalid_callback_url');
    expect(await codeAsync(checkCallbackUrl('http://user:pw@127.0.0.1/', true))).toBe('invalid_callback_url');
    for (const u of ['http://127.0.0.1:9/x', 'http://10.1.2.3/', 'http://192.168.0.10/', 'http://169.254.169.254/latest', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://0.0.0.0/']) {
      expect(await codeAsync(checkCallbackUrl(u, false))).toBe('callback_url_not_allowed');
    }
    expect((await checkCallbackUrl('http://127.0.0.1:9/x', true)).toString()).toBe('http://127.0.0.1:9/x');
    expect(isPublicAddress('8.8.8.8')).toBe(true);
    expect(isPublicAddress('2001:4860:4860::8888')).toBe(true);
    expect(isPublicAddress('172.20.0.1')).toBe(false);
    expect(isPublicAddress('fd00::1')).toBe(false);
  });

  it('signs callback bodies with a secret derived from the API key', () => {
    const secret = callbackSecretForKey('my-api-key-0123456789');
    expect(secret).toBe(createHmac('sha256', 'my-api-key-0123456789').update('voxfleet-callback-v1').digest('hex'));
    expect(callbackSecretForKey('another-key-0123456789')).not.toBe(secret);
    const sig = signCallback(secret, '1700000000', '{"a":1}');
    expect(sig).toBe(`sha256=${createHmac('sha256', secret).update('1700000000.{"a":1}').digest('hex')}`);
  });

  it('scores a transcript against its reference with the eval scorer', () => {
    expect(scoreTranscript('The sheep died in the wool.', 'the sheep died in the wool')).toMatchObject({ wer: 0, cer: 0, words: { errors: 0, total: 6 } });
    const s = scoreTranscript('the sheep died', 'the sheep died in the wool');
    expect(s.words).toEqual({ errors: 3, total: 6 });
    expect(s.wer).toBe(0.5);
  });

  it('reads batch limits from the environment', () => {
    const d = gatewayConfigFromEnv({}).batch;
    expect(d).toMatchObject({ maxEntries: 50_000, maxRatio: 100, enqueueChunk: 500, callbackAllowPrivate: false, callbackAttempts: 6 });
    const c = gatewayConfigFromEnv({ VOXFLEET_BATCH_MAX_ENTRIES: '10', VOXFLEET_CALLBACK_ALLOW_PRIVATE: 'on', VOXFLEET_BATCH_MAX_RATIO: '20' }).batch;
    expect(c).toMatchObject({ maxEntries: 10, callbackAllowPrivate: true, maxRatio: 20 });
    expect(() => gatewayConfigFromEnv({ VOXFLEET_BATCH_ENQUEUE_CHUNK: '0' })).toThrow(/enqueueChunk/);
  });
});
