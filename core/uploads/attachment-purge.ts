import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { uploadsSwept } from '../metrics.ts';
import type { ObjectStore } from '../storage/index.ts';

export interface PurgeDeps {
  db: Database;
  storage: Pick<ObjectStore, 'delete'>;
  logger: Logger;
}

/**
 * Removes the objects of deleted messages' attachments (rows marked `discarded_at` by the
 * delete's commit), then their rows. The object goes first: a failure leaves the row, so the
 * upload sweep (sweepDiscardedAttachments) tries again later; nothing ever waits on this.
 */
export async function purgeAttachments(
  deps: PurgeDeps,
  attachments: { id: string; key: string }[],
): Promise<{ deleted: number; failed: number }> {
  let failed = 0;
  for (const a of attachments) {
    try {
      await deps.storage.delete(a.key);
      await deps.db.prisma.attachment.deleteMany({ where: { id: a.id, discardedAt: { not: null } } });
    } catch (err) {
      failed += 1;
      deps.logger.warn(
        { err, key: a.key },
        'could not remove a deleted message attachment; the sweep retries',
      );
    }
  }
  const deleted = attachments.length - failed;
  if (deleted > 0) uploadsSwept.inc({ result: 'deleted' }, deleted);
  if (failed > 0) uploadsSwept.inc({ result: 'object_delete_failed' }, failed);
  return { deleted, failed };
}

/** The sweep's share: attachments of deleted messages still here (their removal failed or was cut short). */
export async function sweepDiscardedAttachments(
  deps: PurgeDeps,
  limit = 500,
): Promise<{ deleted: number; failed: number }> {
  const rows = await deps.db.prisma.attachment.findMany({
    where: { discardedAt: { not: null } },
    select: { id: true, key: true },
    orderBy: { discardedAt: 'asc' },
    take: limit,
  });
  return purgeAttachments(deps, rows);
}
