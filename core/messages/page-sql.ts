import type { Database } from '../db/database.ts';
import type { HistoryQuery, ReactionSummary, ReplyExcerpt } from '../schemas.ts';
import type { JoinRoomRow } from '../rooms/room-for-joins.ts';
import type { StoredMessage } from './rows.ts';

/**
 * A history page in one statement on the pool (Database.query, not Prisma): the reader's
 * membership, the page by keyset and each message's attachment, reactions and reply parent
 * (those already in their wire shape), in one round trip. The page is an index scan on
 * (room_id, seq), (room_id, ts, seq) or (room_id, version), never a sort or an OFFSET; a
 * non-member's page is not read at all (the membership is an InitPlan evaluated once, before
 * the scan). The rows are plain columns: Node builds the JSON faster than Postgres's
 * json_build_object/row_to_json does (measured: docs/performance.md, third pass), and the
 * work then lands on the app's instances instead of the one database.
 */

export type PageQuery = Omit<HistoryQuery, 'roomId'> & {
  /** With `changedAfter`: only messages with seq up to this (a join's catch-up of changes). */
  throughSeq?: number;
};

/**
 * A message's relations, in the wire shape (rows.ts `fromRow`, in SQL): a tombstone shows no
 * attachment and no reactions; a reply parent shows its first 200 code points (`left` counts
 * characters, which in UTF-8 are code points), "" once deleted; reactions group by emoji in
 * order of the emoji's first use, users in order of reacting. A live attachment carries its
 * `key` (for signing) and no `url` yet. Sub-selects sit inside CASE so a message without an
 * attachment, a parent or reactions does not run them (reactions are grouped only where an
 * index probe found some). Big integers as float8: epoch milliseconds are exact in a double.
 */
const MESSAGE_COLUMNS = `
  m.id, m.room_id AS "roomId", m.seq, m.user_id AS "userId", m.name, m.text, m.ts::float8 AS ts,
  m.client_msg_id AS "clientMsgId", m.version, m.edited_at::float8 AS "editedAt",
  m.deleted_at::float8 AS "deletedAt",
  CASE WHEN m.attachment_id IS NOT NULL AND m.deleted_at IS NULL THEN
    (SELECT json_build_object('id', a.id, 'key', a.key, 'mime', a.mime, 'bytes', a.bytes, 'filename', a.filename)
       FROM attachments a WHERE a.id = m.attachment_id) END AS attachment,
  CASE WHEN m.reply_to_id IS NOT NULL THEN
    (SELECT json_build_object('id', p.id, 'seq', p.seq, 'userId', p.user_id, 'name', p.name,
                              'text', CASE WHEN p.deleted_at IS NULL THEN left(p.text, 200) ELSE '' END)
       FROM messages p WHERE p.id = m.reply_to_id) END AS "replyTo",
  CASE WHEN m.deleted_at IS NULL AND EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = m.id) THEN
    (SELECT json_agg(json_build_object('emoji', g.emoji, 'count', g.n, 'userIds', g.users) ORDER BY g.since, g.first)
       FROM (SELECT r.emoji, count(*)::int AS n, json_agg(r.user_id ORDER BY r.version) AS users,
                    min(r.emoji_since) AS since, min(r.version) AS first
               FROM reactions r WHERE r.message_id = m.id GROUP BY r.emoji) g) END AS reactions`;

/** Values for `$1…`, in order of use. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, type: 'text' | 'text[]' | 'int' | 'bigint'): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
  /**
   * A value the planner must not look at: as an InitPlan's output, a custom plan estimates it
   * exactly as the generic plan does (an average room, a default range selectivity), so the
   * two cost the same and the plan cache keeps the generic one (see scanLimit). The index
   * still takes it as its condition.
   */
  opaque(value: unknown, type: 'text' | 'text[]' | 'int' | 'bigint'): string {
    return `(SELECT ${this.add(value, type)})`;
  }
}

/** The scan order of a query, as a comparator. */
type Before = (a: StoredMessage, b: StoredMessage) => number;

/**
 * The keyset condition and scan order of a query, as the index it scans wants them, and
 * whether the page is shown in the opposite order (pages backwards are scanned descending).
 */
function keyset(
  query: PageQuery,
  p: Params,
): { variant: string; where: string; order: string; reversed: boolean; before: Before } {
  if (query.changedAfter !== undefined)
    return {
      variant: query.throughSeq === undefined ? 'changed' : 'changed-through',
      where:
        query.throughSeq === undefined
          ? `m.version > ${p.opaque(query.changedAfter, 'int')}`
          : `m.version > ${p.opaque(query.changedAfter, 'int')} AND m.seq <= ${p.opaque(query.throughSeq, 'int')}`,
      order: 'm.version ASC',
      reversed: false,
      before: (a, b) => a.version - b.version,
    };
  if (query.afterSeq !== undefined)
    return {
      variant: 'after-seq',
      where: `m.seq > ${p.opaque(query.afterSeq, 'int')}`,
      order: 'm.seq ASC',
      reversed: false,
      before: (a, b) => a.seq - b.seq,
    };
  if (query.beforeTs !== undefined)
    return {
      variant: 'before-ts',
      where: `m.ts < ${p.opaque(query.beforeTs, 'bigint')}`,
      order: 'm.ts DESC, m.seq DESC',
      reversed: true,
      before: (a, b) => b.ts - a.ts || b.seq - a.seq,
    };
  return {
    variant: query.beforeSeq !== undefined ? 'before-seq' : 'newest',
    where: query.beforeSeq !== undefined ? `m.seq < ${p.opaque(query.beforeSeq, 'int')}` : 'TRUE',
    order: 'm.seq DESC',
    reversed: true,
    before: (a, b) => b.seq - a.seq,
  };
}

/** A page as read. */
export interface PageRead {
  /** Whether the reader is a member (always true when no reader was given). */
  member: boolean;
  hasMore: boolean;
  /** Ascending by seq (by version for `changedAfter`). */
  messages: StoredMessage[];
  /** How many of them carry an attachment whose URL must be signed before sending. */
  toSign: number;
}

/**
 * How many rows the statement scans for a page of `limit`: `limit + 1` rounded up to a bucket,
 * written into the SQL as a constant. With a `$n` LIMIT Postgres's generic plan assumes a
 * tenth of the room's rows is read (and every one's relation sub-selects run), so the plan
 * cache never chose it and re-planned the statement on every execution: ~0.8 ms of planning
 * for ~0.3 ms of execution (EXPLAIN ANALYZE: docs/performance.md, fourth pass). A constant
 * makes the generic plan as cheap as a custom one, and it is used from the sixth execution
 * on. Buckets rather than every limit keep the prepared statements few; the rows beyond
 * `limit + 1` are dropped.
 */
function scanLimit(limit: number): number {
  for (const bucket of [11, 26, 51, 101]) if (limit + 1 <= bucket) return bucket;
  return limit + 1;
}

/**
 * What a page's statement reads beside the page, in one row ahead of it: the reader's
 * membership (history), the room and which of its joiners are not members (join), or
 * nothing.
 */
type Head = { memberId: string } | { joiners: string[] } | undefined;

/**
 * The room in a join's statement, as one JSON value on one row of the page (`first`), so the
 * driver parses it once, not on each of the 51 rows.
 */
const ROOM_HEAD = (nonMembers: string) => `json_build_object(
    'id', r.id, 'name', r.name, 'createdAtMs', (extract(epoch FROM r.created_at) * 1000)::float8,
    'lastSeq', r.last_seq, 'lastVersion', r.last_version, 'kind', r.kind, 'ownerId', r.owner_id,
    'nonMembers', ${nonMembers})`;

/** The page's statement, its values and its prepared statement's name. */
function pageStatement(
  roomId: string,
  query: PageQuery,
  head: Head,
): { sql: string; values: unknown[]; name: string; before: Before; reversed: boolean } {
  const p = new Params();
  const room = p.add(roomId, 'text');
  const { variant, where, order, reversed, before } = keyset(query, p);
  const member =
    head === undefined || 'joiners' in head
      ? 'TRUE'
      : `EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = ${room} AND rm.user_id = ${p.add(head.memberId, 'text')})`;
  // A join's head: the room (no row at all when there is no such room) and those of the
  // joiners who are not members, normally none (the member cache let them in: join-reads.ts),
  // so the array repeated on every row is empty. The page does not wait for membership here:
  // it goes to the members only. The array's sub-select names the room by its parameter, not
  // by r.id, so it is an InitPlan run once rather than a SubPlan run per row (the head is
  // pulled up into the join), and its joiners are opaque, as the page's values are, so the
  // plan cache keeps the generic plan (EXPLAIN ANALYZE: planned each time otherwise). One
  // index probe per joiner (the lateral LIMIT 1): NOT EXISTS let the generic plan hash the
  // whole membership of the room.
  const join = head !== undefined && 'joiners' in head;
  const from = join
    ? `(SELECT TRUE AS member, ${ROOM_HEAD(`ARRAY(SELECT u FROM unnest(${p.opaque(head.joiners, 'text[]')}) u
                 LEFT JOIN LATERAL (SELECT TRUE AS found FROM room_members rm
                                     WHERE rm.room_id = ${room} AND rm.user_id = u LIMIT 1) rm ON TRUE
                WHERE rm.found IS NULL)`)} AS head
          FROM rooms r WHERE r.id = ${room}) mem`
    : `(SELECT ${member} AS member) mem`;
  const rows = scanLimit(query.limit);
  const scan = `
        SELECT m.id, m.room_id, m.seq, m.user_id, m.name, m.text, m.ts, m.client_msg_id,
               m.attachment_id, m.version, m.edited_at, m.deleted_at, m.reply_to_id
          FROM messages m
         WHERE m.room_id = (SELECT ${room}) AND ${where} AND ${member}
         ORDER BY ${order}
         LIMIT ${rows}`;
  // Always one row at least (the membership, or the room), so an empty page and a non-member
  // differ. Rows come in no promised order: readPage sorts them (51 of them, in memory).
  const sql = join
    ? `
    SELECT mem.member, CASE WHEN m.first IS NOT FALSE THEN mem.head END AS head, ${MESSAGE_COLUMNS}
      FROM ${from}
      LEFT JOIN LATERAL (SELECT s.*, row_number() OVER () = 1 AS first FROM (${scan}) s) m ON TRUE`
    : `
    SELECT mem.member, ${MESSAGE_COLUMNS}
      FROM ${from}
      LEFT JOIN LATERAL (${scan}
      ) m ON TRUE`;
  // Its text depends only on the variant, the head's kind and the limit's bucket: at most
  // 6 × 3 × 4 prepared statements a connection, each planned once.
  const kind = head === undefined ? '' : 'joiners' in head ? '-join' : '-member';
  const name = `parley-page-${variant}${kind}-${rows}`;
  return { sql, values: p.values, name, before, reversed };
}

type Row = { member: boolean } & (
  | (Omit<StoredMessage, 'replyTo' | 'reactions'> & {
      replyTo: ReplyExcerpt | null;
      reactions: ReactionSummary[] | null;
    })
  | { id: null }
);

/** The page of a statement's rows (at least one: the head's). */
function pageOf(rows: Row[], query: PageQuery, before: Before, reversed: boolean): PageRead {
  const member = rows[0]!.member;
  const messages: StoredMessage[] = [];
  let toSign = 0;
  for (const r of rows) {
    if (r.id === null) continue;
    if (r.attachment) toSign++;
    messages.push({
      id: r.id,
      roomId: r.roomId,
      seq: r.seq,
      userId: r.userId,
      name: r.name,
      text: r.text,
      ts: r.ts,
      clientMsgId: r.clientMsgId,
      attachment: r.attachment,
      version: r.version,
      editedAt: r.editedAt,
      deletedAt: r.deletedAt,
      replyTo: r.replyTo,
      reactions: r.reactions ?? [],
    });
  }
  messages.sort(before);
  const hasMore = messages.length > query.limit;
  // The bucket's extra rows (scanLimit), beyond the one that tells hasMore.
  for (const dropped of messages.splice(query.limit)) if (dropped.attachment) toSign--;
  if (reversed) messages.reverse();
  return { member, hasMore, messages, toSign };
}

/**
 * The page of `query`, and whether `memberId` (when given) is a member of the room; without
 * `memberId` the page is read unconditionally (the caller has checked membership already).
 */
export async function readPage(
  db: Database,
  roomId: string,
  query: PageQuery,
  memberId?: string,
): Promise<PageRead> {
  const { sql, values, name, before, reversed } = pageStatement(
    roomId,
    query,
    memberId === undefined ? undefined : { memberId },
  );
  return pageOf(await db.query<Row>(sql, values, { name }), query, before, reversed);
}

type HeadRow = Row & { head: (JoinRoomRow & { nonMembers: string[] }) | null };

/**
 * A join's reads in one statement, for joiners already in the room's channel: the room, which
 * of `joiners` are not (or no longer) members, and the page, read unconditionally (the
 * caller answers it to the members only). `room` is null when there is no such room. One
 * round trip where the join used two (the room, then the page).
 */
export async function readJoinPage(
  db: Database,
  roomId: string,
  query: PageQuery,
  joiners: string[],
): Promise<{ room: JoinRoomRow | null; nonMembers: Set<string>; page: PageRead }> {
  const { sql, values, name, before, reversed } = pageStatement(roomId, query, { joiners });
  const rows = await db.query<HeadRow>(sql, values, { name });
  const head = rows.find((r) => r.head !== null)?.head;
  if (!head)
    return {
      room: null,
      nonMembers: new Set(joiners),
      page: { member: false, hasMore: false, messages: [], toSign: 0 },
    };
  const { nonMembers, ...room } = head;
  return { room, nonMembers: new Set(nonMembers), page: pageOf(rows, query, before, reversed) };
}
