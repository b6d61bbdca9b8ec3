import { Prisma, runSql, type SqlTx } from '../db/database.ts';
import type { ChangeWrites } from './changes.ts';
import type { StoredMessage } from './rows.ts';
import type { Draft } from './messages.ts';

/** The statements of a room's group commit (core/messages/batch.ts), each one round trip. */

export interface AttachmentRow {
  id: string;
  user_id: string;
  key: string;
  mime: string;
  bytes: number;
  filename: string;
}

/** Completed attachments of this room named by the sends, not used by any message and not discarded, locked. */
export async function usableAttachments(
  tx: SqlTx,
  roomId: string,
  sends: Draft[],
): Promise<Map<string, AttachmentRow>> {
  const wanted = sends.map((d) => d.attachmentId).filter((a): a is string => a !== null);
  if (wanted.length === 0) return new Map();
  const rows = await runSql<AttachmentRow>(
    tx,
    Prisma.sql`SELECT a.id, a.user_id, a.key, a.mime, a.bytes, a.filename
       FROM attachments a
      WHERE a.id = ANY(${wanted}::text[]) AND a.room_id = ${roomId} AND a.completed_at IS NOT NULL AND a.discarded_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.attachment_id = a.id)
      FOR UPDATE`,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** What a batch writes: its new messages, its changes, and the room's new high-water marks. */
export interface BatchWrite {
  inserts: (StoredMessage & { replyToId: string | null })[];
  changes: ChangeWrites;
  discarded: { id: string }[];
  last: { seq: number; ts: number; version: number };
}

/**
 * The state an optimistic batch was decided on (read without a lock): its write applies only
 * if, under the room's lock, nothing it relied on has changed since.
 */
export interface WriteGuard {
  /** The room's `last_version` as read: every write to its messages raises it. */
  version: number;
  /** The room's owner as read (may delete any message). */
  ownerId: string | null;
  /** The batch's users that were members as read. */
  members: string[];
}

/**
 * New messages, changed messages, reactions added and removed, discarded attachments and
 * the room's new high-water marks: one statement, one round trip. The sub-statements touch
 * disjoint rows (a reaction is either removed or upserted), so their order does not matter.
 *
 * With `guard`, outside a transaction: the statement locks the room first (FOR UPDATE SKIP
 * LOCKED: it never waits behind another transaction) and writes only if the room's locked
 * row still has the version and owner read, and every member relied on still has a
 * membership (locked FOR KEY SHARE after the room, as removals happen under the room's lock:
 * a removal committed since is not found). Then nothing of the room changed since the read,
 * and the rows the batch was decided on are the latest. Returns whether it wrote: false
 * means nothing was written (the room is locked by someone else, changed, or gone).
 */
export async function writeBatch(
  session: SqlTx,
  roomId: string,
  write: BatchWrite,
  guard?: WriteGuard,
): Promise<boolean> {
  const { inserts, changes, discarded, last } = write;
  const add = {
    id: inserts.map((m) => m.id),
    seq: inserts.map((m) => m.seq),
    userId: inserts.map((m) => m.userId),
    name: inserts.map((m) => m.name),
    text: inserts.map((m) => m.text),
    ts: inserts.map((m) => String(m.ts)),
    clientMsgId: inserts.map((m) => m.clientMsgId),
    attachmentId: inserts.map((m) => m.attachment?.id ?? null),
    version: inserts.map((m) => m.version),
    replyToId: inserts.map((m) => m.replyToId),
  };
  const set = {
    id: changes.messages.map((m) => m.id),
    text: changes.messages.map((m) => m.text),
    version: changes.messages.map((m) => m.version),
    editedAt: changes.messages.map((m) => m.editedAt),
    deletedAt: changes.messages.map((m) => m.deletedAt),
    attachmentId: changes.messages.map((m) => m.attachmentId),
  };
  const unreact = {
    messageId: changes.removedReactions.map((r) => r.messageId),
    userId: changes.removedReactions.map((r) => r.userId),
    emoji: changes.removedReactions.map((r) => r.emoji),
  };
  const react = {
    messageId: changes.addedReactions.map((r) => r.messageId),
    userId: changes.addedReactions.map((r) => r.userId),
    emoji: changes.addedReactions.map((r) => r.emoji),
    version: changes.addedReactions.map((r) => r.version),
    emojiSince: changes.addedReactions.map((r) => r.emojiSince),
  };
  const guarded = guard
    ? Prisma.sql`locked AS MATERIALIZED (
         SELECT r.id, r.last_version, r.owner_id FROM rooms r WHERE r.id = ${roomId} FOR UPDATE SKIP LOCKED
       ), kept AS MATERIALIZED (
         SELECT rm.user_id FROM room_members rm
          WHERE rm.room_id IN (SELECT l.id FROM locked l) AND rm.user_id = ANY((SELECT ${guard.members}::text[])::text[])
            FOR KEY SHARE OF rm
       ), guard AS MATERIALIZED (
         SELECT 1 FROM locked l
          WHERE l.last_version = ${guard.version}::int AND l.owner_id IS NOT DISTINCT FROM ${guard.ownerId}::text
            AND (SELECT count(*) FROM kept) = ${guard.members.length}::int
       )`
    : Prisma.sql`guard AS (SELECT 1)`;
  const rows = await runSql(
    session,
    Prisma.sql`
    WITH ${guarded}, inserted AS (
       INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id)
       SELECT id, ${roomId}, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id
         FROM unnest((SELECT ${add.id}::text[]), (SELECT ${add.seq}::int[]), (SELECT ${add.userId}::text[]), (SELECT ${add.name}::text[]),
                     (SELECT ${add.text}::text[]), (SELECT ${add.ts}::bigint[]), (SELECT ${add.clientMsgId}::text[]),
                     (SELECT ${add.attachmentId}::text[]), (SELECT ${add.version}::int[]), (SELECT ${add.replyToId}::text[]))
           AS t(id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id)
        WHERE EXISTS (SELECT 1 FROM guard)
       RETURNING 1
     ), changed AS (
       UPDATE messages m
          SET text = c.text, version = c.version, edited_at = c.edited_at, deleted_at = c.deleted_at,
              attachment_id = c.attachment_id
         FROM unnest((SELECT ${set.id}::text[]), (SELECT ${set.text}::text[]), (SELECT ${set.version}::int[]), (SELECT ${set.editedAt}::bigint[]),
                     (SELECT ${set.deletedAt}::bigint[]), (SELECT ${set.attachmentId}::text[]))
           AS c(id, text, version, edited_at, deleted_at, attachment_id)
        WHERE m.id = c.id AND m.room_id = ${roomId} AND EXISTS (SELECT 1 FROM guard)
       RETURNING 1
     ), unreacted AS (
       DELETE FROM reactions r
        USING unnest((SELECT ${unreact.messageId}::text[]), (SELECT ${unreact.userId}::text[]), (SELECT ${unreact.emoji}::text[]))
           AS d(message_id, user_id, emoji)
        WHERE r.message_id = d.message_id AND r.user_id = d.user_id AND r.emoji = d.emoji
          AND EXISTS (SELECT 1 FROM guard)
       RETURNING 1
     ), reacted AS (
       INSERT INTO reactions (message_id, user_id, emoji, version, emoji_since)
       SELECT * FROM unnest((SELECT ${react.messageId}::text[]), (SELECT ${react.userId}::text[]), (SELECT ${react.emoji}::text[]),
                            (SELECT ${react.version}::int[]), (SELECT ${react.emojiSince}::int[]))
        WHERE EXISTS (SELECT 1 FROM guard)
       ON CONFLICT (message_id, user_id, emoji) DO UPDATE SET version = EXCLUDED.version, emoji_since = EXCLUDED.emoji_since
       RETURNING 1
     ), discarded AS (
       UPDATE attachments SET discarded_at = now()
        WHERE id = ANY((SELECT ${discarded.map((a) => a.id)}::text[])::text[]) AND EXISTS (SELECT 1 FROM guard)
       RETURNING 1
     )
     UPDATE rooms SET last_seq = ${last.seq}, last_ts = ${BigInt(last.ts)}, last_version = ${last.version}
      WHERE id = ${roomId} AND EXISTS (SELECT 1 FROM guard)
     RETURNING 1`,
    // Prepared once per connection (two texts: with and without the guard). Arrays are read
    // through scalar subqueries so that one generic plan is kept (see readState in batch.ts).
    { name: guard ? 'parley_batch_write_guarded' : 'parley_batch_write' },
  );
  return rows.length === 1;
}
