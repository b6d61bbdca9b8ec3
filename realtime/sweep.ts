import type { Database } from '../core/db/database.ts';
import type { ParleySocket } from './types.ts';

export interface SweepResult {
  /** Sockets whose token has been revoked. */
  revoked: ParleySocket[];
  /** Sockets still in a room their user is no longer a member of. */
  removed: { socket: ParleySocket; roomId: string }[];
}

/**
 * The backstop for bus events that never arrived (Redis away at the moment of a logout or a
 * leave): checks this instance's sockets against the database, which is the truth. Two
 * queries for all sockets, run on the presence heartbeat, so a lost event is acted on within
 * one heartbeat instead of never.
 */
export async function sweep(db: Database, sockets: Iterable<ParleySocket>): Promise<SweepResult> {
  const all = [...sockets].filter((s) => s.data.session);
  if (all.length === 0) return { revoked: [], removed: [] };

  const jtis = [...new Set(all.map((s) => s.data.session.jti))];
  const revokedRows = await db.prisma.revokedToken.findMany({
    where: { jti: { in: jtis } },
    select: { jti: true },
  });
  const revokedJtis = new Set(revokedRows.map((r) => r.jti));
  const revoked = all.filter((s) => revokedJtis.has(s.data.session.jti));

  const pairs = all.flatMap((socket) => [...socket.data.joined].map((roomId) => ({ socket, roomId })));
  if (pairs.length === 0) return { revoked, removed: [] };
  const gone = await db.prisma.$queryRawUnsafe<{ room_id: string; user_id: string }[]>(
    `SELECT DISTINCT k.room_id, k.user_id
       FROM unnest($1::text[], $2::text[]) AS k(room_id, user_id)
      WHERE NOT EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = k.room_id AND rm.user_id = k.user_id)`,
    pairs.map((p) => p.roomId),
    pairs.map((p) => p.socket.data.session.userId),
  );
  const goneKeys = new Set(gone.map((g) => `${g.room_id}\u0000${g.user_id}`));
  const removed = pairs.filter((p) => goneKeys.has(`${p.roomId}\u0000${p.socket.data.session.userId}`));
  return { revoked, removed };
}
