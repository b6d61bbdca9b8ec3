import type { Database, SqlTx } from '../core/db/database.ts';

/**
 * Holds a room's row lock in a transaction of its own, as another instance's commit or a
 * membership change would, until `release` (which resolves once that transaction has ended).
 * `blocked` (Postgres only) counts the sessions waiting behind it: a test waits for its
 * commit to be queued on the lock instead of sleeping and hoping it got there.
 */
export async function holdRoomLock(
  db: Database,
  roomId: string,
): Promise<{ release(): Promise<void>; blocked(): Promise<number> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  let session: SqlTx | undefined;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = db.transaction(async (tx) => {
    await tx.query('SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE', [roomId]);
    session = tx;
    locked();
    await released;
  });
  await Promise.race([isLocked, holder]);
  return {
    async blocked() {
      // On the holder's own connection (idle while it holds): who waits for this backend.
      const [row] = await session!.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))',
      );
      return row!.n;
    },
    async release() {
      release();
      await holder;
    },
  };
}
