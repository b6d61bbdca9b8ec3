/**
 * How a signed download presents itself. Raster images may render inline (chat previews);
 * everything else downloads, so a PDF or text file is never rendered by the browser in a
 * context an attacker chose. SVG is excluded even if an operator allow-listed it: it can
 * carry script.
 */
function displaysInline(mime: string): boolean {
  return mime.startsWith('image/') && !/svg|xml/.test(mime);
}

// RFC 5987 attr-char: what may appear unencoded in `filename*`.
const encodeRfc5987 = (s: string) =>
  encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A Content-Disposition value (RFC 6266) carrying the uploader's filename: an ASCII
 * `filename` fallback with quotes, backslashes and non-ASCII replaced, and the exact name
 * in `filename*` for clients that read it.
 */
export function contentDisposition(filename: string, mime: string): string {
  const type = displaysInline(mime) ? 'inline' : 'attachment';
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const fallback = `${type}; filename="${ascii}"`;
  return ascii === filename ? fallback : `${fallback}; filename*=UTF-8''${encodeRfc5987(filename)}`;
}
