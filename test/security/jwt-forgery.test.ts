import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSocket, startWorld, type TestUser, type TestWorld } from '../realtime-support.ts';
import { TEST_JWT_SECRET } from '../support.ts';

/**
 * The JWT forgery set against both doors, REST (Bearer and cookie) and the Socket.IO
 * handshake (auth.token and cookie): each forged token is refused as `unauthorized`, while
 * the genuine token opens both (so the refusals are not vacuous).
 */
let world: TestWorld;
let victim: TestUser;
let other: TestUser;
let revoked: string;

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const hmac = (alg: 'sha256' | 'sha512', data: string, key = TEST_JWT_SECRET) =>
  createHmac(alg, key).update(data).digest('base64url');
const signed = (
  header: object,
  claims: object,
  alg: 'sha256' | 'sha512' = 'sha256',
  key = TEST_JWT_SECRET,
) => {
  const data = `${b64(header)}.${b64(claims)}`;
  return `${data}.${hmac(alg, data, key)}`;
};

let forgeries: Array<[string, string]>;

beforeAll(async () => {
  world = await startWorld();
  victim = await world.user('victim');
  other = await world.user('other');
  const claims = JSON.parse(Buffer.from(victim.token.split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  const [h, p, s] = victim.token.split('.') as [string, string, string];
  const now = Math.floor(Date.now() / 1000);

  const second = await world.user('revoked');
  revoked = second.token;
  await second.logout();

  forgeries = [
    ['alg none, no signature', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`],
    ['alg none, original signature', `${b64({ alg: 'none', typ: 'JWT' })}.${p}.${s}`],
    ['alg "None" (case games)', `${b64({ alg: 'None', typ: 'JWT' })}.${p}.`],
    ['HS512 with the right secret', signed({ alg: 'HS512', typ: 'JWT' }, claims, 'sha512')],
    ['HS256 body under an HS512 header', `${b64({ alg: 'HS512', typ: 'JWT' })}.${p}.${s}`],
    ['RS256 header, HMAC signature (key confusion)', signed({ alg: 'RS256', typ: 'JWT' }, claims)],
    [
      'wrong key',
      signed({ alg: 'HS256', typ: 'JWT' }, claims, 'sha256', 'another-secret-that-is-long-enough-0123456789'),
    ],
    ['empty key', signed({ alg: 'HS256', typ: 'JWT' }, claims, 'sha256', '')],
    ['tampered sub (another user), original signature', `${h}.${b64({ ...claims, sub: other.id })}.${s}`],
    ['tampered exp, original signature', `${h}.${b64({ ...claims, exp: now + 10 * 365 * 86400 })}.${s}`],
    ['tampered name, original signature', `${h}.${b64({ ...claims, name: 'admin' })}.${s}`],
    ['truncated signature', `${h}.${p}.${s.slice(0, -4)}`],
    ['signature of another token', `${h}.${p}.${other.token.split('.')[2]}`],
    [
      'expired an hour ago',
      signed({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now - 7200, exp: now - 3600 }),
    ],
    ['not valid yet (nbf in an hour)', signed({ alg: 'HS256', typ: 'JWT' }, { ...claims, nbf: now + 3600 })],
    [
      'no jti',
      signed({ alg: 'HS256', typ: 'JWT' }, { sub: claims.sub, name: claims.name, iat: now, exp: now + 600 }),
    ],
    [
      'no sub',
      signed({ alg: 'HS256', typ: 'JWT' }, { name: claims.name, jti: 'x', iat: now, exp: now + 600 }),
    ],
    ['sub as a number', signed({ alg: 'HS256', typ: 'JWT' }, { ...claims, sub: 1 })],
    [
      'no exp',
      signed({ alg: 'HS256', typ: 'JWT' }, { sub: claims.sub, name: claims.name, jti: 'y', iat: now }),
    ],
    ['exp as a string', signed({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: String(now + 600) })],
    ['revoked by logout', revoked],
    ['two segments', `${h}.${p}`],
    ['four segments', `${h}.${p}.${s}.${s}`],
    ['header not JSON', `${b64('not json')}.${p}.${s}`],
    ['payload not JSON', `${h}.${b64('not json')}.${hmac('sha256', `${h}.${b64('not json')}`)}`],
  ];
});

afterAll(() => world?.close());

async function restStatus(headers: Record<string, string>): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${world.url}/api/auth/me`, { headers });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code };
}

async function handshake(opts: { token?: string; cookie?: string }): Promise<string> {
  try {
    const client = await openSocket(world.url, opts);
    client.close();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('JWT forgery', () => {
  it('the genuine token opens REST (bearer, cookie) and the handshake (token, cookie)', async () => {
    expect(await restStatus({ authorization: `Bearer ${victim.token}` })).toEqual({
      status: 200,
      code: undefined,
    });
    expect(await restStatus({ cookie: `sid=${victim.token}` })).toEqual({ status: 200, code: undefined });
    expect(await handshake({ token: victim.token })).toBe('connected');
    expect(await handshake({ cookie: `sid=${victim.token}` })).toBe('connected');
  });

  it('refuses every forgery over REST, as a bearer token and as the cookie', async () => {
    expect(forgeries.length).toBeGreaterThanOrEqual(20);
    const failures: string[] = [];
    for (const [name, token] of forgeries) {
      for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `sid=${token}` }] as Record<
        string,
        string
      >[]) {
        const r = await restStatus(headers);
        if (r.status !== 401 || r.code !== 'unauthorized')
          failures.push(`${name} (${Object.keys(headers)[0]}): ${JSON.stringify(r)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuses every forgery at the Socket.IO handshake, as auth.token and as the cookie', async () => {
    const failures: string[] = [];
    for (const [name, token] of forgeries) {
      for (const opts of [{ token }, { cookie: `sid=${token}` }]) {
        const outcome = await handshake(opts);
        if (outcome !== 'unauthorized') failures.push(`${name} (${Object.keys(opts)[0]}): ${outcome}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('a forged token in auth.token is not rescued by a valid cookie', async () => {
    // auth.token wins over the cookie: a bad one must fail rather than fall back.
    expect(await handshake({ token: forgeries[0]![1], cookie: `sid=${victim.token}` })).toBe('unauthorized');
  });
});
