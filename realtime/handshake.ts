import type { IncomingHttpHeaders } from 'node:http';
import { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import {
  verifySession,
  verifySessionToken,
  type Session,
  type SessionKeys,
} from '../core/sessions/sessions.ts';
import type { Database } from '../core/db/database.ts';
import { AppError, rateLimited, toPublicError } from '../core/errors.ts';
import { requestToken, SESSION_COOKIE } from '../core/http/session.ts';
import type { AppContext } from '../core/http/types.ts';
import type { Logger } from '../core/logger.ts';

/** Which credential a handshake presented: only the cookie is ambient (a browser adds it by itself). */
export type HandshakeVia = 'auth.token' | 'authorization' | 'cookie' | 'none';

export interface HandshakeCredential {
  token: string | undefined;
  via: HandshakeVia;
}

/** The handshake's headers as a Hono context, so REST's own token rules read them. */
function headerContext(headers: IncomingHttpHeaders): AppContext {
  const h = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    try {
      h.set(name, Array.isArray(value) ? value.join(', ') : value);
    } catch {
      // A value fetch's Headers will not hold (Node's parser is laxer): not a credential header we can read.
    }
  }
  return new Context(new Request('http://handshake.invalid/', { headers: h })) as AppContext;
}

/**
 * `auth.token` wins (anything but a non-empty string there counts as absent); then what
 * REST reads from the request: an `Authorization: Bearer` header, then the `sid` cookie.
 */
export function handshakeCredential(auth: unknown, headers: IncomingHttpHeaders): HandshakeCredential {
  const token = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
  if (typeof token === 'string' && token.length > 0) return { token, via: 'auth.token' };
  const c = headerContext(headers);
  const fromRequest = requestToken(c);
  if (fromRequest === undefined) return { token: undefined, via: 'none' };
  return {
    token: fromRequest,
    via: fromRequest === getCookie(c, SESSION_COOKIE) ? 'cookie' : 'authorization',
  };
}

/**
 * Cross-site websocket hijacking guard. A browser adds the cookie on its own and always
 * sends Origin, so a cookie handshake from a foreign Origin is refused before the cookie is
 * looked at. A token (auth.token or Bearer) is no ambient credential: whoever sends it holds
 * it, and native socket libraries send an Origin of their own, so no Origin check applies.
 * Requests without an Origin are not browsers and are allowed.
 */
export function originRefused(
  allowed: ReadonlySet<string>,
  via: HandshakeVia,
  origin: string | undefined,
): boolean {
  return via === 'cookie' && origin !== undefined && !allowed.has(origin);
}

/**
 * An Error whose message and data a client reads from `connect_error`: the message is the
 * code, the data `{code, message, retryAfterMs?}` (as in an ack's error).
 */
export function connectError(err: AppError): Error & {
  data: { code: string; message: string; retryAfterMs?: number };
} {
  const { retryAfterMs } = err.details;
  return Object.assign(new Error(err.code), {
    data: { code: err.code, message: err.message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });
}

/** Why a handshake was refused, as logged (never the token). */
export type RefusalReason =
  | 'origin_not_allowed'
  | 'no_credentials'
  | 'invalid_token'
  | 'too_many_connections'
  | 'reconnect_cooldown'
  | 'unavailable'
  | 'internal';

export interface HandshakeRequest {
  auth: unknown;
  headers: IncomingHttpHeaders;
  address: string;
}

/** A refused handshake: what the client reads, and what the log says. */
export class HandshakeRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly error: AppError,
    /** What went wrong underneath (for the log only). */
    readonly detail?: string,
    /** Who was refused, when the token said so (a cool-down refusal). */
    readonly userId?: string,
  ) {
    super(reason);
  }
}

/**
 * The session behind a handshake, or a HandshakeRefused saying why not. `cooldownMs` is
 * asked with the user the verified token names, before the session is looked up: a user in
 * a reconnect cool-down (handshake-cooldown.ts) costs no database work.
 */
export async function authenticateHandshake(
  keys: SessionKeys,
  db: Database,
  allowedOrigins: ReadonlySet<string>,
  req: HandshakeRequest,
  cooldownMs?: (userId: string) => Promise<number>,
): Promise<{ session: Session; via: HandshakeVia }> {
  const { token, via } = handshakeCredential(req.auth, req.headers);
  if (originRefused(allowedOrigins, via, req.headers.origin)) {
    throw new HandshakeRefused('origin_not_allowed', new AppError('forbidden', 'Origin not allowed'));
  }
  try {
    if (cooldownMs) {
      const { userId } = await verifySessionToken(keys, token);
      const retryAfterMs = await cooldownMs(userId);
      if (retryAfterMs > 0)
        throw new HandshakeRefused('reconnect_cooldown', rateLimited(retryAfterMs), undefined, userId);
    }
    return { session: await verifySession(keys, db, token), via };
  } catch (err) {
    if (err instanceof HandshakeRefused) throw err;
    const pub = toPublicError(err);
    const reason: RefusalReason =
      pub.code === 'unauthorized'
        ? via === 'none'
          ? 'no_credentials'
          : 'invalid_token'
        : pub.code === 'unavailable'
          ? 'unavailable'
          : 'internal';
    throw new HandshakeRefused(
      reason,
      pub,
      reason === 'invalid_token' || reason === 'no_credentials' ? undefined : (err as Error).message,
    );
  }
}

/**
 * Logs a refusal with its reason: expected ones (a stale token, a cool-down) at info, the
 * others at warn; `repeat` (a cool-down's refusals after its first): at debug.
 */
export function logRefusal(
  logger: Logger,
  refusal: HandshakeRefused,
  req: HandshakeRequest,
  via?: HandshakeVia,
  repeat = false,
): void {
  const fields = {
    reason: refusal.reason,
    ...(refusal.userId ? { userId: refusal.userId } : {}),
    via: via ?? handshakeCredential(req.auth, req.headers).via,
    origin: req.headers.origin,
    address: req.address,
    ...(refusal.detail ? { detail: refusal.detail } : {}),
  };
  if (repeat) logger.debug(fields, 'handshake refused');
  else if (
    refusal.reason === 'invalid_token' ||
    refusal.reason === 'no_credentials' ||
    refusal.reason === 'reconnect_cooldown'
  )
    logger.info(fields, 'handshake refused');
  else logger.warn(fields, 'handshake refused');
}
