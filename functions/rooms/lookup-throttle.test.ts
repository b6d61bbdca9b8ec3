import { beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, testConfig, uniqueName } from '../../test/support.ts';

/**
 * `POST /api/rooms/:roomId/members` looks users up by name: 201 for a real one, 404 for an
 * unknown one. Throttled so it is no username oracle: unknown names per caller, every
 * lookup per client address; also under a concurrent burst.
 */
let services: Services;
beforeAll(async () => {
  services = await sharedServices();
});

const randomIp = () =>
  `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;

async function appWith(env: Record<string, string>) {
  const app = await restApp({ ...services, config: testConfig({ TRUST_PROXY_HOPS: '1', ...env }) });
  return (ip: string): FetchLike =>
    (p, i) =>
      app.request(p, { ...i, headers: { ...(i?.headers as object), 'x-forwarded-for': ip } });
}

async function owner(t: FetchLike) {
  const c = new TestAccount(t, uniqueName('owner'));
  await c.register();
  return { client: c, room: await c.createRoom('lookups') };
}

describe('POST /api/rooms/:roomId/members throttling', () => {
  it('allows 20 unknown usernames per caller by default, then 429 with Retry-After, for real names too', async () => {
    const from = await appWith({});
    const t = from(randomIp());
    const { client, room } = await owner(t);
    const real = new TestAccount(t, uniqueName('real'));
    await real.register();
    for (let i = 0; i < 19; i++)
      expect((await client.addMember(room.id, uniqueName('ghost'))).status).toBe(404);
    // Real names do not count against the caller's unknown-name budget...
    expect((await client.addMember(room.id, real.username!)).status).toBe(201);
    expect((await client.addMember(room.id, uniqueName('ghost'))).status).toBe(404);
    const blocked = await client.addMember(room.id, uniqueName('ghost'));
    expect(blocked.status).toBe(429);
    expect(blocked.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    // ...but once over, a real name is refused as well: the answer tells nothing.
    expect((await client.addMember(room.id, real.username!)).status).toBe(429);
    // Another caller has a budget of its own.
    const other = await owner(t);
    expect((await other.client.addMember(other.room.id, uniqueName('ghost'))).status).toBe(404);
  });

  it('holds under a concurrent burst: of 100 unknown names at once at most the limit are looked up', async () => {
    const from = await appWith({ RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS: '5' });
    const { client, room } = await owner(from(randomIp()));
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => client.addMember(room.id, uniqueName('ghost'))),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 404).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(95);
    for (const a of answers.filter((x) => x.status === 429))
      expect(a.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  });

  it('limits every lookup per client address, across callers', async () => {
    const from = await appWith({ RATE_LIMIT_USERNAME_LOOKUPS_PER_ADDRESS_PER_HOUR: '6' });
    const ip = randomIp();
    const a = await owner(from(ip));
    const b = await owner(from(ip));
    const real = new TestAccount(from(randomIp()), uniqueName('real'));
    await real.register();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await a.client.addMember(a.room.id, real.username!)).status);
    for (let i = 0; i < 3; i++)
      statuses.push((await b.client.addMember(b.room.id, uniqueName('ghost'))).status);
    expect(statuses).toEqual([201, 200, 200, 404, 404, 404]);
    expect((await b.client.addMember(b.room.id, real.username!)).status).toBe(429);
    // Another address is not affected.
    const c = await owner(from(randomIp()));
    expect((await c.client.addMember(c.room.id, real.username!)).status).toBe(201);
  });

  it('checks membership first: a non-member gets 404 and spends nothing', async () => {
    const from = await appWith({ RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS: '2' });
    const t = from(randomIp());
    const { room } = await owner(t);
    const outsider = await owner(t);
    for (let i = 0; i < 5; i++)
      expect((await outsider.client.addMember(room.id, uniqueName('ghost'))).status).toBe(404);
    expect((await outsider.client.addMember(outsider.room.id, uniqueName('ghost'))).status).toBe(404);
    expect((await outsider.client.addMember(outsider.room.id, uniqueName('ghost'))).status).toBe(404);
    expect((await outsider.client.addMember(outsider.room.id, uniqueName('ghost'))).status).toBe(429);
  });
});

describe('POST /api/upload/init throttling', () => {
  const body = (roomId: string) => ({ roomId, filename: 'a.png', mime: 'image/png', bytes: 10 });

  it('allows RATE_LIMIT_UPLOAD_INIT_PER_HOUR per user, also under a concurrent burst, then 429 with Retry-After', async () => {
    const from = await appWith({ RATE_LIMIT_UPLOAD_INIT_PER_HOUR: '10' });
    const { client, room } = await owner(from(randomIp()));
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => client.request('POST', '/api/upload/init', body(room.id))),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.filter((s) => s === 429).length).toBe(30);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String) } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
    // Per user: another user is not affected.
    const other = await owner(from(randomIp()));
    expect((await other.client.request('POST', '/api/upload/init', body(other.room.id))).status).toBe(200);
  });

  it('defaults to 120 an hour', () => {
    expect(testConfig().limits.uploadInitPerUser).toEqual({ limit: 120, windowMs: 3_600_000 });
  });
});
