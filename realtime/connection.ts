import type { Logger } from '../core/logger.ts';
import { socketsConnected } from '../core/metrics.ts';
import { guardEvents, type BudgetOptions } from './event-budget.ts';
import { registerHandlers, socketGone, type HandlerDeps } from './handlers.ts';
import type { OnlinePresence } from './online-presence.ts';
import { sessionChannel, userChannel, type ParleyServer, type ParleySocket } from './types.ts';

export interface ConnectionDeps extends Omit<HandlerDeps, 'io'> {
  logger: Logger;
  budget: BudgetOptions;
  now: () => number;
  online: OnlinePresence;
}

/**
 * Serves each admitted socket: its user and session channels, an expiry at its token's, the
 * event budget, the client events, and the clean-up when it goes. Returns the clean-ups in
 * flight (shutdown waits for them so presence is left tidy).
 */
export function serveConnections(io: ParleyServer, deps: ConnectionDeps): Set<Promise<void>> {
  const { logger, budget, now, presence, online } = deps;
  const cleanups = new Set<Promise<void>>();
  io.on('connection', (socket: ParleySocket) => {
    const { session } = socket.data;
    socketsConnected.inc();
    void socket.join([userChannel(session.userId), sessionChannel(session.jti)]);
    const arrival = online.connected(socket);
    // A socket lives no longer than the token that opened it.
    const expiry = setTimeout(
      () => socket.disconnect(true),
      Math.min(session.exp * 1000 - now(), 2 ** 31 - 1),
    );
    expiry.unref();
    guardEvents(socket, budget, logger);
    registerHandlers(socket, { ...deps, io });
    socket.on('disconnect', () => {
      socketsConnected.dec();
      clearTimeout(expiry);
      const cleanup = socketGone(io, socket, presence)
        // After its arrival was recorded, or a quick disconnect would leave the user online.
        .then(() => arrival)
        .then(() => online.disconnected(socket))
        .catch((err: unknown) =>
          logger.error({ err, socketId: socket.id }, 'cleanup after disconnect failed'),
        )
        .finally(() => cleanups.delete(cleanup));
      cleanups.add(cleanup);
    });
  });
  return cleanups;
}
