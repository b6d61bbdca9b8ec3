import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../errors.ts';
import type { Services } from '../services.ts';
import { sharedServices, uniqueName, usesPostgres } from '../../test/support.ts';
import { Prisma, runSql } from './database.ts';

let services: Services;
const table = `tx_probe_${uniqueName('t').replace(/[^a-z0-9_]/gi, '_')}`.toLowerCase();

beforeAll(async () => {
  services = await sharedServices();
  await services.db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
}, 180_000);

afterAll(async () => {
  await services?.db.query(`DROP TABLE IF EXISTS ${table}`);
});

const ids = async () =>
  (await services.db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);

describe('Database.transaction', () => {
  it('commits what fn wrote and returns its result; a Prisma.sql template runs as written', async () => {
    const out = await services.db.transaction(async (tx) => {
      await runSql(tx, Prisma.sql`INSERT INTO ${Prisma.raw(table)} (id, note) VALUES (${1}, ${'one'})`);
      const [row] = await runSql<{ note: string; n: number }>(
        tx,
        Prisma.sql`SELECT note, (SELECT count(*)::int FROM ${Prisma.raw(table)}) AS n FROM ${Prisma.raw(table)}
                    WHERE id = ANY(${[1, 2]}::int[])`,
      );
      return row;
    });
    expect(out).toEqual({ note: 'one', n: 1 });
    expect(await ids()).toEqual([1]);
  });

  it('rolls back everything when fn throws, and the connection serves the next transaction', async () => {
    const boom = new Error('boom');
    await expect(
      services.db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} (id) VALUES (2)`);
        throw boom;
      }),
    ).rejects.toBe(boom);
    // A failed statement aborts the transaction; the error is the database's own.
    const err = await services.db
      .transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} (id) VALUES (3)`);
        await tx.query(`INSERT INTO ${table} (id) VALUES (1)`);
      })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('23505');
    expect(isDatabaseUnavailable(err)).toBe(false);
    expect(await ids()).toEqual([1]);
    // Many in a row, more than the pool holds: none left in an aborted transaction.
    for (let i = 0; i < 12; i++) {
      await services.db.transaction(
        async (tx) => void (await tx.query(`INSERT INTO ${table} (id) VALUES ($1)`, [10 + i])),
      );
    }
    expect((await ids()).length).toBe(13);
  });

  it.runIf(usesPostgres)(
    'a connection that dies inside fails as unavailable, and the pool does not hand it out again',
    async () => {
      const err = await services.db
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO ${table} (id) VALUES (100)`);
          await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
        })
        .catch((e: unknown) => e);
      expect(isDatabaseUnavailable(err)).toBe(true);
      expect(await ids()).not.toContain(100);
      // The pool hands out its most recently released client first: had the dead one gone
      // back, this would fail.
      for (let i = 0; i < 3; i++) {
        await services.db.transaction(async (tx) => void (await tx.query('SELECT 1')));
      }
    },
  );
});
