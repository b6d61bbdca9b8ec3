import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryCounterStore, type CounterStore } from '../redis/counters.ts';
import type { AppError } from '../errors.ts';
import type { Services } from '../services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, testConfig, uniqueName, usesRedis } from '../../test/support.ts';
import { loginThrottle } from './login-throttle.ts';

/**
 * Login throttling under concurrency: a burst sees the counters as they are after each
 * reservation, never all "under the limit" at once (the bug: read, verify, then count).
 */
let services: Services;
beforeAll(async () => {
  services = await sharedServices();
});

const limits = { loginFailuresPerUsername: 10, loginFailuresPerAddress: 100, loginWindowMs: 60_000 };
const slowVerify =
  (counter: { n: number }, result: unknown = null) =>
  async () => {
    counter.n++;
    // About one argon2id verification, so the burst overlaps as it does for real.
    await new Promise((r) => setTimeout(r, 20));
    return result;
  };

async function burst(
  store: CounterStore,
  size: number,
  attempt: () => { address: string; username: string },
) {
  const throttle = loginThrottle(store, limits);
  const verified = { n: 0 };
  const outcomes = await Promise.all(
    Array.from({ length: size }, () =>
      throttle.guard(attempt(), slowVerify(verified)).then(
        () => 'ok',
        (err: AppError) => err.code,
      ),
    ),
  );
  const count = (code: string) => outcomes.filter((o) => o === code).length;
  return { verified: verified.n, failed: count('invalid_credentials'), limited: count('rate_limited') };
}

describe.each([
  ['memory', () => new MemoryCounterStore()],
  [usesRedis ? 'the configured store (Redis)' : 'the configured store (memory)', () => services.counters],
] as const)('login throttle on %s', (_label, store) => {
  it('evaluates at most the per-username limit of 100 concurrent attempts; the rest are 429', async () => {
    const username = uniqueName('burst');
    const address = `10.1.${Math.floor(Math.random() * 250)}.1`;
    const r = await burst(store(), 100, () => ({ address, username }));
    expect(r.verified).toBeLessThanOrEqual(limits.loginFailuresPerUsername);
    expect(r.verified).toBeGreaterThan(0);
    expect(r.failed).toBe(r.verified);
    expect(r.limited).toBe(100 - r.verified);
  });

  it('evaluates at most the per-address limit of 300 concurrent attempts on 300 usernames', async () => {
    const address = `10.2.${Math.floor(Math.random() * 250)}.1`;
    const r = await burst(store(), 300, () => ({ address, username: uniqueName('many') }));
    expect(r.verified).toBeLessThanOrEqual(limits.loginFailuresPerAddress);
    expect(r.limited).toBe(300 - r.verified);
  });

  it('gives the unit back on success and when verification itself fails', async () => {
    const s = store();
    const throttle = loginThrottle(s, { ...limits, loginFailuresPerUsername: 2 });
    const attempt = { address: `10.3.${Math.floor(Math.random() * 250)}.1`, username: uniqueName('ok') };
    for (let i = 0; i < 5; i++) expect(await throttle.guard(attempt, async () => 'user')).toBe('user');
    await expect(throttle.guard(attempt, () => Promise.reject(new Error('db away')))).rejects.toThrow(
      'db away',
    );
    // Two real failures still fit: successes and errors were not counted.
    for (let i = 0; i < 2; i++)
      await expect(throttle.guard(attempt, async () => null)).rejects.toMatchObject({
        code: 'invalid_credentials',
      });
    await expect(throttle.guard(attempt, async () => 'user')).rejects.toMatchObject({ code: 'rate_limited' });
  });
});

describe('POST /api/auth/login under a concurrent burst', () => {
  it('answers at most the limit 401s of 100 concurrent wrong logins, 429 with Retry-After for the rest, and refuses the right password', async () => {
    const app = await restApp({ ...services, config: testConfig({ TRUST_PROXY_HOPS: '1' }) });
    const ip = `10.4.${Math.floor(Math.random() * 250)}.9`;
    const t: FetchLike = (p, i) =>
      app.request(p, { ...i, headers: { ...(i?.headers as object), 'x-forwarded-for': ip } });
    const victim = new TestAccount(t, uniqueName('victim'));
    await victim.register();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        // The right password among them, last: it must not slip through the burst.
        i === 99 ? victim.login() : new TestAccount(t, victim.username, 'wrong password').login(),
      ),
    );
    const statuses = answers.map((a) => a.status);
    const unauthorized = statuses.filter((s) => s === 401).length;
    expect(unauthorized).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBe(
      100 - unauthorized - statuses.filter((s) => s === 200).length,
    );
    for (const a of answers.filter((x) => x.status === 429)) {
      expect(a.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(a.headers.get('set-cookie')).toBeNull();
    }
    expect(answers[99]!.status).toBe(429);
    expect((await victim.login()).status).toBe(429);
  });
});
