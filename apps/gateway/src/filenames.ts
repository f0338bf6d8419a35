/** File names clients send (multipart `filename`, a raw upload's `?filename=`), made safe to store and show. */

/**
 * A file name as the client sent it, made safe to store and show: the last
 * path segment, control characters removed, at most 255 UTF-8 bytes (cut at
 * a character boundary); `fallback` when nothing is left.
 */
export function cleanFilename(name: string, fallback: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '');
  let out = '';
  let bytes = 0;
  for (const ch of base) {
    bytes += Buffer.byteLength(ch);
    if (bytes > 255) break;
    out += ch;
  }
  return out || fallback;
}
