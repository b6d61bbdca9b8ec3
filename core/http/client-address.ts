import type { GetConnInfo } from 'hono/conninfo';
import type { AppContext } from './types.ts';

/**
 * The client's address for throttling. With `hops` trusted proxies in front (each appending
 * to X-Forwarded-For), it is the entry that the outermost trusted proxy appended; anything
 * left of it was written by the client and cannot be trusted.
 */
export function clientAddress(c: AppContext, getConnInfo: GetConnInfo | undefined, hops: number): string {
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
