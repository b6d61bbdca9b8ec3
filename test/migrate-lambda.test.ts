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
    // A server that hangs up on every connection, and counts them: the attempts, not the time.
    let attempts = 0;
    const hangUp = createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = hangUp.address() as { port: number };
      vi.stubEnv('DATABASE_URL', `postgresql://postgres@127.0.0.1:${port}/none`);
      vi.stubEnv('LOG_LEVEL', 'silent');
      await expect(runMigrations()).rejects.toThrow();
      expect(attempts).toBe(1);
      attempts = 0;
      // Attempts at 0 s, 1 s and 3 s (back-off 1 s, 2 s); the next would end past the window.
      await expect(runMigrations({ connectRetryMs: 3500 })).rejects.toThrow();
      expect(attempts).toBe(3);
    } finally {
      await new Promise<void>((r) => hangUp.close(() => r()));
    }
    // Nothing listening: the driver's own error reaches the caller.
    const port = await closedPort();
    vi.stubEnv('DATABASE_URL', `postgresql://postgres@127.0.0.1:${port}/none`);
    await expect(runMigrations()).rejects.toThrow(/ECONNREFUSED/);
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
