import { Prisma, type Database } from '../db/database.ts';
import { invalid } from '../errors.ts';
import { readMessageRows } from '../messages/row-json.ts';
import { fromRow, type StoredMessage } from '../messages/rows.ts';
import { requireMember } from '../rooms/rooms.ts';
import type { SearchQuery } from '../schemas.ts';
import { decodeCursor, encodeCursor, type SearchKey } from './cursor.ts';
import { toTsQueryText } from './query.ts';

/**
 * Full-text search over the caller's rooms, newest first, by keyset on (ts, id).
 *
 * `messages.search` is `to_tsvector('simple', text)` (generated, so an edit re-indexes and a
 * tombstone's "" never matches) with a GIN index. A GIN index finds matches but cannot
 * return them in ts order: for a word in most messages the bitmap holds a million rows to
 * fetch and sort (about a second here), while walking the room's (room_id, ts) index
 * newest first finds a page of them in its first few dozen rows. For a rare word it is the
 * other way round. So a page is found in two steps, each restricted to the caller's rooms
 * in the query itself (room_members), and each exact:
 *
 * 1. The recent window: in each of the caller's rooms the newest `k` messages below the
 *    cursor (k = WINDOW_BUDGET / rooms, at least a page + 1), read by index, tested against
 *    the query. Every message newer than the newest window edge is known, so the matches
 *    above that edge are exactly the newest matches; if they fill a page, that is the page.
 * 2. Otherwise (a rarer word), the GIN index: every match in the caller's rooms below the
 *    cursor, sorted. Its cost grows with the word's matches in those rooms, which step 1
 *    has just shown to be sparse among the recent messages.
 */

/** Messages read by the recent window across all of the caller's rooms (see above). */
const WINDOW_BUDGET = 2000;

export interface SearchResult {
  messages: StoredMessage[];
  nextCursor: string | null;
  /** Which step found the page (for tests and the benchmark). */
  via: 'window' | 'index';
}

export interface SearchOptions {
  /** Messages the recent window may read; 0 skips it (tests force either step with this). */
  windowBudget?: number;
}

export async function searchMessages(
  db: Database,
  userId: string,
  query: SearchQuery,
  options: SearchOptions = {},
): Promise<SearchResult> {
  const tsQuery = toTsQueryText(query.q);
  if (tsQuery === null)
    throw invalid('Invalid query', [{ path: 'q', message: 'must contain a word (a letter or a digit)' }]);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  if (query.roomId !== undefined) await requireMember(db, query.roomId, userId);

  const take = query.limit + 1;
  const scope = { userId, roomId: query.roomId, after, tsQuery, take };
  const budget = options.windowBudget ?? WINDOW_BUDGET;
  const rooms = query.roomId !== undefined ? 1 : await db.prisma.roomMember.count({ where: { userId } });
  if (rooms === 0) return { messages: [], nextCursor: null, via: 'window' };
  // A constant per-room window, so the planner knows how few rows step 1 reads (a LIMIT it
  // cannot see is estimated at a tenth of the room, and the cost of a million-row room
  // crosses jit_above_cost: 15–40 ms of JIT compiling for a 1 ms query).
  const perRoom = Math.max(take, Math.floor(budget / rooms));
  const recent = budget > 0 ? await recentWindow(db, scope, perRoom) : undefined;
  const via = recent?.exact ? 'window' : 'index';
  const ids = recent?.exact ? recent.ids : await allMatches(db, scope);

  const rows = await readMessageRows(db, ids);
  const byId = new Map(rows.map((r) => [r.id, fromRow(r)]));
  const found = ids.map((id) => byId.get(id)).filter((m) => m !== undefined);
  const page = found.slice(0, query.limit);
  const last = page.at(-1);
  return {
    // A message deleted between the two reads has become a tombstone: it no longer matches.
    messages: page.filter((m) => m.deletedAt === null),
    nextCursor: ids.length > query.limit && last ? encodeCursor({ ts: last.ts, id: last.id }) : null,
    via,
  };
}

interface Scope {
  userId: string;
  roomId: string | undefined;
  after: SearchKey | undefined;
  tsQuery: string;
  take: number;
}

/** The caller's rooms (one of them with `roomId`), as the query restricts them. */
const memberRooms = (s: Scope) =>
  Prisma.sql`SELECT rm.room_id FROM room_members rm WHERE rm.user_id = ${s.userId}${
    s.roomId === undefined ? Prisma.empty : Prisma.sql` AND rm.room_id = ${s.roomId}`
  }`;

/** Strictly below the cursor in (ts, id) order; the plain `ts <=` lets the index bound the scan. */
const belowCursor = (s: Scope) =>
  s.after === undefined
    ? Prisma.empty
    : Prisma.sql` AND m.ts <= ${BigInt(s.after.ts)}::bigint AND (m.ts, m.id) < (${BigInt(s.after.ts)}::bigint, ${s.after.id}::text)`;

async function recentWindow(
  db: Database,
  s: Scope,
  perRoom: number,
): Promise<{ exact: boolean; ids: string[] }> {
  const [row] = await db.prisma.$queryRaw<{ bounded: boolean; ids: string[] }[]>(Prisma.sql`
    WITH q AS (SELECT to_tsquery('simple', ${s.tsQuery}) AS tsq),
    mine AS (${memberRooms(s)}),
    win AS MATERIALIZED (
      SELECT w.id, w.ts, w.hit, w.rn FROM mine CROSS JOIN LATERAL (
        SELECT m.id, m.ts, m.search @@ (SELECT tsq FROM q) AS hit,
               row_number() OVER (ORDER BY m.ts DESC, m.id DESC) AS rn
          FROM messages m
         WHERE m.room_id = mine.room_id${belowCursor(s)}
         ORDER BY m.ts DESC, m.id DESC
         LIMIT ${perRoom}::int) w
    ),
    edge AS (SELECT ts, id FROM win WHERE rn = ${perRoom}::int ORDER BY ts DESC, id DESC LIMIT 1),
    hits AS (
      SELECT win.id, win.ts FROM win
       WHERE win.hit AND NOT EXISTS (SELECT 1 FROM edge WHERE (win.ts, win.id) < (edge.ts, edge.id))
       ORDER BY win.ts DESC, win.id DESC LIMIT ${s.take}::int)
    SELECT EXISTS (SELECT 1 FROM edge) AS bounded,
           coalesce((SELECT array_agg(hits.id ORDER BY hits.ts DESC, hits.id DESC) FROM hits), '{}'::text[]) AS ids`);
  const ids = row?.ids ?? [];
  // Unbounded: every window reached the start of its room, so nothing was left unread.
  return { exact: !row?.bounded || ids.length >= s.take, ids };
}

async function allMatches(db: Database, s: Scope): Promise<string[]> {
  const rows = await db.prisma.$queryRaw<{ id: string }[]>(Prisma.sql`
    SELECT m.id FROM messages m
     WHERE m.search @@ to_tsquery('simple', ${s.tsQuery})
       AND m.room_id IN (${memberRooms(s)})${belowCursor(s)}
     ORDER BY m.ts DESC, m.id DESC
     LIMIT ${s.take}::int`);
  return rows.map((r) => r.id);
}
