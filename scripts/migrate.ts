import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadMigrationConfig } from '../core/config.ts';
import { MIGRATIONS_DIR, migrate, readMigrations, type SqlSession } from '../core/db/migrate.ts';
import { createLogger } from '../core/logger.ts';

/**
 * Applies pending migrations to DATABASE_URL, once, then exits: the deploy-time migration
 * step. As a Lambda (`handler`, infra/migrations.ts) it runs during `sst deploy` before any
 * new code serves; as a CLI (`npm run db:migrate`) it serves other hosts' release steps.
 * Same runner and advisory lock as MIGRATE_ON_START, so concurrent runs apply each migration once.
 */

export interface MigrateResult {
  applied: string[];
  /** The newest migration the database now has. */
  latest: string | undefined;
}

// Bundled, the migrations are copied next to the bundle (copyFiles); from source, they are
// where core/db/migrate.ts expects them.
function migrationsDir(): string {
  const bundled = join(dirname(fileURLToPath(import.meta.url)), 'prisma/migrations');
  return existsSync(bundled) ? bundled : MIGRATIONS_DIR;
}

/**
 * Connects, retrying refused or timed-out connections until `retryForMs` has passed: right
 * after a first deploy, RDS Proxy accepts connections a few minutes before its target is
 * available. 0: one attempt (the CLI fails fast on a wrong URL).
 */
/** Wrong credentials, database or certificate do not heal by waiting. */
function retryable(err: unknown): boolean {
  const code = String((err as { code?: unknown }).code ?? '');
  return !['28P01', '28000', '3D000'].includes(code) && !/CERT|TLS|SELF_SIGNED|LEAF/.test(code);
}

async function connectWithRetry(
  make: () => pg.Client,
  retryForMs: number,
  onRetry: (err: Error) => void,
): Promise<pg.Client> {
  const deadline = Date.now() + retryForMs;
  for (let attempt = 1; ; attempt++) {
    const client = make();
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!retryable(err) || Date.now() + 1000 >= deadline) throw err;
      onRetry(err as Error);
      await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
    }
  }
}

export async function runMigrations(opts: { connectRetryMs?: number } = {}): Promise<MigrateResult> {
  // Only the database settings: a migration needs no session secret and writes no DATA_DIR
  // (its Lambda gets neither, and its task root is read-only).
  const config = loadMigrationConfig();
  const logger = createLogger(config.logLevel);
  const migrations = await readMigrations(migrationsDir());
  const client = await connectWithRetry(
    () =>
      new pg.Client({
        connectionString: config.databaseUrl,
        connectionTimeoutMillis: config.connectTimeoutMs,
      }),
    opts.connectRetryMs ?? 0,
    (err) => logger.warn({ err: { message: err.message } }, 'database not reachable yet, retrying'),
  );
  try {
    const session: SqlSession = {
      query: async (sql, params) => (await client.query(sql, params)).rows,
      exec: async (sql) => void (await client.query(sql)),
    };
    const started = Date.now();
    const applied = await migrate(session, migrations);
    const result = { applied, latest: migrations.at(-1)?.name };
    logger.info({ ...result, known: migrations.length, ms: Date.now() - started }, 'migrations applied');
    return result;
  } finally {
    await client.end();
  }
}

/** The deploy-time Lambda: up to 3 of its 5 minutes may go to waiting for the database. */
export const handler = async (): Promise<MigrateResult> => runMigrations({ connectRetryMs: 180_000 });

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runMigrations().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`migration failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
