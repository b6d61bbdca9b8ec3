import { Prisma, type Database } from '../db/database.ts';
import type { HistoryQuery } from '../schemas.ts';
import { MESSAGE_ROW_JSON, parseMessageRows } from './row-json.ts';
import type { MessageRow } from './rows.ts';

/**
 * A history page in one statement: the reader's membership, the page by keyset and each
 * message's attachment, reactions and reply parent, in one round trip (Prisma's `include`
 * takes one query per relation, and the membership check another). The page is an index
 * scan on (room_id, seq), (room_id, ts, seq) or (room_id, version), never a sort or an
 * OFFSET; a non-member's page is not read at all (the membership is an InitPlan evaluated
 * once, before the scan).
 */

export type PageQuery = Omit<HistoryQuery, 'roomId'> & {
  /** With `changedAfter`: only messages with seq up to this (a join's catch-up of changes). */
  throughSeq?: number;
};

/** The keyset condition and order of a query, as the index it scans wants them. */
function keyset(query: PageQuery): { where: Prisma.Sql; order: Prisma.Sql } {
  if (query.changedAfter !== undefined)
    return {
      where:
        query.throughSeq === undefined
          ? Prisma.sql`m.version > ${query.changedAfter}`
          : Prisma.sql`m.version > ${query.changedAfter} AND m.seq <= ${query.throughSeq}`,
      order: Prisma.sql`m.version ASC`,
    };
  if (query.afterSeq !== undefined)
    return { where: Prisma.sql`m.seq > ${query.afterSeq}`, order: Prisma.sql`m.seq ASC` };
  if (query.beforeTs !== undefined)
    return {
      where: Prisma.sql`m.ts < ${query.beforeTs}::bigint`,
      order: Prisma.sql`m.ts DESC, m.seq DESC`,
    };
  return {
    where: query.beforeSeq !== undefined ? Prisma.sql`m.seq < ${query.beforeSeq}` : Prisma.sql`TRUE`,
    order: Prisma.sql`m.seq DESC`,
  };
}

/**
 * Up to `limit + 1` rows of the page in the query's scan order, and whether `memberId` (when
 * given) is a member of the room; without `memberId` the page is read unconditionally
 * (the caller has checked membership already, e.g. join).
 */
export async function readPageRows(
  db: Database,
  roomId: string,
  query: PageQuery,
  memberId?: string,
): Promise<{ member: boolean; rows: MessageRow[] }> {
  const { where, order } = keyset(query);
  const member =
    memberId === undefined
      ? Prisma.sql`TRUE`
      : Prisma.sql`EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = ${roomId} AND rm.user_id = ${memberId})`;
  const [result] = await db.prisma.$queryRaw<{ member: boolean; rows: string }[]>(Prisma.sql`
    WITH page AS (
      SELECT m.* FROM "messages" m
       WHERE m.room_id = ${roomId} AND ${where} AND ${member}
       ORDER BY ${order}
       LIMIT ${query.limit + 1}
    )
    SELECT ${member} AS member,
           (SELECT coalesce(json_agg(${MESSAGE_ROW_JSON} ORDER BY ${order}), '[]'::json)::text
              FROM page m) AS rows`);
  const rows = parseMessageRows(result!.rows);
  return { member: result!.member, rows };
}
