import type { Logger } from '../core/logger.ts';
import { socketsConnected } from '../core/metrics.ts';
import { guardEvents, type BudgetOptions } from './event-budget.ts';
import { Expiries } from './expiries.ts';
import { createHandlers, socketGone, type HandlerDeps } from './handlers.ts';
import type { OnlinePresence } from './online-presence.ts';
import { userChannel, type ParleyServer, type ParleySocket } from './types.ts';

export interface ConnectionDeps extends Omit<HandlerDeps, 'io'> {
  logger: Logger;
  budget: BudgetOptions;
  now: () => number;
  online: OnlinePresence;
}

export interface Connections {
  /** The clean-ups in flight (shutdown waits for them so presence is left tidy). */
  cleanups: Set<Promise<void>>;
  /** Stops the expiry timer. */
  stop(): void;
}

/**
 * Serves each admitted socket: its user channel, an expiry at its token's, the event budget,
 * the client events, and the clean-up when it goes. What a socket costs here is its entries
 * in shared structures: the handlers, the disconnect listener and the expiry timer are one
 * per instance, not one (with its closures) per socket.
 */
export function serveConnections(io: ParleyServer, deps: ConnectionDeps): Connections {
  const { logger, budget, now, presence, online } = deps;
  const cleanups = new Set<Promise<void>>();
  const expiries = new Expiries(now);
  const attachHandlers = createHandlers({ ...deps, io });
  /** Arrivals not yet recorded in the online store: a departure waits for its arrival. */
  const arrivals = new Map<string, Promise<void>>();

  const gone = (socket: ParleySocket): void => {
    socketsConnected.dec();
    expiries.remove(socket, socket.data.session.exp);
    const arrival = arrivals.get(socket.id);
    const cleanup = socketGone(io, socket, presence)
      // After its arrival was recorded, or a quick disconnect would leave the user online.
      .then(() => arrival)
      .then(() => online.disconnected(socket))
      .catch((err: unknown) => logger.error({ err, socketId: socket.id }, 'cleanup after disconnect failed'))
      .finally(() => cleanups.delete(cleanup));
    cleanups.add(cleanup);
  };
  function onDisconnect(this: ParleySocket): void {
    gone(this);
  }

  io.on('connection', (socket: ParleySocket) => {
    const { session } = socket.data;
    socketsConnected.inc();
    // The user channel only: a revoked session's sockets are found among their user's
    // (bus-reactions.ts), so no channel (a set and two names) per session.
    void socket.join(userChannel(session.userId));
    const arrival = online.connected(socket).finally(() => arrivals.delete(socket.id));
    arrivals.set(socket.id, arrival);
    // A socket lives no longer than the token that opened it.
    expiries.add(socket, session.exp);
    guardEvents(socket, budget, logger);
    attachHandlers(socket);
    socket.on('disconnect', onDisconnect);
  });
  return { cleanups, stop: () => expiries.stop() };
}
