import type { Database } from '../db/database.ts';
import type { Room } from '../schemas.ts';
import { roomSelect, toWireRoom } from './rooms.ts';

/**
 * A room and which of `userIds` are its members, for a batch of joins (a join storm): one
 * look-up for the whole batch instead of one per joining user. `room` is null when the room
 * does not exist, which a joiner hears as the same `forbidden` as a non-member.
 */
export async function roomForJoins(
  db: Database,
  roomId: string,
  userIds: string[],
): Promise<{ room: Room | null; members: Set<string> }> {
  const row = await db.prisma.room.findUnique({
    where: { id: roomId },
    select: { ...roomSelect, members: { where: { userId: { in: userIds } }, select: { userId: true } } },
  });
  if (!row) return { room: null, members: new Set() };
  const { members, ...room } = row;
  return { room: toWireRoom(room), members: new Set(members.map((m) => m.userId)) };
}
