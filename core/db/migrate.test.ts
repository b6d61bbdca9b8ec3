import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMode, usesPostgres } from '../../test/support.ts';
import { freshDatabase, type FreshDatabase } from '../../scripts/db/fresh-database.ts';
import {
  MIGRATIONS_DIR,
  migrate,
  MigrationError,
  readMigrations,
  type Migration,
  type SqlSession,
} from './migrate.ts';
import { waitUntil } from '../../test/wait.ts';

const PRISMA_ADVISORY_LOCK = 72707369;

interface Row {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

const migration = (name: string, sql: string): Migration => ({
  name,
  sql,
  checksum: createHash('sha256').update(sql).digest('hex'),
});

/** Each case gets a schema of its own, so cases share one (slow to boot) database. */
async function inSchema(session: SqlSession & { close(): Promise<void> }, schema: string) {
  await session.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET search_path TO "${schema}"`);
  return session;
}

describe('migration runner', () => {
  let db: FreshDatabase;
  let cases = 0;
  const nextSchema = () => `case_${++cases}`;

  beforeAll(async () => {
    db = await freshDatabase(testMode.databaseUrl);
  }, 180_000); // booting PGlite: over 20 s on a loaded 2-core machine
  afterAll(async () => {
    await db?.close();
  });

  it("applies the repository's migrations to an empty database and records them as Prisma does", async () => {
    const session = await inSchema(await db.session(), nextSchema());
    const onDisk = await readMigrations(MIGRATIONS_DIR);
    expect(onDisk.length).toBeGreaterThan(0);

    expect(await migrate(session, onDisk)).toEqual(onDisk.map((m) => m.name));

    const rows = await session.query<Row>(
      'SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(onDisk.map((m) => m.name));
    for (const row of rows) {
      const file = await readFile(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    // The schema is really there.
    expect(await session.query(`SELECT to_regclass('users') IS NOT NULL AS present`)).toEqual([
      { present: true },
    ]);
    await session.close();
  });

  it('a second run applies nothing, and a later migration is applied alone', async () => {
    const session = await inSchema(await db.session(), nextSchema());
    const first = [migration('20270101000000_a', 'CREATE TABLE "a" ("id" INTEGER PRIMARY KEY);')];
    expect(await migrate(session, first)).toEqual(['20270101000000_a']);
    expect(await migrate(session, first)).toEqual([]);

    const second = [...first, migration('20270102000000_b', 'ALTER TABLE "a" ADD COLUMN "b" TEXT;')];
    expect(await migrate(session, second)).toEqual(['20270102000000_b']);
    expect(await session.query('SELECT count(*)::int AS n FROM "_prisma_migrations"')).toEqual([{ n: 2 }]);
    await session.close();
  });

  it('refuses loudly to start when an applied migration was modified', async () => {
    const session = await inSchema(await db.session(), nextSchema());
    await migrate(session, [migration('20270101000000_a', 'CREATE TABLE "a" ("id" INTEGER PRIMARY KEY);')]);

    const edited = [migration('20270101000000_a', 'CREATE TABLE "a" ("id" BIGINT PRIMARY KEY);')];
    await expect(migrate(session, edited)).rejects.toThrow(MigrationError);
    await expect(migrate(session, edited)).rejects.toThrow(
      /20270101000000_a was modified after it was applied/,
    );
    await session.close();
  });

  it('refuses a database that has migrations this build does not know', async () => {
    const session = await inSchema(await db.session(), nextSchema());
    await migrate(session, [migration('20270101000000_a', 'CREATE TABLE "a" ("id" INTEGER);')]);
    await expect(migrate(session, [])).rejects.toThrow(/does not know/);
    await session.close();
  });

  it('a failing migration leaves neither its changes nor a finished row, and fails the start', async () => {
    const session = await inSchema(await db.session(), nextSchema());
    const broken = [
      migration('20270101000000_ok', 'CREATE TABLE "ok" ("id" INTEGER);'),
      migration('20270102000000_broken', 'CREATE TABLE "half" ("id" INTEGER); SELECT no_such_function();'),
    ];
    await expect(migrate(session, broken)).rejects.toThrow(/20270102000000_broken failed/);

    const rows = await session.query<Row>('SELECT migration_name, finished_at FROM "_prisma_migrations"');
    expect(rows.map((r) => r.migration_name)).toEqual(['20270101000000_ok']);
    expect(await session.query(`SELECT to_regclass('half') IS NULL AS absent`)).toEqual([{ absent: true }]);
    // The advisory lock was released: the fixed migration applies.
    const fixed = [broken[0]!, migration('20270102000000_broken', 'CREATE TABLE "half" ("id" INTEGER);')];
    expect(await migrate(session, fixed)).toEqual(['20270102000000_broken']);
    await session.close();
  });

  describe.runIf(usesPostgres)('concurrent runners on one Postgres database', () => {
    it('apply each migration exactly once, serialised by the advisory lock', async () => {
      const schema = nextSchema();
      const [holder, a, b] = await Promise.all([db.session(), db.session(), db.session()]);
      await inSchema(a, schema);
      await inSchema(b, schema);
      // Without the lock both runners would see no rows and both would run the CREATE
      // TABLEs (the second failing). Hold the lock so both are queued on it, then let go.
      await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
      const migrations = [
        migration('20270101000000_a', 'CREATE TABLE "a" ("id" INTEGER PRIMARY KEY);'),
        migration('20270102000000_b', 'CREATE TABLE "b" ("id" INTEGER PRIMARY KEY);'),
      ];
      const runs = Promise.all([migrate(a, migrations), migrate(b, migrations)]);
      await waitUntil(
        'both runners waiting on the lock',
        async () => {
          const [row] = await holder.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
            [PRISMA_ADVISORY_LOCK],
          );
          return row?.n === 2;
        },
        10_000,
        20,
      );
      await holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]);

      const [fromA, fromB] = await runs;
      expect([...fromA, ...fromB].sort()).toEqual(migrations.map((m) => m.name));
      expect([fromA.length, fromB.length].sort()).toEqual([0, 2]);
      const rows = await a.query<Row>(
        'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name',
      );
      expect(rows.map((r) => r.migration_name)).toEqual(migrations.map((m) => m.name));
      await Promise.all([holder.close(), a.close(), b.close()]);
    });
  });
});
