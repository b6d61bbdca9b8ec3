import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { SqlSession } from '../../core/db/migrate.ts';
import { pgliteEngineDatabase, postgresEngineDatabase, type EngineDatabase } from './schema-engine.ts';

/**
 * An empty database for tests of the migration machinery: a new database beside `serverUrl`
 * on real Postgres (dropped by close), or an in-memory PGlite when no URL is given.
 */
export interface FreshDatabase {
  kind: 'postgres' | 'pglite';
  /** A new session (its own connection on Postgres; PGlite has exactly one). */
  session(): Promise<SqlSession & { close(): Promise<void> }>;
  /** The same database as the schema engine sees it. */
  engineDatabase(): EngineDatabase;
  close(): Promise<void>;
}

export async function freshDatabase(serverUrl?: string): Promise<FreshDatabase> {
  return serverUrl ? freshPostgres(serverUrl) : freshPGlite();
}

async function freshPostgres(serverUrl: string): Promise<FreshDatabase> {
  const url = new URL(serverUrl);
  const name = `${url.pathname.slice(1)}_${randomBytes(4).toString('hex')}`.slice(-63);
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  const clients: pg.Client[] = [];
  return {
    kind: 'postgres',
    session: async () => {
      const client = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 5_000 });
      await client.connect();
      clients.push(client);
      return {
        query: async (sql, params) => (await client.query(sql, params)).rows,
        exec: async (sql) => void (await client.query(sql)),
        close: () => client.end(),
      };
    },
    engineDatabase: () => postgresEngineDatabase(dbUrl),
    close: async () => {
      await Promise.allSettled(clients.map((c) => c.end()));
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function freshPGlite(): Promise<FreshDatabase> {
  const lite = new PGlite();
  await lite.waitReady;
  return {
    kind: 'pglite',
    session: async () => ({
      query: async <T>(sql: string, params?: unknown[]) => (await lite.query<T>(sql, params)).rows,
      exec: async (sql: string) => void (await lite.exec(sql)),
      close: async () => undefined,
    }),
    engineDatabase: () => pgliteEngineDatabase(lite),
    close: () => lite.close(),
  };
}
