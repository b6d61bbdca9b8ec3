import type { Config } from '../core/config.ts';
import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { CounterStore } from '../core/redis/counters.ts';
import { ReconnectCooldown } from './handshake-cooldown.ts';
import { authenticateHandshake, connectError, HandshakeRefused, logRefusal } from './handshake.ts';
import { userChannel, type ParleyServer } from './types.ts';

export interface HandshakeDeps {
  config: Pick<Config, 'auth' | 'corsOrigins' | 'limits'>;
  db: Database;
  logger: Logger;
  /** Where reconnect cool-downs are shared between instances. */
  counters: CounterStore;
  now?: () => number;
}

/**
 * Admits a socket only with a valid session (and, for cookie handshakes, an allowed Origin),
 * only while its user holds fewer than `maxSocketsPerUser` sockets on this instance, and not
 * while its user is in a reconnect cool-down (refused `rate_limited` with `retryAfterMs`
 * before the session is looked up). Returns the cool-down, for the event budget to impose.
 */
export function useHandshake(
  io: ParleyServer,
  { config, db, logger, counters, now }: HandshakeDeps,
): ReconnectCooldown {
  const allowedOrigins = new Set(config.corsOrigins);
  const cooldown = new ReconnectCooldown(counters, config.limits.reconnectCooldownMs, logger, now);
  const cooldownMs =
    config.limits.reconnectCooldownMs > 0 ? (userId: string) => cooldown.remainingMs(userId) : undefined;
  io.use((socket, next) => {
    const req = {
      auth: socket.handshake.auth,
      headers: socket.handshake.headers,
      address: socket.handshake.address,
    };
    authenticateHandshake(config.auth, db, allowedOrigins, req, cooldownMs).then(
      ({ session, via }) => {
        const open = io.of('/').adapter.rooms.get(userChannel(session.userId))?.size ?? 0;
        if (open >= config.limits.maxSocketsPerUser) {
          const refusal = new HandshakeRefused(
            'too_many_connections',
            new AppError('rate_limited', 'Too many connections for this user'),
          );
          logRefusal(logger, refusal, req, via);
          return next(connectError(refusal.error));
        }
        socket.data.session = session;
        next();
      },
      (err: unknown) => {
        const refusal =
          err instanceof HandshakeRefused
            ? err
            : new HandshakeRefused(
                'internal',
                new AppError('internal', 'Internal error'),
                (err as Error)?.message,
              );
        // A returning flooder tries many times a second: one line per cool-down, the rest at debug.
        const repeat =
          refusal.reason === 'reconnect_cooldown' &&
          refusal.userId !== undefined &&
          !cooldown.firstRefusal(refusal.userId);
        logRefusal(logger, refusal, req, undefined, repeat);
        next(connectError(refusal.error));
      },
    );
  });
  return cooldown;
}
