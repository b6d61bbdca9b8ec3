import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The machine's PostgreSQL: only ever used to create and drop our own databases. */
const POSTGRES_URL = process.env.RESILIENCE_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ScratchDatabase {
  name: string;
  /** The database's URL, optionally through another host:port (a proxy). */
  url(port?: number): string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/** A new empty database beside the shared ones, dropped (with its connections) at the end. */
export async function scratchDatabase(label: string): Promise<ScratchDatabase> {
  const name = `parley_resilience_${label}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = (port?: number) => {
    const u = new URL(POSTGRES_URL);
    u.pathname = `/${name}`;
    if (port) u.port = String(port);
    return u.toString();
  };
  const pool = new pg.Pool({ connectionString: url(), max: 2 });
  // The tests stop and cut Postgres, and drop() terminates what is still connected: a client
  // hearing that (idle, or still closing after pool.end()) must not be an uncaught 'error'.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    name,
    url,
    query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
    async drop() {
      await pool.end();
      const a = new pg.Client({ connectionString: POSTGRES_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}
