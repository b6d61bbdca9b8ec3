import { revokedAmong } from '../core/sessions/sessions.ts';
import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import { formerMemberships } from '../core/rooms/rooms.ts';
import { socketLeaves } from './handlers.ts';
import type { RoomPresence } from './room-presence.ts';
import { joinedRooms, type ParleyServer, type ParleySocket } from './types.ts';

interface Discrepancies {
  /** Sockets whose token has been revoked. */
  revoked: ParleySocket[];
  /** Sockets still in a room their user is no longer a member of. */
  removed: { socket: ParleySocket; roomId: string }[];
}

/**
 * The backstop for bus events that never arrived (Redis away at the moment of a logout or a
 * leave): checks this instance's sockets against the database, which is the truth. Two
 * queries for all sockets, so a lost event is acted on within one period instead of never.
 */
async function findDiscrepancies(db: Database, sockets: Iterable<ParleySocket>): Promise<Discrepancies> {
  const all = [...sockets].filter((s) => s.data.session);
  if (all.length === 0) return { revoked: [], removed: [] };

  const revokedJtis = await revokedAmong(db, [...new Set(all.map((s) => s.data.session.jti))]);
  const revoked = all.filter((s) => revokedJtis.has(s.data.session.jti));

  const pairs = all.flatMap((socket) => [...joinedRooms(socket)].map((roomId) => ({ socket, roomId })));
  const gone = await formerMemberships(
    db,
    pairs.map((p) => ({ roomId: p.roomId, userId: p.socket.data.session.userId })),
  );
  const goneKeys = new Set(gone.map((g) => `${g.roomId}\u0000${g.userId}`));
  const removed = pairs.filter((p) => goneKeys.has(`${p.roomId}\u0000${p.socket.data.session.userId}`));
  return { revoked, removed };
}

export interface ReconcileDeps {
  db: Database;
  logger: Logger;
  presence: RoomPresence;
  periodMs: number;
}

/** Runs findDiscrepancies every period (never two at once) and acts on them; returns the stop. */
export function startReconciliation(
  io: ParleyServer,
  { db, logger, presence, periodMs }: ReconcileDeps,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    findDiscrepancies(db, io.of('/').sockets.values())
      .then(({ revoked, removed }) => {
        for (const socket of revoked) socket.disconnect(true);
        for (const { socket, roomId } of removed) {
          socketLeaves(io, socket, roomId, presence).catch((err: unknown) =>
            logger.error({ err, socketId: socket.id }, 'removing a former member from a room failed'),
          );
        }
        if (revoked.length + removed.length > 0) {
          logger.info(
            { revoked: revoked.length, removed: removed.length },
            'reconciliation acted on missed session or membership changes',
          );
        }
      })
      .catch((err: unknown) =>
        logger.warn(
          { err: { message: (err as Error).message } },
          'session and membership reconciliation failed',
        ),
      )
      .finally(() => {
        running = false;
      });
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
