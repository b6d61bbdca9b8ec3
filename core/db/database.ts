import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { Config } from '../config.ts';
import { isDatabaseUnavailable } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { Prisma, PrismaClient } from './generated/client.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { migrate, type SqlSession } from './migrate.ts';

export { Prisma, PrismaClient };

/**
 * A session inside a raw transaction (Database.transaction): statements with `$1…`
 * placeholders, values as the driver gives them (see Database.query). A Database itself is
 * one too (each statement on its own pooled connection), so a helper taking an SqlTx
 * serves both.
 */
export interface SqlTx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
}

/**
 * Runs a `Prisma.sql` template (its `$n` text and its values) on a raw session; with `name`,
 * prepared by that name (see Database.query): only for a template whose text never varies.
 */
export const runSql = <T = Record<string, unknown>>(
  session: SqlTx,
  statement: Prisma.Sql,
  opts?: QueryOptions,
): Promise<T[]> => session.query<T>(statement.text, statement.values, opts);

/** The one database handle of a process: Prisma over real Postgres or embedded PGlite. */
export interface Database {
  readonly prisma: PrismaClient;
  readonly kind: 'postgres' | 'pglite';
  /**
   * One statement on a pooled connection, without Prisma: for the hot paths (a group commit,
   * a history page) where Prisma's per-query work costs more than the query. Placeholders are
   * `$1…`; values come back as the driver gives them (pg: int8 and numeric as strings,
   * timestamps as Date; PGlite: int8 as number), so callers cast in SQL (`::int`, `::text`,
   * `::float8`) whatever they read. Statement and query timeouts apply as for Prisma.
   * With `name`, pg prepares the statement once per connection and Postgres may keep its plan
   * (a history page's statement takes longer to plan than to run); one name, one text, always.
   * Inside AWS Lambda (config.database.preparedStatements false) the name is ignored: Lambdas
   * reach Postgres through RDS Proxy, where a named statement pins the client's session to
   * one database connection for its lifetime and so defeats the multiplexing the proxy is
   * there for. (The realtime container's pool is
   * long-lived anyway: pinning its few connections costs the proxy nothing it would reuse.)
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
  /**
   * `fn` in one transaction on one connection, without Prisma (whose interactive transaction
   * costs more CPU than a room's group commit's statements): BEGIN, fn, COMMIT; ROLLBACK and
   * rethrow if fn throws. Getting a connection waits at most the pool's connect timeout and
   * fails as `unavailable` (isDatabaseUnavailable), as a busy pool should; each statement is
   * bounded by the statement and query timeouts. A connection that broke (or whose query
   * timed out, still running) is discarded by the pool, not reused; the server rolls back.
   */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** `name`: a prepared statement's name; the same name must always carry the same SQL. */
export interface QueryOptions {
  name?: string;
}

type DbConfig = Pick<Config, 'dataDir'> & {
  database: Omit<Config['database'], 'preparedStatements'> & { preparedStatements?: boolean };
};

export async function openDatabase(config: DbConfig, logger?: Logger): Promise<Database> {
  const db = config.database.url ? await openPostgres(config) : await openPGlite(config);
  logger?.info({ kind: db.kind }, 'database ready');
  return db;
}

/** pg pool settings shared by the app's pool and tools (benchmarks, tests). */
export function pgPoolConfig(config: DbConfig): pg.PoolConfig {
  return {
    connectionString: config.database.url,
    max: config.database.poolMax,
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    statement_timeout: config.database.statementTimeoutMs,
    // The server's statement_timeout cannot fire for a query it never received (a network
    // black hole): the client gives up by itself, and the pool discards that connection.
    query_timeout: config.database.queryTimeoutMs,
    idleTimeoutMillis: 30_000,
    // A dead server must not hold a send forever: detect broken TCP connections.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

async function openPostgres(config: DbConfig): Promise<Database> {
  if (config.database.migrateOnStart) {
    const client = new pg.Client({
      connectionString: config.database.url,
      connectionTimeoutMillis: config.database.connectTimeoutMs,
    });
    await client.connect();
    try {
      const session: SqlSession = {
        query: async (sql, params) => (await client.query(sql, params)).rows,
        exec: async (sql) => void (await client.query(sql)),
      };
      await migrate(session);
    } finally {
      await client.end();
    }
  }
  const pool = new pg.Pool(pgPoolConfig(config));
  // An idle client's connection dying (server restart) is reported here; the pool replaces it.
  pool.on('error', () => undefined);
  // A checked-out client whose connection dies between queries (inside a transaction, say)
  // emits 'error' on itself, and an unheard 'error' event kills the process. Its next query
  // fails instead, and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const prepareByName = config.database.preparedStatements ?? true;
  const statement = (sql: string, params?: unknown[], opts?: QueryOptions) =>
    prepareByName && opts?.name
      ? { name: opts.name, text: sql, values: params }
      : { text: sql, values: params };
  return {
    prisma,
    kind: 'postgres',
    query: async <T>(sql: string, params?: unknown[], opts?: QueryOptions) =>
      (await pool.query(statement(sql, params, opts))).rows as T[],
    transaction: (fn) => pgTransaction(pool, statement, fn),
    ping: async () => {
      const client = await pool.connect();
      try {
        await client.query('SELECT 1');
      } finally {
        client.release();
      }
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

async function pgTransaction<T>(
  pool: pg.Pool,
  statement: (sql: string, params?: unknown[], opts?: QueryOptions) => pg.QueryConfig,
  fn: (tx: SqlTx) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // Set when the connection cannot be trusted: release(err) makes the pool close it.
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn({
      query: async <R>(sql: string, params?: unknown[], opts?: QueryOptions) =>
        (await client.query(statement(sql, params, opts))).rows as R[],
    });
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (isDatabaseUnavailable(err)) {
      // A dead connection, or a query that timed out client-side and may still be running
      // (a ROLLBACK would queue behind it): closing the connection rolls the transaction back.
      broken = err instanceof Error ? err : new Error(String(err));
    } else {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

async function openPGlite(config: DbConfig): Promise<Database> {
  let dir: string | undefined;
  let lock: DataDirLock | undefined;
  if (config.dataDir !== ':memory:') {
    dir = join(config.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    // One process per directory, or two silently diverge and one's writes are lost.
    lock = lockDataDir(config.dataDir);
  }
  try {
    return await openPGliteIn(dir, lock);
  } catch (err) {
    lock?.release();
    throw err;
  }
}

async function openPGliteIn(dir: string | undefined, lock: DataDirLock | undefined): Promise<Database> {
  // Loaded only in embedded mode: deployed bundles never start PGlite's WASM.
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('pglite-prisma-adapter'),
  ]);
  const lite = dir ? new PGlite(dir) : new PGlite();
  await lite.waitReady;
  const session: SqlSession = {
    query: async <T>(sql: string, params?: unknown[]) => (await lite.query<T>(sql, params)).rows,
    exec: async (sql) => void (await lite.exec(sql)),
  };
  await migrate(session);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(lite) });
  return {
    prisma,
    kind: 'pglite',
    query: async <T>(sql: string, params?: unknown[]) => (await lite.query<T>(sql, params)).rows,
    // PGlite runs one transaction at a time; other statements wait for it.
    transaction: (fn) =>
      lite.transaction((t) =>
        fn({ query: async <T>(sql: string, params?: unknown[]) => (await t.query<T>(sql, params)).rows }),
      ),
    ping: async () => void (await lite.query('SELECT 1')),
    close: async () => {
      await prisma.$disconnect();
      await lite.close();
      lock?.release();
    },
  };
}
