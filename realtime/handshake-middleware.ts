import type { Config } from '../core/config.ts';
import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { authenticateHandshake, connectError, HandshakeRefused, logRefusal } from './handshake.ts';
import { userChannel, type ParleyServer } from './types.ts';

export interface HandshakeDeps {
  config: Pick<Config, 'auth' | 'corsOrigins' | 'limits'>;
  db: Database;
  logger: Logger;
}

/**
 * Admits a socket only with a valid session (and, for cookie handshakes, an allowed Origin),
 * and only while its user holds fewer than `maxSocketsPerUser` sockets on this instance.
 */
export function useHandshake(io: ParleyServer, { config, db, logger }: HandshakeDeps): void {
  const allowedOrigins = new Set(config.corsOrigins);
  io.use((socket, next) => {
    const req = {
      auth: socket.handshake.auth,
      headers: socket.handshake.headers,
      address: socket.handshake.address,
    };
    authenticateHandshake(config.auth, db, allowedOrigins, req).then(
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
        socket.data.joined = new Set();
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
        logRefusal(logger, refusal, req);
        next(connectError(refusal.error));
      },
    );
  });
}
