import type { Database } from '../db/database.ts';
import type { HistoryQuery } from '../schemas.ts';

/**
 * A history page in one statement on the pool (Database.query, not Prisma): the reader's
 * membership, the page by keyset and each message's attachment, reactions and reply parent,
 * already in the wire shape as JSON text, so that a REST page is sent as Postgres wrote it
 * (no parse, no objects, no stringify) unless an attachment needs a signed URL. The page is
 * an index scan on (room_id, seq), (room_id, ts, seq) or (room_id, version), never a sort
 * or an OFFSET; a non-member's page is not read at all (the membership is an InitPlan
 * evaluated once, before the scan).
 */

export type PageQuery = Omit<HistoryQuery, 'roomId'> & {
  /** With `changedAfter`: only messages with seq up to this (a join's catch-up of changes). */
  throughSeq?: number;
};

/**
 * One message `m` of the page as a StoredMessage (rows.ts `fromRow`, in SQL): a tombstone
 * shows no attachment and no reactions; a reply parent shows its first 200 code points
 * (`left` counts characters, which in UTF-8 are code points), "" once deleted; reactions
 * group by emoji in order of the emoji's first use, users in order of reacting. A live
 * attachment carries its `key` (for signing) and no `url` yet. Sub-selects sit inside CASE
 * so a message without an attachment, a parent or reactions does not run them (reactions
 * are grouped only where an index probe found some). Its row goes through `row_to_json`,
 * which writes compact JSON (json_build_object puts " : " and ", " between everything).
 */
const STORED_MESSAGE_COLUMNS = `
  m.id AS "id", m.room_id AS "roomId", m.seq AS "seq", m.user_id AS "userId", m.name AS "name",
  m.text AS "text", m.ts AS "ts", m.client_msg_id AS "clientMsgId",
  CASE WHEN m.attachment_id IS NOT NULL AND m.deleted_at IS NULL THEN
    (SELECT json_build_object('id', a.id, 'key', a.key, 'mime', a.mime, 'bytes', a.bytes, 'filename', a.filename)
       FROM attachments a WHERE a.id = m.attachment_id) END AS "attachment",
  m.version AS "version", m.edited_at AS "editedAt", m.deleted_at AS "deletedAt",
  CASE WHEN m.reply_to_id IS NOT NULL THEN
    (SELECT json_build_object('id', p.id, 'seq', p.seq, 'userId', p.user_id, 'name', p.name,
                              'text', CASE WHEN p.deleted_at IS NULL THEN left(p.text, 200) ELSE '' END)
       FROM messages p WHERE p.id = m.reply_to_id) END AS "replyTo",
  CASE WHEN m.deleted_at IS NULL AND EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = m.id) THEN
    (SELECT coalesce(json_agg(json_build_object('emoji', g.emoji, 'count', g.n, 'userIds', g.users)
                              ORDER BY g.since, g.first), '[]'::json)
       FROM (SELECT r.emoji, count(*)::int AS n, json_agg(r.user_id ORDER BY r.version) AS users,
                    min(r.emoji_since) AS since, min(r.version) AS first
               FROM reactions r WHERE r.message_id = m.id GROUP BY r.emoji) g)
    ELSE '[]'::json END AS "reactions"`;

/** Values for `$1…`, in order of use. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: 'text' | 'int' | 'bigint'): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/**
 * The keyset condition and scan order of a query, as the index it scans wants them, and
 * whether the page is shown in the opposite order (pages backwards are scanned descending).
 */
function keyset(
  query: PageQuery,
  p: Params,
): { variant: string; where: string; order: string; reversed: boolean } {
  if (query.changedAfter !== undefined)
    return {
      variant: query.throughSeq === undefined ? 'changed' : 'changed-through',
      where:
        query.throughSeq === undefined
          ? `m.version > ${p.add(query.changedAfter, 'int')}`
          : `m.version > ${p.add(query.changedAfter, 'int')} AND m.seq <= ${p.add(query.throughSeq, 'int')}`,
      order: 'm.version ASC',
      reversed: false,
    };
  if (query.afterSeq !== undefined)
    return {
      variant: 'after-seq',
      where: `m.seq > ${p.add(query.afterSeq, 'int')}`,
      order: 'm.seq ASC',
      reversed: false,
    };
  if (query.beforeTs !== undefined)
    return {
      variant: 'before-ts',
      where: `m.ts < ${p.add(query.beforeTs, 'bigint')}`,
      order: 'm.ts DESC, m.seq DESC',
      reversed: true,
    };
  return {
    variant: query.beforeSeq !== undefined ? 'before-seq' : 'newest',
    where: query.beforeSeq !== undefined ? `m.seq < ${p.add(query.beforeSeq, 'int')}` : 'TRUE',
    order: 'm.seq DESC',
    reversed: true,
  };
}

/** A page as text: what a REST answer and a join ack are made of. */
export interface PageText {
  /** Whether the reader is a member (always true when no reader was given). */
  member: boolean;
  hasMore: boolean;
  /**
   * The page's StoredMessages as JSON objects joined by commas (wrap in `[]`), ascending by
   * seq (by version for `changedAfter`).
   */
  json: string;
  /** How many of them carry an attachment whose URL must be signed before sending. */
  toSign: number;
}

/** The page's statement and its values (exported for the benchmark's EXPLAIN). */
export function pageStatement(
  roomId: string,
  query: PageQuery,
  memberId?: string,
): { sql: string; values: unknown[]; name: string } {
  const p = new Params();
  const room = p.add(roomId, 'text');
  const { variant, where, order, reversed } = keyset(query, p);
  const member =
    memberId === undefined
      ? 'TRUE'
      : `EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = ${room} AND rm.user_id = ${p.add(memberId, 'text')})`;
  const limit = p.add(query.limit, 'int');
  // row_number() over the index's own order costs no sort and keeps the scan stopping at the
  // LIMIT; it tells the one row past the page (which only says hasMore) from the page.
  const sql = `
    WITH page AS (
      SELECT m.id, m.room_id, m.seq, m.user_id, m.name, m.text, m.ts, m.client_msg_id,
             m.attachment_id, m.version, m.edited_at, m.deleted_at, m.reply_to_id,
             row_number() OVER (ORDER BY ${order}) AS n
        FROM messages m
       WHERE m.room_id = ${room} AND ${where} AND ${member}
       ORDER BY ${order}
       LIMIT ${limit} + 1
    )
    SELECT ${member} AS member,
           (SELECT count(*) FROM page)::int AS count,
           (SELECT coalesce(string_agg(row_to_json(w)::text, ',' ORDER BY m.n ${reversed ? 'DESC' : 'ASC'}), '')
              FROM page m CROSS JOIN LATERAL (SELECT ${STORED_MESSAGE_COLUMNS}) w
             WHERE m.n <= ${limit}) AS json,
           (SELECT count(*) FROM page m
             WHERE m.n <= ${limit} AND m.attachment_id IS NOT NULL AND m.deleted_at IS NULL)::int AS "toSign"`;
  // Its text depends only on the variant and on memberId's presence: one prepared statement
  // per pair, planned once per connection.
  return { sql, values: p.values, name: `parley-page-${variant}${memberId === undefined ? '' : '-member'}` };
}

/**
 * The page of `query` as JSON text, and whether `memberId` (when given) is a member of the
 * room; without `memberId` the page is read unconditionally (the caller has checked
 * membership already, e.g. join).
 */
export async function readPageText(
  db: Database,
  roomId: string,
  query: PageQuery,
  memberId?: string,
): Promise<PageText> {
  const { sql, values, name } = pageStatement(roomId, query, memberId);
  const [row] = await db.query<{ member: boolean; count: number; json: string; toSign: number }>(
    sql,
    values,
    {
      name,
    },
  );
  return { member: row!.member, hasMore: row!.count > query.limit, json: row!.json, toSign: row!.toSign };
}
