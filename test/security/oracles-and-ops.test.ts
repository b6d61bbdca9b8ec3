import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAccount, type RawResponse } from '../accounts.ts';
import { openSocket, startWorld, type TestUser, type TestWorld } from '../realtime-support.ts';
import { uniqueName } from '../support.ts';

/**
 * Login gives no username oracle, neither in its answers nor in its throttling; /metrics
 * needs its token; a browser page from a foreign origin cannot ride a valid cookie into a
 * socket. All over real HTTP against the local server.
 */
const METRICS_TOKEN = 'metrics-token-for-the-security-suite';
const APP_ORIGIN = 'https://chat.example';
let world: TestWorld;
let victim: TestUser;

beforeAll(async () => {
  world = await startWorld({
    METRICS_TOKEN,
    CORS_ORIGINS: APP_ORIGIN,
    RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: '3',
    RATE_LIMIT_LOGIN_WINDOW_SECONDS: '120',
  });
  victim = await world.user('victim');
});

afterAll(() => world?.close());

/** What an observer can compare between two answers: status, body, and which headers came back. */
const shape = (r: RawResponse<unknown>) => ({
  status: r.status,
  body: r.body,
  headers: [...r.headers.keys()]
    .filter((h) => !['date', 'x-request-id', 'content-length', 'retry-after'].includes(h))
    .sort(),
});

describe('no username oracle', () => {
  it('answers an existing and an unknown username identically, failure after failure, into the same throttle', async () => {
    const ghost = new TestAccount(world.url, uniqueName('ghost'), 'whatever password');
    const known = new TestAccount(world.url, victim.name, 'wrong password!!');
    for (let i = 0; i < 3; i++) {
      const a = await known.login();
      const b = await ghost.login();
      expect(a.status).toBe(401);
      expect(shape(a)).toEqual(shape(b));
      expect(a.headers.get('set-cookie')).toBeNull();
    }
    const a = await known.login();
    const b = await ghost.login();
    expect(a.status).toBe(429);
    expect(shape(a)).toEqual(shape(b));
    expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(b.headers.get('retry-after'))).toBeGreaterThan(0);
    // Throttled means throttled: the right password is refused too, and no cookie is set.
    const right = await new TestAccount(world.url, victim.name.toUpperCase(), victim.api.password).login();
    expect(right.status).toBe(429);
    expect(right.headers.get('set-cookie')).toBeNull();
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  const get = (headers: Record<string, string> = {}, query = '') =>
    fetch(`${world.url}/metrics${query}`, { headers });

  it('refuses every way in but the bearer token, without echoing what was sent', async () => {
    for (const [name, headers, query] of [
      ['no credentials', {}, ''],
      ['wrong token', { authorization: 'Bearer wrong-token-of-some-length' }, ''],
      ['token plus a character', { authorization: `Bearer ${METRICS_TOKEN}x` }, ''],
      ['token prefix', { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` }, ''],
      [
        'token as basic auth',
        { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
        '',
      ],
      ['token without scheme', { authorization: METRICS_TOKEN }, ''],
      ['token in the query', {}, `?token=${METRICS_TOKEN}`],
      ['token in a cookie', { cookie: `token=${METRICS_TOKEN}` }, ''],
      ['a user session', { authorization: `Bearer ${victim.token}` }, ''],
    ] as const) {
      const res = await get(headers, query);
      const text = await res.text();
      expect(res.status, name).toBe(401);
      expect(JSON.parse(text), name).toEqual({
        error: { code: 'unauthorized', message: expect.any(String) },
      });
      expect(text).not.toContain(METRICS_TOKEN.slice(0, 12));
    }
  });

  it('serves the metrics to the token, with no user or room in any label', async () => {
    const room = await victim.api.createRoom('metrics room');
    const s = await victim.connect();
    await s.joined(room);
    await s.sent(room, 'counted');
    s.close();
    const res = await get({ authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('parley_http_requests_total');
    expect(text).toContain('parley_socket_events_total');
    for (const secret of [victim.id, victim.name, room.id, victim.token]) expect(text).not.toContain(secret);
  });
});

describe('cross-site socket hijacking', () => {
  it('refuses a foreign Origin carrying a valid session cookie, on websocket and polling', async () => {
    const cookie = `sid=${victim.token}`;
    for (const transports of [['websocket'], ['polling']] as const) {
      await expect(
        openSocket(world.url, { cookie, origin: 'https://evil.example', transports: [...transports] }),
      ).rejects.toMatchObject({ message: 'forbidden' });
      await expect(
        openSocket(world.url, { cookie, origin: `${APP_ORIGIN}.evil.example`, transports: [...transports] }),
      ).rejects.toMatchObject({ message: 'forbidden' });
      await expect(
        openSocket(world.url, {
          cookie,
          origin: APP_ORIGIN.replace('https', 'http'),
          transports: [...transports],
        }),
      ).rejects.toMatchObject({ message: 'forbidden' });
      await expect(
        openSocket(world.url, { cookie, origin: 'null', transports: [...transports] }),
      ).rejects.toMatchObject({ message: 'forbidden' });
      // A cookie and a token: the token authenticates, the cookie beside it is not what let it in.
      const withToken = await openSocket(world.url, {
        cookie,
        token: victim.token,
        origin: 'https://evil.example',
        transports: [...transports],
      });
      withToken.close();
      // The configured origin with the same cookie is fine (the refusals above are not vacuous).
      const own = await openSocket(world.url, { cookie, origin: APP_ORIGIN, transports: [...transports] });
      own.close();
    }
  });
});
