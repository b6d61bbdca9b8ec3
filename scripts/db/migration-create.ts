import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readMigrations } from '../../core/db/migrate.ts';
import { openSchemaEngine, pgliteEngineDatabase, readSchemaFiles } from './schema-engine.ts';

/** Prisma's folder name: UTC `YYYYMMDDHHMMSS_name`, so folders sort in creation order. */
export function migrationFolderName(name: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  const slug = name.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!slug) throw new Error(`"${name}" is not a usable migration name: use letters, digits and _`);
  return `${stamp}_${slug}`.slice(0, 200);
}

/**
 * Writes `<migrationsDir>/<timestamp>_<name>/migration.sql` with the SQL that takes the
 * existing migrations to the schema; returns its folder and SQL, or null when they already
 * agree. Runs Prisma's schema engine (WASM) against throw-away in-memory PGlite databases.
 */
export async function createMigration(
  name: string,
  opts: { schemaPath: string; migrationsDir: string; now?: Date },
): Promise<{ folder: string; sql: string } | null> {
  const folder = migrationFolderName(name, opts.now);
  const existing = await readMigrations(opts.migrationsDir);
  const last = existing.at(-1)?.name;
  if (last !== undefined && folder <= last) {
    throw new Error(`${folder} would not sort after the latest migration ${last}: is the clock wrong?`);
  }
  const schema = await readSchemaFiles(opts.schemaPath);
  const engine = await openSchemaEngine(pgliteEngineDatabase(), schema);
  try {
    const sql = await engine.diffMigrationsToSchema(opts.migrationsDir, schema);
    if (sql === null) return null;
    await mkdir(join(opts.migrationsDir, folder));
    await writeFile(join(opts.migrationsDir, folder, 'migration.sql'), sql);
    return { folder, sql };
  } finally {
    await engine.close();
  }
}
