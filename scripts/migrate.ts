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

export async function runMigrations(): Promise<MigrateResult> {
  // Only the database settings: a migration needs no session secret and writes no DATA_DIR
  // (its Lambda gets neither, and its task root is read-only).
  const config = loadMigrationConfig();
  const logger = createLogger(config.logLevel);
  const migrations = await readMigrations(migrationsDir());
  const client = new pg.Client({
    connectionString: config.databaseUrl,
    connectionTimeoutMillis: config.connectTimeoutMs,
  });
  await client.connect();
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

export const handler = async (): Promise<MigrateResult> => runMigrations();

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runMigrations().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`migration failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
