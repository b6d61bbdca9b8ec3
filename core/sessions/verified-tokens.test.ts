import { describe, expect, it } from 'vitest';
import type { Database } from '../db/database.ts';
import { RevocationCache } from './revocations.ts';
import { issueToken, verifySession } from './sessions.ts';
import { VerifiedTokens } from './verified-tokens.ts';

const session = (exp: number) => ({ userId: 'u1', name: 'alice', jti: 'j1', exp });

describe('VerifiedTokens', () => {
  it('answers a remembered token until the second of its expiry, then forgets it', () => {
    let now = 1_000_000;
    const cache = new VerifiedTokens(10, () => now);
    cache.remember('s', 'tok', session(1_010));
    expect(cache.get('s', 'tok')).toEqual(session(1_010));
    now = 1_009_999;
    expect(cache.get('s', 'tok')).toBeDefined();
    // hono/jwt: expired once exp <= the current whole second.
    now = 1_010_000;
    expect(cache.get('s', 'tok')).toBeUndefined();
    now = 1_000_000;
    expect(cache.get('s', 'tok')).toBeUndefined();
  });

  it('keys by secret and by the exact token string', () => {
    const cache = new VerifiedTokens(10, () => 0);
    cache.remember('s', 'tok', session(10));
    expect(cache.get('other secret', 'tok')).toBeUndefined();
    expect(cache.get('s', 'tok ')).toBeUndefined();
    expect(cache.get('s', 'to')).toBeUndefined();
  });

  it('is bounded (oldest first) and skips long tokens', () => {
    const cache = new VerifiedTokens(2, () => 0, 8);
    cache.remember('s', 'a', session(10));
    cache.remember('s', 'b', session(10));
    cache.remember('s', 'c', session(10));
    cache.remember('s', 'long token', session(10));
    expect(['a', 'b', 'c', 'long token'].map((t) => cache.get('s', t) !== undefined)).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });
});

describe('verifySession with remembered tokens', () => {
  const keys = { jwtSecret: 'test-secret-of-enough-length-0123456789', sessionTtlSeconds: 3600 };
  // Revocation comes from the cache (filled by the bus), never from this database.
  const db = {} as Database;

  it('still refuses a revoked token, and a token signed with another secret, after a hit', async () => {
    const { token, session: s } = await issueToken(keys, { id: 'u1', username: 'alice' });
    const revocations = new RevocationCache();
    // Mark "not revoked" in the cache, as a first request's look-up would.
    await revocations.isRevoked(s.jti, s.exp * 1000, async () => false);
    expect(await verifySession(keys, db, token, revocations)).toEqual(s);
    expect(await verifySession(keys, db, token, revocations)).toEqual(s);
    await expect(
      verifySession({ ...keys, jwtSecret: 'another-secret-0123456789-abcdef' }, db, token, revocations),
    ).rejects.toMatchObject({
      code: 'unauthorized',
    });
    revocations.markRevoked(s.jti, s.exp * 1000);
    await expect(verifySession(keys, db, token, revocations)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('refuses a tampered copy of a remembered token', async () => {
    const { token, session: s } = await issueToken(keys, { id: 'u2', username: 'bob' });
    const revocations = new RevocationCache();
    await revocations.isRevoked(s.jti, s.exp * 1000, async () => false);
    await verifySession(keys, db, token, revocations);
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    await expect(verifySession(keys, db, tampered, revocations)).rejects.toMatchObject({
      code: 'unauthorized',
    });
  });
});
