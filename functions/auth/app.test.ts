import { sign } from 'hono/jwt';
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { kdf } from '../../core/users/password.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, TEST_JWT_SECRET, testConfig, uniqueName } from '../../test/support.ts';

let services: Services;
let transport: FetchLike;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
});

const client = (name = uniqueName()) => new TestAccount(transport, name);

describe('register', () => {
  it('creates the user, sets an httpOnly session cookie and answers 201 {user}', async () => {
    const alice = client();
    const res = await alice.request<{ user: { id: string; username: string; createdAt: string } }>(
      'POST',
      '/api/auth/register',
      { username: alice.username, password: alice.password },
    );
    expect(res.status).toBe(201);
    expect(res.body.user).toEqual({
      id: expect.any(String),
      username: alice.username,
      createdAt: expect.any(String),
    });
    expect(new Date(res.body.user.createdAt).toISOString()).toBe(res.body.user.createdAt);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^sid=[^;]+;/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Secure/); // test config is not production
    expect((await alice.request('GET', '/api/auth/me')).status).toBe(200);
  });

  it('keeps the username as given but treats it case-insensitively for uniqueness', async () => {
    const name = uniqueName('Mixed');
    await client(name).register();
    const again = await client(name.toUpperCase()).request('POST', '/api/auth/register', {
      username: name.toUpperCase(),
      password: 'another password',
    });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: { code: 'username_taken', message: expect.any(String) } });
  });

  it.each([
    ['too short username', { username: 'ab', password: 'long enough' }],
    ['too long username', { username: 'a'.repeat(33), password: 'long enough' }],
    ['bad characters', { username: 'bad name!', password: 'long enough' }],
    ['blank username', { username: '   ', password: 'long enough' }],
    ['short password', { username: uniqueName(), password: 'short' }],
    ['password of 257 code points', { username: uniqueName(), password: '😀'.repeat(257) }],
    ['unknown field', { username: uniqueName(), password: 'long enough', admin: true }],
    ['missing password', { username: uniqueName() }],
    ['wrong type', { username: 42, password: 'long enough' }],
    [
      '__proto__ key',
      JSON.parse(`{"username":"${uniqueName()}","password":"long enough","__proto__":{"x":1}}`),
    ],
  ])('rejects %s with 400 invalid_request', async (_label, body) => {
    const res = await client().request<{ error: { code: string; issues: unknown[] } }>(
      'POST',
      '/api/auth/register',
      body,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.issues.length).toBeGreaterThan(0);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('counts password length in code points (8 emoji are a valid password)', async () => {
    const c = new TestAccount(transport, uniqueName(), '😀'.repeat(8));
    await c.register();
    expect((await c.login()).status).toBe(200);
  });

  it('trims the username', async () => {
    const name = uniqueName();
    const res = await client().request<{ user: { username: string } }>('POST', '/api/auth/register', {
      username: `  ${name} `,
      password: 'long enough',
    });
    expect(res.status).toBe(201);
    expect(res.body.user.username).toBe(name);
  });

  it('rejects malformed JSON and non-object bodies with 400', async () => {
    for (const body of ['{"username":', '[]', 'null', '"text"']) {
      const res = await client().request<{ error: { code: string } }>('POST', '/api/auth/register', body);
      expect(res.status, body).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
  });

  it('rejects bodies over the limit with 413 payload_too_large', async () => {
    const res = await client().request<{ error: { code: string } }>('POST', '/api/auth/register', {
      username: uniqueName(),
      password: 'x'.repeat(70 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });
});

describe('login', () => {
  it('logs in case-insensitively with a fresh token each time', async () => {
    const alice = client(uniqueName('Alice'));
    await alice.register();
    const first = alice.jwt;
    const other = new TestAccount(transport, alice.username!.toLowerCase(), alice.password);
    const res = await other.login();
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(alice.user!.id);
    expect(res.body.user.username).toBe(alice.username);
    expect(other.jwt).toBeDefined();
    expect(other.jwt).not.toBe(first);
  });

  it('answers wrong password, unknown user and malformed username identically, with no cookie', async () => {
    const bob = client();
    await bob.register();
    const attempts = [
      await bob.login('wrong password'),
      await new TestAccount(transport, uniqueName('ghost')).login(),
      await new TestAccount(transport, 'not a valid name!!').login(),
      await new TestAccount(transport, '').login(),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        error: { code: 'invalid_credentials', message: 'Wrong username or password' },
      });
      expect(res.headers.get('set-cookie')).toBeNull();
    }
  });

  it('costs an unknown user the same argon2id verification as a wrong password', async () => {
    const carol = client();
    await carol.register();
    // $argon2id$v=19$m=…,t=…,p=…$salt$hash: the parameters fix the cost of a verification.
    const parameters = (h: string) => h.split('$').slice(1, 4).join('$');
    // The real argon2, counted: which hashes each login verifies against (not how long it took).
    const verified: string[] = [];
    const real = kdf.verify;
    const spy = vi.spyOn(kdf, 'verify').mockImplementation((hashed, ...rest) => {
      verified.push(String(hashed));
      return real(hashed, ...rest);
    });
    onTestFinished(() => spy.mockRestore());
    verified.length = 0;
    expect((await carol.login('wrong password')).status).toBe(401);
    const forWrongPassword = [...verified];
    verified.length = 0;
    expect((await new TestAccount(transport, uniqueName('nobody')).login()).status).toBe(401);
    const forUnknownUser = [...verified];
    // One verification each, at the same parameters: without the dummy hash an unknown user
    // would cost one index lookup and no verification, which the response time would tell.
    expect(forWrongPassword).toHaveLength(1);
    expect(forUnknownUser).toHaveLength(1);
    expect(parameters(forUnknownUser[0]!)).toBe(parameters(forWrongPassword[0]!));
    expect(parameters(forWrongPassword[0]!)).toMatch(/^argon2id\$v=19\$m=\d+,t=\d+,p=\d+$/);
    expect(forUnknownUser[0]).not.toBe(forWrongPassword[0]);
  });

  it('throttles failures per username, then refuses even the right password until the window passes', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({
        RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: '3',
        RATE_LIMIT_LOGIN_WINDOW_SECONDS: '60',
      }),
    });
    const t: FetchLike = (p, i) => app.request(p, i);
    const dave = new TestAccount(t, uniqueName());
    await dave.register();
    for (let i = 0; i < 3; i++) expect((await dave.login('wrong password')).status).toBe(401);
    const blocked = await dave.login();
    expect(blocked.status).toBe(429);
    expect(blocked.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another spelling of the same username is the same account.
    expect((await new TestAccount(t, dave.username!.toUpperCase(), dave.password).login()).status).toBe(429);
  });

  it('throttles failures per client address across usernames', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({ RATE_LIMIT_LOGIN_FAILURES_PER_ADDRESS: '4', TRUST_PROXY_HOPS: '1' }),
    });
    const from =
      (ip: string): FetchLike =>
      (p, i) =>
        app.request(p, { ...i, headers: { ...(i?.headers as object), 'x-forwarded-for': ip } });
    const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.7`;
    for (let i = 0; i < 4; i++)
      expect((await new TestAccount(from(ip), uniqueName()).login()).status).toBe(401);
    const erin = new TestAccount(from(ip), uniqueName());
    await erin.register();
    expect((await erin.login()).status).toBe(429);
    // A different address is not affected.
    expect((await new TestAccount(from('10.255.255.1'), erin.username, erin.password).login()).status).toBe(
      200,
    );
  });

  it('throttles registrations per client address', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({ RATE_LIMIT_REGISTER_PER_HOUR: '2', TRUST_PROXY_HOPS: '1' }),
    });
    const t: FetchLike = (p, i) =>
      app.request(p, { ...i, headers: { ...(i?.headers as object), 'x-forwarded-for': '10.9.8.7' } });
    await new TestAccount(t, uniqueName()).register();
    await new TestAccount(t, uniqueName()).register();
    const third = await new TestAccount(t, uniqueName()).request('POST', '/api/auth/register', {
      username: uniqueName(),
      password: 'long enough',
    });
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

describe('request bodies', () => {
  it('refuses a body not sent as JSON with 400 invalid_request, before looking at it', async () => {
    const c = client();
    for (const headers of [
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
    ]) {
      const res = await c.request(
        'POST',
        '/api/auth/register',
        { username: c.username, password: c.password },
        headers,
      );
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: { code: 'invalid_request', message: 'Send the body as application/json' },
      });
    }
    const malformed = await c.request('POST', '/api/auth/login', '{"username":');
    expect(malformed.body).toEqual({ error: { code: 'invalid_request', message: 'Malformed request body' } });
  });
});

describe('token (native clients)', () => {
  const token = (c: TestAccount, password = c.password) =>
    c.request<{ user: { id: string; username: string }; token: string; expiresAt: number }>(
      'POST',
      '/api/auth/token',
      {
        username: c.username,
        password,
      },
    );

  it('answers 200 {user, token, expiresAt} and sets no cookie; the token works as Bearer and logout revokes it', async () => {
    const hana = client();
    await hana.register();
    const before = Date.now();
    const res = await token(new TestAccount(transport, hana.username!.toUpperCase(), hana.password));
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token', 'user']);
    expect(res.body.user).toEqual(hana.user);
    const ttl = services.config.auth.sessionTtlSeconds * 1000;
    expect(res.body.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + ttl);
    expect(res.body.expiresAt).toBeLessThanOrEqual(Date.now() + ttl);
    // A new session (its own jti), not the cookie's.
    expect(res.body.token).not.toBe(hana.jwt);

    const native = new TestAccount(transport);
    native.token = res.body.token;
    expect((await native.request('GET', '/api/auth/me')).status).toBe(200);
    expect((await native.request('POST', '/api/auth/logout')).status).toBe(204);
    expect((await native.request('GET', '/api/auth/me')).status).toBe(401);
    // The browser session of the same user is unaffected.
    expect((await hana.request('GET', '/api/auth/me')).status).toBe(200);
  });

  it('answers as login does: 401 invalid_credentials identically, 400 for unknown fields', async () => {
    const ivan = client();
    await ivan.register();
    const wrong = await token(ivan, 'wrong password');
    const viaLogin = await ivan.login('wrong password');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(viaLogin.body);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect((await token(new TestAccount(transport, 'not a valid name!!'))).status).toBe(401);
    const extra = await ivan.request('POST', '/api/auth/token', {
      username: ivan.username,
      password: ivan.password,
      admin: true,
    });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ error: { code: 'invalid_request' } });
  });

  it('shares the login throttle: failures through either route count for both', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({
        RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: '3',
        RATE_LIMIT_LOGIN_WINDOW_SECONDS: '60',
      }),
    });
    const t: FetchLike = (p, i) => app.request(p, i);
    const jack = new TestAccount(t, uniqueName());
    await jack.register();
    expect((await jack.login('wrong password')).status).toBe(401);
    expect((await token(jack, 'wrong password')).status).toBe(401);
    expect((await jack.login('wrong password')).status).toBe(401);
    const blocked = await token(jack);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await jack.login()).status).toBe(429);
  });
});

describe('sessions', () => {
  it('accepts the same JWT as a Bearer token', async () => {
    const frank = client();
    await frank.register();
    const native = new TestAccount(transport);
    native.token = frank.jwt;
    const me = await native.request<{ user: { id: string } }>('GET', '/api/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(frank.user!.id);
  });

  it('logout answers 204, clears the cookie and revokes the token everywhere', async () => {
    const gina = client();
    await gina.register();
    const token = gina.jwt!;
    const res = await gina.request('POST', '/api/auth/logout');
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/^sid=;.*Max-Age=0/i);
    const reuse = new TestAccount(transport);
    reuse.cookie = `sid=${token}`;
    expect((await reuse.request('GET', '/api/auth/me')).status).toBe(401);
    reuse.cookie = undefined;
    reuse.token = token;
    expect((await reuse.request('GET', '/api/rooms')).status).toBe(401);
    // Another session of the same user is unaffected.
    const again = new TestAccount(transport, gina.username, gina.password);
    expect((await again.login()).status).toBe(200);
    expect((await again.request('GET', '/api/auth/me')).status).toBe(200);
  });

  it('logout without a valid session still answers 204', async () => {
    expect((await client().request('POST', '/api/auth/logout')).status).toBe(204);
    const c = client();
    c.token = 'garbage';
    expect((await c.request('POST', '/api/auth/logout')).status).toBe(204);
  });

  it('publishes the revocation so live sockets can be closed', async () => {
    const hank = client();
    await hank.register();
    const seen: unknown[] = [];
    const off = services.bus.subscribe((e) => seen.push(e));
    try {
      await hank.request('POST', '/api/auth/logout');
      await expect
        .poll(() => seen)
        .toContainEqual({ type: 'session.revoked', jti: expect.any(String), userId: hank.user!.id });
    } finally {
      off();
    }
  });
});

describe('token forgery', () => {
  let victim: TestAccount;
  let claims: Record<string, unknown>;

  beforeAll(async () => {
    victim = client();
    await victim.register();
    claims = JSON.parse(Buffer.from(victim.jwt!.split('.')[1]!, 'base64url').toString());
  });

  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const withToken = async (token: string) => {
    const c = new TestAccount(transport);
    c.token = token;
    const bearer = await c.request<{ error: { code: string } }>('GET', '/api/auth/me');
    c.token = undefined;
    c.cookie = `sid=${token}`;
    const cookie = await c.request<{ error: { code: string } }>('GET', '/api/auth/me');
    return [bearer, cookie];
  };

  it('carries the contract claims', () => {
    expect(claims).toEqual({
      sub: victim.user!.id,
      name: victim.username,
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.any(String),
    });
  });

  it.each([
    ['alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
    ['HS512 with the right secret', () => sign(claims, TEST_JWT_SECRET, 'HS512')],
    ['HS384 with the right secret', () => sign(claims, TEST_JWT_SECRET, 'HS384')],
    ['a wrong secret', () => sign(claims, 'another-secret-that-is-long-enough-0123456789', 'HS256')],
    [
      'a tampered payload',
      () => {
        const [h, , s] = victim.jwt!.split('.');
        return `${h}.${b64({ ...claims, sub: 'someone-else' })}.${s}`;
      },
    ],
    [
      'an expired token',
      () => sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, TEST_JWT_SECRET, 'HS256'),
    ],
    [
      'missing claims',
      () => sign({ sub: victim.user!.id, exp: Math.floor(Date.now() / 1000) + 60 }, TEST_JWT_SECRET, 'HS256'),
    ],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses %s', async (_label, make) => {
    for (const res of await withToken(await make())) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('accepts a token it signed itself (the check above is not vacuous)', async () => {
    const token = await sign(claims, TEST_JWT_SECRET, 'HS256');
    for (const res of await withToken(token)) expect(res.status).toBe(200);
  });
});
