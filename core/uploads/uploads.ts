import { sweepDiscardedAttachments } from './attachment-purge.ts';
import type { Config } from '../config.ts';
import { Prisma, type Database } from '../db/database.ts';
import { AppError, invalid, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Logger } from '../logger.ts';
import { uploadsCompleted, uploadsSwept } from '../metrics.ts';
import { isMember, requireMember } from '../rooms/rooms.ts';
import type { Attachment, UploadCompleteBody, UploadInitBody } from '../schemas.ts';
import type { ObjectStore, UploadTarget } from '../storage/index.ts';

/**
 * Uploads go straight from the client to the object store. The server picks the key,
 * signs an upload that only fits what was declared, and at `complete` checks what was
 * actually stored before the attachment can be sent in a message.
 */
export interface UploadDeps {
  db: Database;
  storage: ObjectStore;
  config: Pick<Config, 'storage'>;
}

/** The key of an upload: scoped by room and uploader, random, never derived from the filename. */
const uploadKey = (roomId: string, userId: string, id: string) => `uploads/${roomId}/${userId}/${id}`;

/** A media type as compared: lower-case, without parameters (`text/plain; charset=utf-8` → `text/plain`). */
const essence = (mime: string | undefined) => (mime ?? '').split(';')[0]!.trim().toLowerCase();

interface AttachmentRow {
  id: string;
  roomId: string;
  userId: string;
  key: string;
  mime: string;
  bytes: number;
  filename: string;
  ts: bigint;
  completedAt: Date | null;
  rejectedAt: Date | null;
}

const attachmentSelect = {
  id: true,
  roomId: true,
  userId: true,
  key: true,
  mime: true,
  bytes: true,
  filename: true,
  ts: true,
  completedAt: true,
  rejectedAt: true,
} as const;

async function toWireAttachment(storage: ObjectStore, a: AttachmentRow): Promise<Attachment> {
  return {
    id: a.id,
    roomId: a.roomId,
    userId: a.userId,
    key: a.key,
    mime: a.mime,
    bytes: a.bytes,
    filename: a.filename,
    ts: Number(a.ts),
    url: await storage.signGetUrl(a),
  };
}

/** Refuses types off the allow-list (400) and sizes over the limit (413): request shape, checked before membership. */
function checkDeclaredUpload(
  config: Pick<Config, 'storage'>,
  body: Pick<UploadInitBody, 'mime' | 'bytes'>,
): void {
  const { allowedMimeTypes, maxUploadBytes } = config.storage;
  if (!allowedMimeTypes.includes(body.mime)) {
    throw invalid('This type of file cannot be uploaded', [
      { path: 'mime', message: `must be one of ${allowedMimeTypes.join(', ')}` },
    ]);
  }
  if (body.bytes > maxUploadBytes) {
    throw new AppError('payload_too_large', `Uploads are limited to ${maxUploadBytes} bytes`);
  }
}

/** Starts an upload: records it as pending and signs a target that accepts exactly it. */
export async function initUpload(
  deps: UploadDeps,
  userId: string,
  body: UploadInitBody,
  now: () => number = Date.now,
): Promise<UploadTarget> {
  checkDeclaredUpload(deps.config, body);
  await requireMember(deps.db, body.roomId, userId);
  const id = newId();
  const key = uploadKey(body.roomId, userId, id);
  await deps.db.prisma.attachment.create({
    data: {
      id,
      roomId: body.roomId,
      userId,
      key,
      mime: body.mime,
      bytes: body.bytes,
      filename: body.filename,
      ts: BigInt(now()),
    },
  });
  return deps.storage.presignUpload({
    key,
    mime: body.mime,
    bytes: body.bytes,
    method: deps.config.storage.uploadMethod,
  });
}

const mismatch = () =>
  new AppError('upload_mismatch', 'The stored file does not match the declared size or type; upload again');

/**
 * Verifies a finished upload. Only its uploader, still a member of its room, may complete
 * it (anyone else: not_found). The stored object must exist and match the declared size
 * and type; a mismatch deletes it and rejects the key for good. Completing again returns
 * the same attachment with `created: false`.
 */
export async function completeUpload(
  deps: UploadDeps & { logger?: Logger },
  userId: string,
  body: UploadCompleteBody,
): Promise<{ attachment: Attachment; created: boolean }> {
  const { db, storage } = deps;
  const row = await db.prisma.attachment.findUnique({ where: { key: body.key }, select: attachmentSelect });
  if (
    !row ||
    row.roomId !== body.roomId ||
    row.userId !== userId ||
    !(await isMember(db, row.roomId, userId))
  ) {
    throw notFound('Upload not found');
  }
  if (row.rejectedAt) {
    // The upload URL may still be valid: whatever was put under the key since goes too.
    await discard(deps, row.key);
    throw mismatch();
  }
  if (row.completedAt) {
    uploadsCompleted.inc({ result: 'repeated' });
    return { attachment: await toWireAttachment(storage, row), created: false };
  }

  const stored = await storage.head(row.key);
  if (!stored) {
    uploadsCompleted.inc({ result: 'missing' });
    throw notFound('Nothing was uploaded for this key');
  }

  const allowed = deps.config.storage.allowedMimeTypes.includes(row.mime);
  if (stored.bytes !== row.bytes || essence(stored.mime) !== row.mime || !allowed) {
    const { count } = await db.prisma.attachment.updateMany({
      where: { id: row.id, completedAt: null, rejectedAt: null },
      data: { rejectedAt: new Date() },
    });
    if (count === 0) return settled(deps, row.id);
    await discard(deps, row.key);
    uploadsCompleted.inc({ result: 'mismatch' });
    throw mismatch();
  }

  const { count } = await db.prisma.attachment.updateMany({
    where: { id: row.id, completedAt: null, rejectedAt: null },
    data: { completedAt: new Date() },
  });
  if (count === 0) return settled(deps, row.id);
  uploadsCompleted.inc({ result: 'created' });
  return { attachment: await toWireAttachment(storage, row), created: true };
}

/** Deletes a rejected upload's object; if that fails, the sweep removes it with its row later. */
async function discard(deps: UploadDeps & { logger?: Logger }, key: string): Promise<void> {
  await deps.storage
    .delete(key)
    .catch((err: unknown) => deps.logger?.warn({ err }, 'could not delete a mismatched upload'));
}

/** A concurrent complete got there first: answer as it did. */
async function settled(deps: UploadDeps, id: string): Promise<{ attachment: Attachment; created: boolean }> {
  const row = await deps.db.prisma.attachment.findUnique({ where: { id }, select: attachmentSelect });
  if (!row) throw notFound('Upload not found');
  if (row.rejectedAt || !row.completedAt) throw mismatch();
  return { attachment: await toWireAttachment(deps.storage, row), created: false };
}

export interface SweepOptions {
  /** Uploads not completed this long after init are abandoned; longer than any upload URL lives. */
  pendingMaxAgeMs: number;
  /** Completed uploads not sent in a message after this long are abandoned. */
  unsentMaxAgeMs: number;
  /** Rows handled per call. */
  limit?: number;
  now?: () => number;
}

export const sweepOptionsFrom = (config: Pick<Config, 'storage'>): SweepOptions => ({
  // The signed URL ends after uploadUrlExpiresSeconds; the margin covers clock skew with the store.
  pendingMaxAgeMs: config.storage.uploadUrlExpiresSeconds * 1000 + 15 * 60_000,
  unsentMaxAgeMs: config.storage.unsentTtlMs,
});

/**
 * Deletes abandoned uploads: pending or rejected ones whose upload URL has long expired, and
 * completed ones never sent in a message. Rows go first, in a transaction that re-checks,
 * under the row locks, that no message took the attachment meanwhile; then their objects.
 * An object whose delete fails is logged and left behind (a leak, never a broken message).
 * No bucket listing is needed: every object we sign for has a row. Then attachments of
 * deleted messages still here (sweepDiscardedAttachments: object first, so failures retry).
 */
export async function sweepOrphanUploads(
  deps: Pick<UploadDeps, 'db' | 'storage'> & { logger: Logger },
  options: SweepOptions,
): Promise<{ deleted: number; failed: number }> {
  const now = (options.now ?? Date.now)();
  const pendingBefore = BigInt(now - options.pendingMaxAgeMs);
  const unsentBefore = new Date(now - options.unsentMaxAgeMs);
  // Attachments of deleted messages (discarded_at) are not orphans: sweepDiscardedAttachments
  // removes their object before their row, so a failed object delete is retried.
  const orphaned = Prisma.sql`((a.completed_at IS NULL AND a.ts < ${pendingBefore})
      OR (a.completed_at < ${unsentBefore} AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.attachment_id = a.id)))
      AND a.discarded_at IS NULL`;

  const keys = await deps.db.prisma.$transaction(async (tx) => {
    // SKIP LOCKED: rows a sender holds right now are left for the next sweep.
    const locked = await tx.$queryRaw<{ id: string }[]>(
      Prisma.sql`SELECT a.id FROM attachments a WHERE ${orphaned} ORDER BY a.ts LIMIT ${options.limit ?? 500} FOR UPDATE SKIP LOCKED`,
    );
    if (locked.length === 0) return [];
    // A new statement sees messages committed while we waited for the locks.
    const deleted = await tx.$queryRaw<{ key: string }[]>(
      Prisma.sql`DELETE FROM attachments a WHERE a.id = ANY(${locked.map((r) => r.id)}::text[]) AND ${orphaned} RETURNING a.key`,
    );
    return deleted.map((r) => r.key);
  });

  let failed = 0;
  for (const key of keys) {
    try {
      await deps.storage.delete(key);
    } catch (err) {
      failed += 1;
      deps.logger.warn({ err, key }, 'could not delete an orphaned upload object');
    }
  }
  uploadsSwept.inc({ result: 'deleted' }, keys.length - failed);
  if (failed > 0) uploadsSwept.inc({ result: 'object_delete_failed' }, failed);
  const discarded = await sweepDiscardedAttachments(deps, options.limit ?? 500);
  if (keys.length + discarded.deleted + discarded.failed > 0) {
    deps.logger.info(
      {
        deleted: keys.length,
        failed,
        discardedDeleted: discarded.deleted,
        discardedFailed: discarded.failed,
      },
      'swept orphaned uploads',
    );
  }
  return { deleted: keys.length + discarded.deleted, failed: failed + discarded.failed };
}

/** Runs the sweep every `intervalMs` until stopped; a failed run is logged and retried next time. */
export function startUploadSweeper(
  deps: Pick<UploadDeps, 'db' | 'storage' | 'config'> & { logger: Logger },
  intervalMs = deps.config.storage.sweepIntervalMs,
): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: async () => undefined };
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOrphanUploads(deps, sweepOptionsFrom(deps.config)).catch((err: unknown) =>
      deps.logger.warn({ err }, 'upload sweep failed'),
    );
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
