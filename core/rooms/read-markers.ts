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

/** The member's stored marker and the room's lastSeq, or null when not a member. One indexed look-up. */
export async function readMarkerState(
  db: Database,
  roomId: string,
  userId: string,
): Promise<MarkerState | null> {
  const rows = await db.prisma.$queryRaw<{ last_read_seq: number; last_seq: number }[]>(Prisma.sql`
    SELECT rm.last_read_seq, r.last_seq
      FROM room_members rm JOIN rooms r ON r.id = rm.room_id
     WHERE rm.room_id = ${roomId} AND rm.user_id = ${userId}`);
  const row = rows[0];
  return row ? { lastReadSeq: row.last_read_seq, lastSeq: row.last_seq } : null;
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

/** A marker the write moved forward, with the member's unread count at its new position. */
export interface MovedMarker {
  roomId: string;
  userId: string;
  lastReadSeq: number;
  unread: number;
}

/**
 * Writes many markers in one statement: each becomes max(stored, min(seq, room.last_seq)),
 * so it never moves back (also against a concurrent flush from another instance: READ
 * COMMITTED re-checks the WHERE on the row it waited for) and never passes the room's last
 * message. Rows that would not move are not written; pairs that are no longer memberships
 * match no row and are dropped. Returns the rows that moved, with their unread counts
 * (messages after the marker, not the member's own, not deleted: an index range over
 * messages(room_id, seq) from the marker to the end).
 */
export async function writeMarkers(db: Database, writes: readonly MarkerWrite[]): Promise<MovedMarker[]> {
  if (writes.length === 0) return [];
  const rows = await db.prisma.$queryRaw<
    { room_id: string; user_id: string; last_read_seq: number; unread: number }[]
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
    SELECT moved.room_id, moved.user_id, moved.last_read_seq,
           (SELECT count(*) FROM messages m
             WHERE m.room_id = moved.room_id AND m.seq > moved.last_read_seq
               AND m.user_id <> moved.user_id AND m.deleted_at IS NULL)::int AS unread
      FROM moved`);
  return rows.map((r) => ({
    roomId: r.room_id,
    userId: r.user_id,
    lastReadSeq: r.last_read_seq,
    unread: r.unread,
  }));
}
