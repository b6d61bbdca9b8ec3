import { Prisma, runSql, type SqlTx } from '../db/database.ts';
import type { MessageRow } from './rows.ts';

/**
 * One message `m` as a JSON object: its columns, its attachment, its reactions (in the order
 * of reacting) and its reply parent, so that a page or a batch's targets come back in one
 * round trip. Big integers travel as text (JSON numbers would lose precision).
 */
export const MESSAGE_ROW_JSON = Prisma.sql`json_build_object(
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
                            FROM messages p WHERE p.id = m.reply_to_id))`;

interface JsonRow extends Omit<MessageRow, 'ts' | 'editedAt' | 'deletedAt' | 'replyTo'> {
  ts: string;
  editedAt: string | null;
  deletedAt: string | null;
  replyTo: (Omit<NonNullable<MessageRow['replyTo']>, 'deletedAt'> & { deletedAt: string | null }) | null;
}

const big = (v: string | null) => (v === null ? null : BigInt(v));

/**
 * Messages by id (in no particular order), with their relations (`MessageRow`), in one statement
 * (Prisma's include takes a query per relation, and in a transaction runs them concurrently
 * on its one connection). With `roomId`, only that room's.
 */
export async function readMessageRows(client: SqlTx, ids: string[], roomId?: string): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  const inRoom = roomId === undefined ? Prisma.sql`TRUE` : Prisma.sql`m.room_id = ${roomId}`;
  const [result] = await runSql<{ rows: string }>(
    client,
    Prisma.sql`SELECT coalesce(json_agg(${MESSAGE_ROW_JSON}), '[]'::json)::text AS rows
                 FROM messages m
                WHERE ${inRoom} AND m.id = ANY(${ids}::text[])`,
  );
  return parseMessageRows(result!.rows);
}

/** The rows of a `json_agg` of MESSAGE_ROW_JSON, their big integers restored. */
export function parseMessageRows(text: string): MessageRow[] {
  return (JSON.parse(text) as JsonRow[]).map((r) => ({
    ...r,
    ts: BigInt(r.ts),
    editedAt: big(r.editedAt),
    deletedAt: big(r.deletedAt),
    replyTo: r.replyTo ? { ...r.replyTo, deletedAt: big(r.replyTo.deletedAt) } : null,
  }));
}
