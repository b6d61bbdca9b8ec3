import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

/**
 * One run, one fresh database and one Redis key prefix, dropped afterwards.
 * TEST_DATABASE_URL / TEST_REDIS_URL select real services (any database on the server: a
 * new one is created beside it); unset, tests use embedded PGlite and in-memory stores.
 * A service that is configured but unreachable fails the run: it never skips silently.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string | undefined;
    redisUrl: string | undefined;
    redisPrefix: string;
  }
}

export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const adminUrl = process.env.TEST_DATABASE_URL || undefined;
  const redisUrl = process.env.TEST_REDIS_URL || undefined;
  const redisPrefix = `parley-test-${runId}:`;
  // Every temporary file of the run (embedded object stores of test workers, which end
  // without running exit handlers) goes under one directory, removed at the end.
  const runTmp = join(tmpdir(), `parley-test-${runId}`);
  mkdirSync(runTmp, { recursive: true });
  process.env.TMPDIR = runTmp;
  let databaseUrl: string | undefined;
  let dbName: string | undefined;

  if (adminUrl) {
    dbName = `parley_test_${runId}`;
    const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
    await admin.connect().catch((err: Error) => {
      throw new Error(`TEST_DATABASE_URL is set but Postgres does not answer: ${err.message}`);
    });
    await admin.query(`CREATE DATABASE "${dbName}"`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
  }
  if (redisUrl) {
    const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3_000 });
    await r.connect().catch((err: Error) => {
      throw new Error(`TEST_REDIS_URL is set but Redis does not answer: ${err.message}`);
    });
    await r.ping();
    r.disconnect();
  }

  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  project.provide('redisPrefix', redisPrefix);

  return async () => {
    rmSync(runTmp, { recursive: true, force: true });
    if (adminUrl && dbName) {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
    }
    if (redisUrl) {
      const r = new Redis(redisUrl);
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await r.del(...keys);
      } while (cursor !== '0');
      r.disconnect();
    }
  };
}
