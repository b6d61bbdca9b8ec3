import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runMigrations } from '../scripts/migrate.ts';

/**
 * The deploy-time Migrate function waits for a database that is not reachable yet (RDS
 * Proxy right after its first creation), and the CLI does not.
 */
async function closedPort(): Promise<number> {
  const srv: Server = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

afterEach(() => vi.unstubAllEnvs());

describe('scripts/migrate.ts connecting', () => {
  it('fails at once without a retry window, and keeps trying within one', async () => {
    const port = await closedPort();
    vi.stubEnv('DATABASE_URL', `postgresql://postgres@127.0.0.1:${port}/none`);
    vi.stubEnv('LOG_LEVEL', 'silent');
    let t0 = Date.now();
    await expect(runMigrations()).rejects.toThrow(/ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(1500);
    t0 = Date.now();
    await expect(runMigrations({ connectRetryMs: 3500 })).rejects.toThrow(/ECONNREFUSED/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
  });

  it('needs no JWT_SECRET and no DATA_DIR', async () => {
    const port = await closedPort();
    vi.stubEnv('NODE_ENV', 'production');
    vi.stubEnv('JWT_SECRET', '');
    vi.stubEnv('DATA_DIR', '/nonexistent/read-only');
    vi.stubEnv('DATABASE_URL', `postgresql://postgres@127.0.0.1:${port}/none`);
    vi.stubEnv('LOG_LEVEL', 'silent');
    // It gets as far as connecting: configuration did not stop it.
    await expect(runMigrations()).rejects.toThrow(/ECONNREFUSED/);
  });
});
