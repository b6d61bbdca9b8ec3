import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../core/config.ts';
import type { Database, QueryOptions } from '../core/db/database.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { openServices, type Services } from '../core/services.ts';

/** The services under test: real Postgres/Redis when the run provides them, embedded otherwise. */
export const testMode = {
  databaseUrl: inject('databaseUrl'),
  redisUrl: inject('redisUrl'),
  redisPrefix: inject('redisPrefix'),
};
export const usesPostgres = testMode.databaseUrl !== undefined;
export const usesRedis = testMode.redisUrl !== undefined;

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/** A config as the product would parse it, pointed at this run's services. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: ':memory:',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    PORT: '0',
    DATABASE_URL: testMode.databaseUrl,
    REDIS_URL: testMode.redisUrl,
    REDIS_KEY_PREFIX: testMode.redisPrefix,
    ...env,
  });
}

export const silentLogger: Logger = createLogger('silent');

const SHARED = Symbol.for('parley.test.services');
type Shared = { [SHARED]?: Promise<Services> };

/**
 * One Services per test worker, shared by its files and never closed early (the worker's
 * exit ends it). Tests needing other settings pass `{ ...services, config: testConfig({...}) }`.
 */
export function sharedServices(): Promise<Services> {
  const g = globalThis as Shared;
  g[SHARED] ??= openServices(testConfig(), silentLogger);
  return g[SHARED];
}

/**
 * The database with its raw statements (`Database.query`, the paths that bypass Prisma)
 * recorded as they are sent, by prepared-statement name (`other` when unnamed); options pass
 * through, so the statements run exactly as they would without the recording.
 */
export function recordingDatabase(db: Database): { db: Database; statements: string[] } {
  const statements: string[] = [];
  return {
    db: {
      ...db,
      query: <T>(sql: string, params?: unknown[], opts?: QueryOptions) => {
        statements.push(opts?.name ?? 'other');
        return db.query<T>(sql, params, opts);
      },
    },
    statements,
  };
}

/** A username unique to this run. */
export const uniqueName = (prefix = 'user'): string =>
  `${prefix}_${randomBytes(5).toString('hex')}`.slice(0, 32);

/** The REST surface as the local server mounts it, for `app.request()` tests. */
export async function restApp(services?: Services) {
  const { createHttpApp } = await import('../core/http/app.ts');
  const { mountFunctions } = await import('../functions/index.ts');
  const s = services ?? (await sharedServices());
  const app = createHttpApp({ config: s.config, logger: silentLogger });
  mountFunctions(app, s);
  return app;
}

/**
 * A Redis connection of this run under a key prefix of its own: for stores whose scans span
 * the whole prefix (the online store prunes every user), so tests with other timings in
 * parallel files do not act on each other's entries. The caller closes it.
 */
export async function isolatedRedis(tag: string) {
  const { connectRedis } = await import('../core/redis/connection.ts');
  const config = testConfig();
  return connectRedis(config, silentLogger, `test-${tag}`, {
    keyPrefix: `${config.redis.keyPrefix}${tag}:${randomBytes(4).toString('hex')}:`,
    enableOfflineQueue: true,
  });
}
