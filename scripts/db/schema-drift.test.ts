import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMode } from '../../test/support.ts';
import { freshDatabase, type FreshDatabase } from './fresh-database.ts';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../core/db/migrate.ts';
import { openSchemaEngine, readSchemaFiles, SCHEMA_PATH, type SchemaEngine } from './schema-engine.ts';

/**
 * prisma/schema.prisma and prisma/migrations must describe the same database: the
 * migrations are applied by our runner to an empty database, then Prisma's schema engine
 * (WASM) diffs that database against the schema. Any difference is a migration someone
 * forgot to create (`npm run db:migration:create -- <name>`) or a hand edit gone wrong.
 */
describe('schema.prisma and prisma/migrations', () => {
  let db: FreshDatabase;
  let engine: SchemaEngine;
  let scratch: string;

  beforeAll(async () => {
    db = await freshDatabase(testMode.databaseUrl);
    const session = await db.session();
    await migrate(session, await readMigrations(MIGRATIONS_DIR));
    await session.close();
    engine = await openSchemaEngine(db.engineDatabase(), await readSchemaFiles(SCHEMA_PATH));
    scratch = await mkdtemp(join(tmpdir(), 'parley-drift-'));
  }, 180_000); // booting PGlite: over 20 s on a loaded 2-core machine

  afterAll(async () => {
    await engine?.close();
    await db?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the migrations build exactly the database the schema describes', async () => {
    const diff = await engine.diffDatabaseToSchema(await readSchemaFiles(SCHEMA_PATH));
    // Compared as text so a failure prints the SQL that is missing from the migrations.
    expect(diff ?? '').toBe('');
  });

  it('notices a schema change that has no migration', async () => {
    const schemaPath = join(scratch, 'schema.prisma');
    const original = await readFile(SCHEMA_PATH, 'utf8');
    const edited = original.replace(/(model Room \{\n)/, '$1  topic String? @map("topic")\n');
    expect(edited).not.toBe(original);
    await writeFile(schemaPath, edited);

    const diff = await engine.diffDatabaseToSchema(await readSchemaFiles(schemaPath));
    expect(diff).toMatch(/ALTER TABLE "rooms" ADD COLUMN\s+"topic" TEXT;/);
  });

  it('notices a database change that the schema lacks', async () => {
    const session = await db.session();
    await session.exec('CREATE INDEX "rooms_name_idx" ON "rooms"("name")');
    try {
      const diff = await engine.diffDatabaseToSchema(await readSchemaFiles(SCHEMA_PATH));
      expect(diff).toContain('DROP INDEX "rooms_name_idx"');
    } finally {
      await session.exec('DROP INDEX "rooms_name_idx"');
      await session.close();
    }
  });
});
