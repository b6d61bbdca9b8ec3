import type { MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { verifySession, type SessionKeys } from '../auth/session.ts';
import type { Database } from '../db/database.ts';
import type { AppContext, AppEnv } from './types.ts';

export const SESSION_COOKIE = 'sid';

/** The token of a request: a Bearer header wins over the cookie. */
export function requestToken(c: AppContext): string | undefined {
  const header = c.req.header('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1] : '';
  }
  return getCookie(c, SESSION_COOKIE);
}

/** Requires a valid, unrevoked session; sets `session` for the handler. */
export const requireSession =
  (keys: SessionKeys, db: Database): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    c.set('session', await verifySession(keys, db, requestToken(c)));
    await next();
  };

export function setSessionCookie(c: AppContext, token: string, maxAgeSeconds: number, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, token, { httpOnly: true, sameSite: 'Lax', path: '/', secure, maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: AppContext, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, sameSite: 'Lax', path: '/', secure });
}
