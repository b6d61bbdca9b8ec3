import { Prisma, type Database } from '../db/database.ts';
import { AppError, invalid, notFound } from '../errors.ts';
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

const roomSelect = {
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

/** Which of these users are online anywhere (the presence store); absent: nobody is. */
export type OnlineLookup = (userIds: string[]) => Promise<ReadonlySet<string>>;

const toWireMember = (m: MemberRow, online: ReadonlySet<string>): Member => ({
  userId: m.userId,
  username: m.user.username,
  joinedAt: m.joinedAt.toISOString(),
  role: m.room.ownerId === m.userId ? 'owner' : 'member',
  lastReadSeq: m.lastReadSeq,
  online: online.has(m.userId),
});

const memberSelect = {
  userId: true,
  joinedAt: true,
  lastReadSeq: true,
  user: { select: { username: true } },
  room: { select: { ownerId: true } },
} as const;

const nobodyOnline: OnlineLookup = async () => new Set();

type Tx = Prisma.TransactionClient;

interface LockedRoom {
  kind: string;
  owner_id: string | null;
  last_seq: number;
}

/**
 * Locks the room row, as the message commit does (core/messages/batch.ts reads owner_id under
 * the same lock): ownership, membership changes and owner-only actions are serialized per room,
 * so two owners can never arise and a deposed owner cannot act on the old ownership.
 */
async function lockRoom(tx: Tx, roomId: string): Promise<LockedRoom | undefined> {
  const rows = await tx.$queryRaw<LockedRoom[]>(
    Prisma.sql`SELECT kind, owner_id, last_seq FROM rooms WHERE id = ${roomId} FOR UPDATE`,
  );
  return rows[0];
}

async function memberIn(tx: Tx, roomId: string, userId: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ one: number }[]>(
    Prisma.sql`SELECT 1 AS one FROM room_members WHERE room_id = ${roomId} AND user_id = ${userId}`,
  );
  return rows.length > 0;
}

async function memberIdsIn(tx: Tx | Database['prisma'], roomId: string): Promise<string[]> {
  const rows = await tx.roomMember.findMany({ where: { roomId }, select: { userId: true } });
  return rows.map((r) => r.userId);
}

/**
 * Adds users to a room unless they are members already; a new member's read marker starts at
 * the room's last seq (what was said before they joined is history, not unread). Returns the
 * user ids actually added. Concurrent adds of the same user add them once.
 */
async function insertMembers(tx: Tx, roomId: string, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await tx.$queryRaw<{ user_id: string }[]>(Prisma.sql`
    INSERT INTO room_members (id, room_id, user_id, last_read_seq)
    SELECT k.id, ${roomId}, k.user_id, r.last_seq
      FROM unnest(${userIds.map(() => newId())}::text[], ${userIds}::text[]) AS k(id, user_id)
      JOIN rooms r ON r.id = ${roomId}
    ON CONFLICT (room_id, user_id) DO NOTHING
    RETURNING user_id`);
  return rows.map((r) => r.user_id);
}

const forbidden = (message: string) => new AppError('forbidden', message);

export interface AddMemberOptions {
  /** How the username is looked up: the routes pass a throttled lookup (username-lookup-throttle.ts). */
  findUser?: (username: string) => Promise<User | null>;
  online?: OnlineLookup;
}

/**
 * Adds a user to a room; `created` is false when they were already a member. Not in a direct
 * room (forbidden, checked before the username is looked up).
 */
export async function addMember(
  db: Database,
  roomId: string,
  actorId: string,
  username: string,
  opts: AddMemberOptions = {},
): Promise<{ member: Member; created: boolean; room: Room }> {
  const room = await getRoomForMember(db, roomId, actorId);
  if (room.kind === 'direct') throw forbidden('Members cannot be added to a direct room');
  const find = opts.findUser ?? ((name: string) => findUserByUsername(db, name));
  const user = await find(username);
  if (!user) throw notFound('User not found');
  const added = await db.prisma.$transaction(async (tx) => {
    // The lock orders this add after a concurrent change of the room (the actor leaving, say).
    if (!(await lockRoom(tx, roomId)) || !(await memberIn(tx, roomId, actorId))) throw roomNotFound();
    return insertMembers(tx, roomId, [user.id]);
  });
  const row = await db.prisma.roomMember.findUnique({
    where: { roomId_userId: { roomId, userId: user.id } },
    select: memberSelect,
  });
  // Added and removed again in between: answer as the conflict it is.
  if (!row) throw new AppError('conflict', 'Membership changed concurrently, try again');
  const online = await (opts.online ?? nobodyOnline)([user.id]);
  return { member: toWireMember(row, online), created: added.length > 0, room };
}

export async function listMembers(
  db: Database,
  roomId: string,
  userId: string,
  online: OnlineLookup = nobodyOnline,
): Promise<Member[]> {
  await requireMember(db, roomId, userId);
  const rows = await db.prisma.roomMember.findMany({
    where: { roomId },
    select: memberSelect,
    orderBy: [{ joinedAt: 'asc' }, { id: 'asc' }],
  });
  const here = await online(rows.map((r) => r.userId));
  return rows.map((r) => toWireMember(r, here));
}

/** What a departure changed: when the owner left, the room with its new owner and who is left. */
export interface Departure {
  /** Set when ownership passed on (or, nobody being left, ended). */
  ownerChanged: { room: Room; memberIds: string[] } | null;
}

/**
 * Takes `userId` out of a locked room. When they owned it, ownership passes to the
 * earliest-joined remaining member (null once nobody is left), in the same transaction.
 */
async function depart(tx: Tx, roomId: string, room: LockedRoom, userId: string): Promise<Departure> {
  const { count } = await tx.roomMember.deleteMany({ where: { roomId, userId } });
  if (count === 0) throw roomNotFound();
  if (room.owner_id !== userId) return { ownerChanged: null };
  const heir = await tx.roomMember.findFirst({
    where: { roomId },
    orderBy: [{ joinedAt: 'asc' }, { id: 'asc' }],
    select: { userId: true },
  });
  const updated = await tx.room.update({
    where: { id: roomId },
    data: { ownerId: heir?.userId ?? null },
    select: roomSelect,
  });
  return { ownerChanged: { room: toWireRoom(updated), memberIds: await memberIdsIn(tx, roomId) } };
}

/** Removes the user from the room (leaving); not_found if they were not a member. */
export async function leaveRoom(db: Database, roomId: string, userId: string): Promise<Departure> {
  if (!queryableId(roomId)) throw roomNotFound();
  return db.prisma.$transaction(async (tx) => {
    const room = await lockRoom(tx, roomId);
    if (!room) throw roomNotFound();
    return depart(tx, roomId, room, userId);
  });
}

/**
 * The owner removes a member: not_found unless the actor is a member, forbidden unless they
 * own the room (so never in a direct room, which has no owner), not_found for a user who is
 * not a member. Removing oneself is leaving.
 */
export async function removeMember(
  db: Database,
  roomId: string,
  actorId: string,
  userId: string,
): Promise<Departure> {
  if (!queryableId(roomId)) throw roomNotFound();
  if (userId === actorId) return leaveRoom(db, roomId, actorId);
  return db.prisma.$transaction(async (tx) => {
    const room = await lockRoom(tx, roomId);
    if (!room || !(await memberIn(tx, roomId, actorId))) throw roomNotFound();
    if (room.owner_id !== actorId) throw forbidden("Only the room's owner can remove members");
    if (!queryableId(userId)) throw notFound('Member not found');
    const { count } = await tx.roomMember.deleteMany({ where: { roomId, userId } });
    if (count === 0) throw notFound('Member not found');
    return { ownerChanged: null };
  });
}

/** The owner renames a group room; answers the room and its members (who hear of it). */
export async function renameRoom(
  db: Database,
  roomId: string,
  actorId: string,
  name: string,
): Promise<{ room: Room; memberIds: string[] }> {
  if (!queryableId(roomId)) throw roomNotFound();
  return db.prisma.$transaction(async (tx) => {
    const room = await lockRoom(tx, roomId);
    if (!room || !(await memberIn(tx, roomId, actorId))) throw roomNotFound();
    if (room.kind === 'direct') throw forbidden('A direct room cannot be renamed');
    if (room.owner_id !== actorId) throw forbidden("Only the room's owner can rename it");
    const updated = await tx.room.update({ where: { id: roomId }, data: { name }, select: roomSelect });
    return { room: toWireRoom(updated), memberIds: await memberIdsIn(tx, roomId) };
  });
}

/** A direct room's key: the two user ids, sorted, joined by ":" (unique: one room per pair). */
const directKey = (a: string, b: string): string => [a, b].sort().join(':');

/**
 * The direct room of the caller and another user: created the first time (`created`), the
 * same room afterwards whichever of the two asks. Opening it adds back whichever of the two
 * had left it (`added`: who became a member now). Concurrent first opens, from both sides,
 * make one room: the unique direct_key lets one insert win and the other finds its room.
 */
export async function openDirectRoom(
  db: Database,
  actor: { userId: string; username: string },
  username: string,
  findUser: (username: string) => Promise<User | null> = (name) => findUserByUsername(db, name),
): Promise<{ room: Room; created: boolean; added: string[] }> {
  const other = await findUser(username);
  if (!other) throw notFound('User not found');
  if (other.id === actor.userId) throw invalid('A direct room needs another user');
  const key = directKey(actor.userId, other.id);
  const name = [actor.username, other.username].sort().join(', ');
  return db.prisma.$transaction(async (tx) => {
    const inserted = await tx.$queryRaw<{ id: string }[]>(Prisma.sql`
      INSERT INTO rooms (id, name, kind, owner_id, direct_key)
      VALUES (${newId()}, ${name}, 'direct', NULL, ${key})
      ON CONFLICT (direct_key) DO NOTHING
      RETURNING id`);
    const created = inserted.length > 0;
    // The winner's row, committed (an insert that lost waited for it): lock it like any change.
    const [found] = await tx.$queryRaw<{ id: string }[]>(
      Prisma.sql`SELECT id FROM rooms WHERE direct_key = ${key} FOR UPDATE`,
    );
    if (!found) throw new AppError('conflict', 'The direct room changed concurrently, try again');
    const added = await insertMembers(tx, found.id, [actor.userId, other.id]);
    const room = await tx.room.findUniqueOrThrow({ where: { id: found.id }, select: roomSelect });
    return { room: toWireRoom(room), created, added };
  });
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

/** The user ids of a room's members (the realtime member cache loads rooms with this). */
export const roomMemberIds = (db: Database, roomId: string): Promise<string[]> =>
  memberIdsIn(db.prisma, roomId);
