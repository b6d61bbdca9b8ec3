import type { IncomingMessage } from 'node:http';
import { verifySession, type Session, type SessionKeys } from '../core/auth/session.ts';
import type { Database } from '../core/db/database.ts';
import type { AppError } from '../core/errors.ts';
import { toPublicError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';

const SESSION_COOKIE = 'sid';

/**
 * Cross-site websocket hijacking guard: a browser always sends Origin, so a page from a
 * foreign origin is refused before any session cookie is looked at. Clients that send no
 * Origin (native apps, servers) are not browsers riding on a cookie, and are allowed.
 */
export function originAllowed(allowed: readonly string[]) {
  const set = new Set(allowed);
  return (
    req: IncomingMessage,
    callback: (err: string | null | undefined, success: boolean) => void,
  ): void => {
    const origin = req.headers.origin;
    callback(null, origin === undefined || set.has(origin));
  };
}

/** The `sid` cookie's value from a Cookie header, if any. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const raw = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/** `auth.token` wins over the cookie; anything but a string there counts as absent. */
export function handshakeToken(auth: unknown, cookieHeader: string | undefined): string | undefined {
  const token = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
  if (typeof token === 'string' && token.length > 0) return token;
  return sessionCookie(cookieHeader);
}

/** An Error whose message and data a client reads from `connect_error`. */
export function connectError(err: AppError): Error & { data: { code: string; message: string } } {
  return Object.assign(new Error(err.code), { data: { code: err.code, message: err.message } });
}

/** The session behind a handshake, or the connect error to refuse it with. */
export async function authenticateHandshake(
  keys: SessionKeys,
  db: Database,
  logger: Logger,
  auth: unknown,
  cookieHeader: string | undefined,
): Promise<Session> {
  try {
    return await verifySession(keys, db, handshakeToken(auth, cookieHeader));
  } catch (err) {
    const pub = toPublicError(err);
    if (pub.code !== 'unauthorized')
      logger.warn({ err: { message: (err as Error).message } }, 'handshake failed');
    throw connectError(pub);
  }
}
