import { Prisma, type Database } from '../db/database.ts';
import { AppError, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Member, Room, User } from '../schemas.ts';
import { findUserByUsername } from '../users/users.ts';

interface RoomRow {
  id: string;
  name: string;
  createdAt: Date;
  lastSeq: number;
  lastVersion: number;
  kind: string;
  ownerId: string | null;
}

export const toWireRoom = (r: RoomRow): Room => ({
  id: r.id,
  name: r.name,
  createdAt: r.createdAt.toISOString(),
  lastSeq: r.lastSeq,
  lastVersion: r.lastVersion,
  kind: r.kind === 'direct' ? 'direct' : 'group',
  ownerId: r.ownerId,
});

export const roomSelect = {
  id: true,
  name: true,
  createdAt: true,
  lastSeq: true,
  lastVersion: true,
  kind: true,
  ownerId: true,
} as const;

/** The same answer for "no such room" and "not your room": no existence oracle. */
const roomNotFound = () => notFound('Room not found');

/**
 * Whether an id from a client (a path parameter, unvalidated) can be queried at all:
 * Postgres rejects text with NUL, which would otherwise surface as a 500 instead of a 404.
 */
const queryableId = (id: string): boolean => id.length > 0 && id.length <= 128 && !id.includes('\u0000');

export async function createRoom(db: Database, userId: string, name: string): Promise<Room> {
  const id = newId();
  const [room] = await db.prisma.$transaction([
    db.prisma.room.create({ data: { id, name, ownerId: userId }, select: roomSelect }),
    db.prisma.roomMember.create({ data: { id: newId(), roomId: id, userId } }),
  ]);
  return toWireRoom(room);
}

export async function listRooms(db: Database, userId: string): Promise<Room[]> {
  const rows = await db.prisma.room.findMany({
    where: { members: { some: { userId } } },
    select: roomSelect,
    orderBy: { id: 'asc' },
  });
  return rows.map(toWireRoom);
}

export async function isMember(db: Database, roomId: string, userId: string): Promise<boolean> {
  if (!queryableId(roomId)) return false;
  const row = await db.prisma.roomMember.findUnique({
    where: { roomId_userId: { roomId, userId } },
    select: { id: true },
  });
  return row !== null;
}

/** Throws not_found unless the user is a member of the room. */
export async function requireMember(db: Database, roomId: string, userId: string): Promise<void> {
  if (!(await isMember(db, roomId, userId))) throw roomNotFound();
}

/** The room, for one of its members; not_found otherwise. */
export async function getRoomForMember(db: Database, roomId: string, userId: string): Promise<Room> {
  if (!queryableId(roomId)) throw roomNotFound();
  const row = await db.prisma.room.findFirst({
    where: { id: roomId, members: { some: { userId } } },
    select: roomSelect,
  });
  if (!row) throw roomNotFound();
  return toWireRoom(row);
}

interface MemberRow {
  userId: string;
  joinedAt: Date;
  lastReadSeq: number;
  user: { username: string };
  room: { ownerId: string | null };
}

const toWireMember = (m: MemberRow): Member => ({
  userId: m.userId,
  username: m.user.username,
  joinedAt: m.joinedAt.toISOString(),
  role: m.room.ownerId === m.userId ? 'owner' : 'member',
  lastReadSeq: m.lastReadSeq,
});

const memberSelect = {
  userId: true,
  joinedAt: true,
  lastReadSeq: true,
  user: { select: { username: true } },
  room: { select: { ownerId: true } },
} as const;

/** Adds a user to a room; `created` is false when they were already a member. */
export async function addMember(
  db: Database,
  roomId: string,
  actorId: string,
  username: string,
  /** How the username is looked up: the routes pass a throttled lookup (username-lookup-throttle.ts). */
  lookup: (username: string) => Promise<User | null> = (name) => findUserByUsername(db, name),
): Promise<{ member: Member; created: boolean }> {
  await requireMember(db, roomId, actorId);
  const user = await lookup(username);
  if (!user) throw notFound('User not found');
  const select = memberSelect;
  const existing = await db.prisma.roomMember.findUnique({
    where: { roomId_userId: { roomId, userId: user.id } },
    select,
  });
  if (existing) return { member: toWireMember(existing), created: false };
  try {
    const row = await db.prisma.roomMember.create({ data: { id: newId(), roomId, userId: user.id }, select });
    return { member: toWireMember(row), created: true };
  } catch (err) {
    // Two concurrent adds of the same user: the loser answers like an add of an existing member.
    if ((err as { code?: unknown }).code !== 'P2002') throw err;
    const row = await db.prisma.roomMember.findUnique({
      where: { roomId_userId: { roomId, userId: user.id } },
      select,
    });
    if (!row) throw new AppError('conflict', 'Membership changed concurrently, try again');
    return { member: toWireMember(row), created: false };
  }
}

export async function listMembers(db: Database, roomId: string, userId: string): Promise<Member[]> {
  await requireMember(db, roomId, userId);
  const rows = await db.prisma.roomMember.findMany({
    where: { roomId },
    select: memberSelect,
    orderBy: [{ joinedAt: 'asc' }, { id: 'asc' }],
  });
  return rows.map(toWireMember);
}

/** Removes the user from the room; not_found if they were not a member. */
export async function leaveRoom(db: Database, roomId: string, userId: string): Promise<void> {
  if (!queryableId(roomId)) throw roomNotFound();
  const { count } = await db.prisma.roomMember.deleteMany({ where: { roomId, userId } });
  if (count === 0) throw roomNotFound();
}

/**
 * The (room, user) pairs among these that are no longer memberships: one query for any
 * number of pairs, for the realtime reconciliation.
 */
export async function formerMemberships(
  db: Database,
  pairs: { roomId: string; userId: string }[],
): Promise<{ roomId: string; userId: string }[]> {
  if (pairs.length === 0) return [];
  const rows = await db.prisma.$queryRaw<{ room_id: string; user_id: string }[]>(Prisma.sql`
    SELECT DISTINCT k.room_id, k.user_id
      FROM unnest(${pairs.map((p) => p.roomId)}::text[], ${pairs.map((p) => p.userId)}::text[]) AS k(room_id, user_id)
     WHERE NOT EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = k.room_id AND rm.user_id = k.user_id)`);
  return rows.map((r) => ({ roomId: r.room_id, userId: r.user_id }));
}
