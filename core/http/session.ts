import type { MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { revocations } from '../sessions/revocations.ts';
import { verifySession, type SessionKeys } from '../sessions/sessions.ts';
import type { Database } from '../db/database.ts';
import type { AppContext, AppEnv } from './types.ts';

export const SESSION_COOKIE = 'sid';

/**
 * The header native clients send their token in when they reach the REST API through the
 * CloudFront router: Origin Access Control signs every request to a Function URL with its
 * own `Authorization` header, replacing the client's (docs/deploy.md).
 */
const TOKEN_HEADER = 'x-parley-authorization';

/** The JWT of a `Bearer <jwt>` header; '' for a malformed Bearer; undefined for other schemes. */
function bearerToken(header: string | undefined): string | undefined {
  if (!header || !/^Bearer(\s|$)/i.test(header)) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : '';
}

/**
 * The token of a request: a Bearer token (in X-Parley-Authorization, else in Authorization)
 * wins over the cookie. An Authorization header of another scheme (CloudFront's
 * `AWS4-HMAC-SHA256 …` signature) is not ours and does not hide the `sid` cookie.
 */
export function requestToken(c: AppContext): string | undefined {
  return (
    bearerToken(c.req.header(TOKEN_HEADER)) ??
    bearerToken(c.req.header('authorization')) ??
    getCookie(c, SESSION_COOKIE)
  );
}

/** Requires a valid, unrevoked session; sets `session` for the handler. */
export const requireSession =
  (keys: SessionKeys, db: Database): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    // Revocation from this process's cache: no query per request (bounded staleness, see
    // core/sessions/revocations.ts).
    c.set('session', await verifySession(keys, db, requestToken(c), revocations));
    await next();
  };

export function setSessionCookie(c: AppContext, token: string, maxAgeSeconds: number, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Lax',
    path: '/',
    secure,
    maxAge: maxAgeSeconds,
  });
}

export function clearSessionCookie(c: AppContext, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, sameSite: 'Lax', path: '/', secure });
}
