import type { Prisma } from '../db/database.ts';
import type { ChangeWrites } from './changes.ts';
import type { MessageRow, StoredMessage } from './rows.ts';
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

/**
 * The batch's target messages as `messageInclude` reads them, in one query (Prisma's include
 * would run its relation queries concurrently on the transaction's one connection).
 */
export async function loadTargets(
  tx: Prisma.TransactionClient,
  roomId: string,
  ids: string[],
): Promise<MessageRow[]> {
  const [result] = await tx.$queryRawUnsafe<{ rows: string }[]>(
    `SELECT coalesce(json_agg(json_build_object(
              'id', m.id, 'roomId', m.room_id, 'seq', m.seq, 'userId', m.user_id, 'name', m.name,
              'text', m.text, 'ts', m.ts::text, 'clientMsgId', m.client_msg_id,
              'attachmentId', m.attachment_id, 'version', m.version, 'editedAt', m.edited_at::text,
              'deletedAt', m.deleted_at::text, 'replyToId', m.reply_to_id,
              'attachment', (SELECT json_build_object('id', a.id, 'key', a.key, 'mime', a.mime, 'bytes', a.bytes, 'filename', a.filename)
                               FROM attachments a WHERE a.id = m.attachment_id),
              'reactions', (SELECT coalesce(json_agg(json_build_object(
                                     'userId', r.user_id, 'emoji', r.emoji, 'version', r.version, 'emojiSince', r.emoji_since)
                                     ORDER BY r.version), '[]'::json)
                              FROM reactions r WHERE r.message_id = m.id),
              'replyTo', (SELECT json_build_object('id', p.id, 'seq', p.seq, 'userId', p.user_id, 'name', p.name,
                                                   'text', left(p.text, 200), 'deletedAt', p.deleted_at::text)
                            FROM messages p WHERE p.id = m.reply_to_id))), '[]'::json)::text AS rows
       FROM messages m
      WHERE m.room_id = $1 AND m.id = ANY($2::text[])`,
    roomId,
    ids,
  );
  type Json = Omit<MessageRow, 'ts' | 'editedAt' | 'deletedAt' | 'replyTo'> & {
    ts: string;
    editedAt: string | null;
    deletedAt: string | null;
    replyTo: (Omit<NonNullable<MessageRow['replyTo']>, 'deletedAt'> & { deletedAt: string | null }) | null;
  };
  const big = (v: string | null) => (v === null ? null : BigInt(v));
  return (JSON.parse(result!.rows) as Json[]).map((r) => ({
    ...r,
    ts: BigInt(r.ts),
    editedAt: big(r.editedAt),
    deletedAt: big(r.deletedAt),
    replyTo: r.replyTo ? { ...r.replyTo, deletedAt: big(r.replyTo.deletedAt) } : null,
  }));
}

/** Completed attachments of this room named by the sends, not used by any message and not discarded, locked. */
export async function usableAttachments(
  tx: Prisma.TransactionClient,
  roomId: string,
  sends: Draft[],
): Promise<Map<string, AttachmentRow>> {
  const wanted = sends.map((d) => d.attachmentId).filter((a): a is string => a !== null);
  if (wanted.length === 0) return new Map();
  const rows = await tx.$queryRawUnsafe<AttachmentRow[]>(
    `SELECT a.id, a.user_id, a.key, a.mime, a.bytes, a.filename
       FROM attachments a
      WHERE a.id = ANY($1::text[]) AND a.room_id = $2 AND a.completed_at IS NOT NULL AND a.discarded_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.attachment_id = a.id)
      FOR UPDATE`,
    wanted,
    roomId,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/**
 * New messages, changed messages, reactions added and removed, discarded attachments and
 * the room's new high-water marks: one statement, one round trip. The sub-statements touch
 * disjoint rows (a reaction is either removed or upserted), so their order does not matter.
 */
export async function writeBatch(
  tx: Prisma.TransactionClient,
  roomId: string,
  inserts: (StoredMessage & { replyToId: string | null })[],
  changes: ChangeWrites,
  discarded: { id: string }[],
  last: { seq: number; ts: number; version: number },
): Promise<void> {
  await tx.$executeRawUnsafe(
    `WITH inserted AS (
       INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id)
       SELECT id, $1, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id
         FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::int[], $11::text[])
           AS t(id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version, reply_to_id)
       RETURNING 1
     ), changed AS (
       UPDATE messages m
          SET text = c.text, version = c.version, edited_at = c.edited_at, deleted_at = c.deleted_at,
              attachment_id = c.attachment_id
         FROM unnest($12::text[], $13::text[], $14::int[], $15::bigint[], $16::bigint[], $17::text[])
           AS c(id, text, version, edited_at, deleted_at, attachment_id)
        WHERE m.id = c.id AND m.room_id = $1
       RETURNING 1
     ), unreacted AS (
       DELETE FROM reactions r
        USING unnest($18::text[], $19::text[], $20::text[]) AS d(message_id, user_id, emoji)
        WHERE r.message_id = d.message_id AND r.user_id = d.user_id AND r.emoji = d.emoji
       RETURNING 1
     ), reacted AS (
       INSERT INTO reactions (message_id, user_id, emoji, version, emoji_since)
       SELECT * FROM unnest($21::text[], $22::text[], $23::text[], $24::int[], $29::int[])
       ON CONFLICT (message_id, user_id, emoji) DO UPDATE SET version = EXCLUDED.version, emoji_since = EXCLUDED.emoji_since
       RETURNING 1
     ), discarded AS (
       UPDATE attachments SET discarded_at = now() WHERE id = ANY($25::text[])
       RETURNING 1
     )
     UPDATE rooms SET last_seq = $26, last_ts = $27, last_version = $28 WHERE id = $1`,
    roomId,
    inserts.map((m) => m.id),
    inserts.map((m) => m.seq),
    inserts.map((m) => m.userId),
    inserts.map((m) => m.name),
    inserts.map((m) => m.text),
    inserts.map((m) => String(m.ts)),
    inserts.map((m) => m.clientMsgId),
    inserts.map((m) => m.attachment?.id ?? null),
    inserts.map((m) => m.version),
    inserts.map((m) => m.replyToId),
    changes.messages.map((m) => m.id),
    changes.messages.map((m) => m.text),
    changes.messages.map((m) => m.version),
    changes.messages.map((m) => m.editedAt),
    changes.messages.map((m) => m.deletedAt),
    changes.messages.map((m) => m.attachmentId),
    changes.removedReactions.map((r) => r.messageId),
    changes.removedReactions.map((r) => r.userId),
    changes.removedReactions.map((r) => r.emoji),
    changes.addedReactions.map((r) => r.messageId),
    changes.addedReactions.map((r) => r.userId),
    changes.addedReactions.map((r) => r.emoji),
    changes.addedReactions.map((r) => r.version),
    discarded.map((a) => a.id),
    last.seq,
    BigInt(last.ts),
    last.version,
    changes.addedReactions.map((r) => r.emojiSince),
  );
}
