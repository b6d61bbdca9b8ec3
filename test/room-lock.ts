import type { Database } from '../core/db/database.ts';

/**
 * Holds a room's row lock in a transaction of its own, as another instance's commit or a
 * membership change would, until `release` (which resolves once that transaction has ended).
 */
export async function holdRoomLock(db: Database, roomId: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = db.transaction(async (tx) => {
    await tx.query('SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE', [roomId]);
    locked();
    await released;
  });
  await Promise.race([isLocked, holder]);
  return {
    async release() {
      release();
      await holder;
    },
  };
}
