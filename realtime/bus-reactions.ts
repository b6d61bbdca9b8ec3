import type { BusEvent, EventBus } from '../core/redis/bus.ts';
import type { Logger } from '../core/logger.ts';
import { socketLeaves } from './handlers.ts';
import { localSockets } from './local-sockets.ts';
import type { RoomMembers } from './room-members.ts';
import type { RoomPresence } from './room-presence.ts';
import { userChannel, type ParleyServer } from './types.ts';

/**
 * Acts on the bus's events (REST's, and this tier's own): a revoked session's sockets are
 * disconnected, a leaver's or removed member's sockets leave the room, membership changes keep
 * the member cache true, and the user channels hear `room_added`, `room_removed` and
 * `room_updated`. Every instance hears the bus itself, so each acts on and emits to its own
 * sockets only (`io.local`): one delivery per socket however many instances there are.
 * Returns the unsubscribe.
 */
export function reactToBus(
  io: ParleyServer,
  bus: EventBus,
  presence: RoomPresence,
  members: RoomMembers,
  logger: Logger,
): () => void {
  return bus.subscribe((event: BusEvent) => {
    switch (event.type) {
      case 'session.revoked':
        // The session's sockets are among its user's (no channel per session).
        for (const socket of localSockets(io, userChannel(event.userId)))
          if (socket.data.session.jti === event.jti) socket.disconnect(true);
        break;
      case 'member.left': {
        members.left(event.roomId, event.userId);
        const leaving = localSockets(io, userChannel(event.userId)).map((socket) =>
          socketLeaves(io, socket, event.roomId, presence).catch((err: unknown) =>
            logger.error({ err, socketId: socket.id }, 'removing a leaver from a room failed'),
          ),
        );
        // Out of the room first, then told: nothing of the room reaches a socket after room_removed.
        void Promise.all(leaving).then(() =>
          io.local.to(userChannel(event.userId)).emit('room_removed', { roomId: event.roomId }),
        );
        break;
      }
      case 'member.joined':
        members.joined(event.room.id, event.userId);
        io.local.to(userChannel(event.userId)).emit('room_added', { room: event.room });
        break;
      case 'room.updated':
        if (event.userIds.length > 0)
          io.local.to(event.userIds.map(userChannel)).emit('room_updated', { room: event.room });
        break;
    }
  });
}
