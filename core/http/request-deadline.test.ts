import { describe, expect, it } from 'vitest';
import { pgPoolConfig } from '../db/database.ts';
import { silentLogger, testConfig } from '../../test/support.ts';
import { createHttpApp } from './app.ts';

/** Every REST request has a bounded total time; the pool gives up on queries nobody answers. */
describe('request deadline', () => {
  it('answers 503 unavailable with the contract body when a handler outlives REQUEST_TIMEOUT_MS', async () => {
    const config = testConfig({ REQUEST_TIMEOUT_MS: '500' });
    const app = createHttpApp({ config, logger: silentLogger });
    let finished = false;
    app.get('/api/hang', async (c) => {
      await new Promise((r) => setTimeout(r, 2_000));
      finished = true;
      return c.json({ late: true });
    });
    app.get('/api/quick', (c) => c.json({ ok: true }));
    const started = Date.now();
    const res = await app.request('/api/hang');
    const ms = Date.now() - started;
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(1_900);
    expect(finished).toBe(false);
    expect((await app.request('/api/quick')).status).toBe(200);
  });

  it('defaults to DATABASE_CONNECT_TIMEOUT_MS + 750 ms (the answer then arrives within connect timeout + 1 s)', () => {
    expect(testConfig({ DATABASE_CONNECT_TIMEOUT_MS: '1000' }).requestTimeoutMs).toBe(1_750);
    expect(testConfig().requestTimeoutMs).toBe(5_750);
  });

  it('configures the pg pool with a client-side query timeout and TCP keep-alive', () => {
    const pool = pgPoolConfig(
      testConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2000', DATABASE_URL: 'postgres://u@127.0.0.1:1/x' }),
    );
    expect(pool).toMatchObject({
      query_timeout: 3_000,
      statement_timeout: 2_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    expect(pgPoolConfig(testConfig({ DATABASE_QUERY_TIMEOUT_MS: '700' })).query_timeout).toBe(700);
  });
});
