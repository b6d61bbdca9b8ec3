import type { BusEvent, EventBus } from '../core/redis/bus.ts';
import type { Logger } from '../core/logger.ts';
import { socketLeaves } from './handlers.ts';
import { localSockets } from './local-sockets.ts';
import type { RoomPresence } from './room-presence.ts';
import { sessionChannel, userChannel, type ParleyServer } from './types.ts';

/**
 * Acts on REST's bus events: a revoked session's sockets are disconnected, a leaver's sockets
 * leave the room. Each instance hears the bus itself, so it acts on its own sockets only.
 * Returns the unsubscribe.
 */
export function reactToBus(
  io: ParleyServer,
  bus: EventBus,
  presence: RoomPresence,
  logger: Logger,
): () => void {
  return bus.subscribe((event: BusEvent) => {
    if (event.type === 'session.revoked') {
      for (const socket of localSockets(io, sessionChannel(event.jti))) socket.disconnect(true);
    } else if (event.type === 'member.left') {
      for (const socket of localSockets(io, userChannel(event.userId))) {
        socketLeaves(io, socket, event.roomId, presence).catch((err: unknown) =>
          logger.error({ err, socketId: socket.id }, 'removing a leaver from a room failed'),
        );
      }
    }
  });
}
