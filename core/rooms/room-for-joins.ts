import type { Database } from '../db/database.ts';
import type { Room } from '../schemas.ts';
import { toWireRoom } from './rooms.ts';

/** A room's row as a join reads it (here, and beside the page: readJoinPage). */
export interface JoinRoomRow {
  id: string;
  name: string;
  createdAtMs: number;
  lastSeq: number;
  lastVersion: number;
  kind: string;
  ownerId: string | null;
}

type Row = JoinRoomRow & { members: string[] };

/**
 * A room and which of `userIds` are its members, for a batch of joins (a join storm): one
 * statement on the pool for the whole batch (Database.query: no Prisma, whose relation
 * include costs a second query) instead of one per joining user. `room` is null when the room
 * does not exist, which a joiner hears as the same `forbidden` as a non-member.
 */
export async function roomForJoins(
  db: Database,
  roomId: string,
  userIds: string[],
): Promise<{ room: Room | null; members: Set<string> }> {
  const [row] = await db.query<Row>(
    `SELECT r.id, r.name, (extract(epoch FROM r.created_at) * 1000)::float8 AS "createdAtMs",
            r.last_seq AS "lastSeq", r.last_version AS "lastVersion", r.kind, r.owner_id AS "ownerId",
            ARRAY(SELECT rm.user_id FROM room_members rm
                   WHERE rm.room_id = r.id AND rm.user_id = ANY($2::text[])) AS members
       FROM rooms r WHERE r.id = $1::text`,
    [roomId, userIds],
    // Every join runs it: prepared once per connection, not parsed and planned each time.
    { name: 'parley-room-for-joins' },
  );
  if (!row) return { room: null, members: new Set() };
  const { members, createdAtMs, ...room } = row;
  return { room: toWireRoom({ ...room, createdAt: new Date(createdAtMs) }), members: new Set(members) };
}
