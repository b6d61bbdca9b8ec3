import { Prisma, type Database } from '../db/database.ts';

/**
 * Read markers in the database: `room_members.last_read_seq`, the highest seq a member has
 * read. Writes come in batches from the realtime tier's coalescer (realtime/read-markers.ts),
 * never one UPDATE per read.
 */

export interface MarkerState {
  lastReadSeq: number;
  /** The room's last committed seq: a marker is clamped to it. */
  lastSeq: number;
}

/**
 * Each pair's stored marker and its room's lastSeq, in one statement however many pairs; a
 * pair that is not a membership is absent from the answer. Keyed by `roomId\0userId`.
 */
export async function readMarkerStates(
  db: Database,
  pairs: readonly { roomId: string; userId: string }[],
): Promise<Map<string, MarkerState>> {
  if (pairs.length === 0) return new Map();
  const rows = await db.prisma.$queryRaw<
    { room_id: string; user_id: string; last_read_seq: number; last_seq: number }[]
  >(Prisma.sql`
    SELECT rm.room_id, rm.user_id, rm.last_read_seq, r.last_seq
      FROM unnest(${pairs.map((p) => p.roomId)}::text[], ${pairs.map((p) => p.userId)}::text[]) AS k(room_id, user_id)
      JOIN room_members rm ON rm.room_id = k.room_id AND rm.user_id = k.user_id
      JOIN rooms r ON r.id = rm.room_id`);
  return new Map(
    rows.map((r) => [
      `${r.room_id}\u0000${r.user_id}`,
      { lastReadSeq: r.last_read_seq, lastSeq: r.last_seq },
    ]),
  );
}

/** A room's last committed seq (0 for a room that does not exist). */
export async function readLastSeq(db: Database, roomId: string): Promise<number> {
  const rows = await db.prisma.$queryRaw<{ last_seq: number }[]>(
    Prisma.sql`SELECT last_seq FROM rooms WHERE id = ${roomId}`,
  );
  return rows[0]?.last_seq ?? 0;
}

export interface MarkerWrite {
  roomId: string;
  userId: string;
  seq: number;
}

/** A pair's stored marker after a write; `unread` is counted for the markers it moved. */
export interface StoredMarker {
  roomId: string;
  userId: string;
  lastReadSeq: number;
  moved: boolean;
  unread: number;
}

/** A marker the write moved forward, with the member's unread count at its new position. */
export type MovedMarker = Omit<StoredMarker, 'moved'>;

/**
 * Writes many markers in one statement: each becomes max(stored, min(seq, room.last_seq)),
 * so it never moves back (also against a concurrent flush from another instance: READ
 * COMMITTED re-checks the WHERE on the row it waited for) and never passes the room's last
 * message. Rows that would not move are not written; pairs that are no longer memberships
 * match no row and are dropped. Answers every pair that is a membership with its stored
 * marker (so the caller learns what other instances wrote), and for the moved ones the
 * unread count (messages after the marker, not the member's own, not deleted: an index range
 * over messages(room_id, seq) from the marker to the end).
 */
export async function writeMarkers(db: Database, writes: readonly MarkerWrite[]): Promise<StoredMarker[]> {
  if (writes.length === 0) return [];
  // JIT off, as for the room list (room-list.ts): the unread ranges' cost estimates grow with
  // the rooms' histories and would cross the JIT thresholds, compiling far longer than running.
  const [, rows] = await db.prisma.$transaction([
    db.prisma.$executeRaw`SET LOCAL jit = off`,
    db.prisma.$queryRaw<
      { room_id: string; user_id: string; last_read_seq: number; moved: boolean; unread: number }[]
    >(Prisma.sql`
    WITH k AS (
      SELECT * FROM unnest(${writes.map((w) => w.roomId)}::text[], ${writes.map((w) => w.userId)}::text[],
                           ${writes.map((w) => w.seq)}::int[]) AS k(room_id, user_id, seq)
    ), moved AS (
      UPDATE room_members rm
         SET last_read_seq = LEAST(k.seq, r.last_seq)
        FROM k, rooms r
       WHERE rm.room_id = k.room_id AND rm.user_id = k.user_id AND r.id = k.room_id
         AND rm.last_read_seq < LEAST(k.seq, r.last_seq)
      RETURNING rm.room_id, rm.user_id, rm.last_read_seq
    )
    SELECT rm.room_id, rm.user_id,
           coalesce(mv.last_read_seq, rm.last_read_seq) AS last_read_seq,
           mv.room_id IS NOT NULL AS moved,
           CASE WHEN mv.room_id IS NULL THEN 0 ELSE
             (SELECT count(*) FROM messages m
               WHERE m.room_id = mv.room_id AND m.seq > mv.last_read_seq
                 AND m.user_id <> mv.user_id AND m.deleted_at IS NULL)::int END AS unread
      FROM k
      JOIN room_members rm ON rm.room_id = k.room_id AND rm.user_id = k.user_id
      LEFT JOIN moved mv ON mv.room_id = k.room_id AND mv.user_id = k.user_id`),
  ]);
  return rows.map((r) => ({
    roomId: r.room_id,
    userId: r.user_id,
    lastReadSeq: r.last_read_seq,
    moved: r.moved,
    unread: r.unread,
  }));
}
