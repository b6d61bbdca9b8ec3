import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigration, migrationFolderName } from './migration-create.ts';
import { MIGRATIONS_DIR } from '../../core/db/migrate.ts';
import { SCHEMA_PATH } from './schema-engine.ts';

describe('db:migration:create', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'parley-migration-create-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('names folders as Prisma does, sortable by creation time', () => {
    const now = new Date('2027-01-02T03:04:05.678Z');
    expect(migrationFolderName('add room topic', now)).toBe('20270102030405_add_room_topic');
    expect(migrationFolderName('add_index', now)).toBe('20270102030405_add_index');
    expect(() => migrationFolderName('!!!', now)).toThrow(/not a usable migration name/);
  });

  it('writes the SQL that takes the existing migrations to an edited schema', async () => {
    const migrationsDir = join(scratch, 'migrations');
    await cp(MIGRATIONS_DIR, migrationsDir, { recursive: true });
    const schemaPath = join(scratch, 'schema.prisma');
    const original = await readFile(SCHEMA_PATH, 'utf8');
    await writeFile(schemaPath, original.replace(/(model Room \{\n)/, '$1  topic String? @map("topic")\n'));

    const now = new Date(Date.now() + 60_000);
    const created = await createMigration('add room topic', { schemaPath, migrationsDir, now });

    expect(created?.folder).toBe(migrationFolderName('add room topic', now));
    expect(created?.sql).toMatch(/ALTER TABLE "rooms" ADD COLUMN\s+"topic" TEXT;/);
    const folders = (await readdir(migrationsDir)).filter((f) => !f.endsWith('.toml')).sort();
    expect(folders.at(-1)).toBe(created?.folder);
    expect(await readFile(join(migrationsDir, created?.folder ?? '', 'migration.sql'), 'utf8')).toBe(
      created?.sql,
    );
  }, 180_000); // boots a PGlite shadow database: over 20 s on a loaded 2-core machine

  it('refuses a name that would sort before the latest migration', async () => {
    await expect(
      createMigration('late', {
        schemaPath: SCHEMA_PATH,
        migrationsDir: MIGRATIONS_DIR,
        now: new Date('2020-01-01T00:00:00Z'),
      }),
    ).rejects.toThrow(/would not sort after/);
  });
});
