import { sign, verify } from 'hono/jwt';
import { newId } from '../ids.ts';
import { AppError } from '../errors.ts';
import type { Database } from '../db/database.ts';
import { revocations, type RevocationCache } from './revocations.ts';
import { verifiedTokens } from './verified-tokens.ts';

/** Who a valid session token speaks for. */
export interface Session {
  userId: string;
  name: string;
  jti: string;
  /** Expiry, epoch seconds. */
  exp: number;
}

export interface SessionKeys {
  jwtSecret: string;
  sessionTtlSeconds: number;
}

export async function issueToken(
  keys: SessionKeys,
  user: { id: string; username: string },
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<{ token: string; session: Session }> {
  const session: Session = {
    userId: user.id,
    name: user.username,
    jti: newId(),
    exp: nowSeconds + keys.sessionTtlSeconds,
  };
  const token = await sign(
    { sub: session.userId, name: session.name, iat: nowSeconds, exp: session.exp, jti: session.jti },
    keys.jwtSecret,
    'HS256',
  );
  return { token, session };
}

const unauthorized = () => new AppError('unauthorized', 'Authentication required');

/**
 * Verifies signature (HS256 only), expiry and claims, then revocation. Every failure is the
 * same `unauthorized`: the reason is nothing a client should learn, and JWT library errors
 * quote the whole token, so they are never passed on or logged.
 */
export async function verifySession(
  keys: SessionKeys,
  db: Database,
  token: string | undefined,
  /** Where REST requests take the revocation from (revocations.ts); without it, the database. */
  cache?: RevocationCache,
): Promise<Session> {
  const session = await verifySessionToken(keys, token);
  const revoked = cache
    ? await cache.isRevoked(session.jti, session.exp * 1000, (id) => isRevoked(db, id))
    : await isRevoked(db, session.jti);
  if (revoked) throw unauthorized();
  return session;
}

/**
 * The session a token claims, its signature, expiry and claims checked but not whether it
 * was revoked (no I/O): who is asking, before anything is spent on them (handshake cool-down).
 */
export async function verifySessionToken(keys: SessionKeys, token: string | undefined): Promise<Session> {
  if (!token || token.length > 4096) throw unauthorized();
  return verifiedTokens.get(keys.jwtSecret, token) ?? (await verifyToken(keys, token));
}

/** Signature (HS256 only), expiry and claims, remembered once they pass (verified-tokens.ts). */
async function verifyToken(keys: SessionKeys, token: string): Promise<Session> {
  let payload: Record<string, unknown>;
  try {
    payload = await verify(token, keys.jwtSecret, 'HS256');
  } catch {
    throw unauthorized();
  }
  const { sub, name, jti, exp } = payload;
  if (
    typeof sub !== 'string' ||
    typeof name !== 'string' ||
    typeof jti !== 'string' ||
    typeof exp !== 'number'
  ) {
    throw unauthorized();
  }
  const session: Session = Object.freeze({ userId: sub, name, jti, exp });
  verifiedTokens.remember(keys.jwtSecret, token, session);
  return session;
}

async function isRevoked(db: Database, jti: string): Promise<boolean> {
  const row = await db.prisma.revokedToken.findUnique({ where: { jti }, select: { jti: true } });
  return row !== null;
}

/**
 * Records a token as revoked until it would have expired anyway. Logouts also sweep
 * revocations that have outlived their tokens, so the table stays the size of the live ones
 * without a scheduler.
 */
export async function revokeSession(db: Database, session: Session): Promise<void> {
  await db.prisma.revokedToken.upsert({
    where: { jti: session.jti },
    create: { jti: session.jti, userId: session.userId, expiresAt: new Date(session.exp * 1000) },
    update: {},
  });
  revocations.markRevoked(session.jti, session.exp * 1000);
  await pruneRevokedSessions(db);
}

/** Forgets revocations of tokens that have expired: they fail verification on their own. */
async function pruneRevokedSessions(db: Database, now = new Date()): Promise<number> {
  const { count } = await db.prisma.revokedToken.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

/** Which of these token ids have been revoked (one query, for the realtime reconciliation). */
export async function revokedAmong(db: Database, jtis: string[]): Promise<Set<string>> {
  if (jtis.length === 0) return new Set();
  const rows = await db.prisma.revokedToken.findMany({ where: { jti: { in: jtis } }, select: { jti: true } });
  return new Set(rows.map((r) => r.jti));
}
