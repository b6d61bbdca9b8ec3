import type { GetConnInfo } from 'hono/conninfo';
import type { AppContext } from './types.ts';

/**
 * The address of an `address:port` value as CloudFront-Viewer-Address carries it:
 * `203.0.113.7:53211` → `203.0.113.7`, `2001:db8::1:53211` → `2001:db8::1` (IPv6 without
 * brackets, the port after the last colon), `[2001:db8::1]:443` → `2001:db8::1`.
 */
function addressOf(value: string): string {
  const v = value.trim();
  const bracketed = /^\[([^\]]+)\]/.exec(v);
  if (bracketed) return bracketed[1]!;
  const lastColon = v.lastIndexOf(':');
  return lastColon > 0 && /^\d{1,5}$/.test(v.slice(lastColon + 1)) ? v.slice(0, lastColon) : v;
}

/**
 * The client's address for throttling. With `header` set, the value a trusted proxy wrote
 * there (CloudFront's `CloudFront-Viewer-Address`, `ip:port`). Else, with `hops` trusted
 * proxies in front (each appending to X-Forwarded-For), the entry that the outermost trusted
 * proxy appended; anything left of it was written by the client and cannot be trusted.
 */
export function clientAddress(
  c: AppContext,
  getConnInfo: GetConnInfo | undefined,
  hops: number,
  header?: string,
): string {
  const fromHeader = header ? c.req.header(header) : undefined;
  if (fromHeader) return addressOf(fromHeader);
  if (hops > 0) {
    const forwarded = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const entry = forwarded[forwarded.length - hops];
    if (entry) return entry;
  }
  try {
    return getConnInfo?.(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
