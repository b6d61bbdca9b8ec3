import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis, RedisOptions } from 'ioredis';
import { Server } from 'socket.io';
import { purgeAttachments } from '../core/attachment-purge.ts';
import type { EventBus, BusEvent } from '../core/bus.ts';
import type { Config } from '../core/config.ts';
import type { CounterStore } from '../core/counters.ts';
import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { socketsConnected } from '../core/metrics.ts';
import type { Presence } from '../core/presence.ts';
import { closeRedis } from '../core/redis.ts';
import type { ObjectStore } from '../core/storage/index.ts';
import { budgetOptions, guardEvents } from './event-budget.ts';
import { leaveRoom, registerHandlers, socketGone } from './handlers.ts';
import { authenticateHandshake, connectError, HandshakeRefused, logRefusal } from './handshake.ts';
import { RoomPresence } from './room-presence.ts';
import { sweep } from './sweep.ts';
import { roomChannel, sessionChannel, userChannel, type ParleyServer, type ParleySocket } from './types.ts';
import { MessageWriter } from './writer.ts';

export interface RealtimeDeps {
  config: Config;
  logger: Logger;
  db: Database;
  counters: CounterStore;
  bus: EventBus;
  storage: Pick<ObjectStore, 'signGetUrl' | 'delete'>;
  presence: Presence;
  /**
   * Opens a Redis connection for the Socket.IO adapter (created and closed by the realtime
   * tier). Absent: the in-memory adapter, which is right for a single instance only.
   */
  connectRedis?: (role: string, options: RedisOptions) => Redis;
  now?: () => number;
}

export interface Realtime {
  io: ParleyServer;
  /** Refuses new sends and resolves once every accepted send is committed and answered. */
  drain(): Promise<void>;
  /** drain(), disconnect every client, close Socket.IO, then its Redis connections. */
  close(): Promise<void>;
}

export const MAX_SOCKET_MESSAGE_BYTES = 64 * 1024;

/** The realtime tier on an HTTP server (its own, or the one the REST API shares). */
export function createRealtime(httpServer: HttpServer, deps: RealtimeDeps): Realtime {
  const { config, logger, db } = deps;
  const now = deps.now ?? Date.now;

  const io: ParleyServer = new Server(httpServer, {
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
    // No allowRequest Origin check: it cannot tell a cookie from a token (auth.token arrives
    // after it), so the handshake middleware below applies it to cookie handshakes only.
    cors: { origin: config.corsOrigins, credentials: true },
    // A dead peer (or a frozen laptop) is disconnected, and leaves presence, within ~40 s.
    pingInterval: 20_000,
    pingTimeout: 20_000,
  });

  let adapterClients: Redis[] = [];
  if (deps.connectRedis && config.redis.url) {
    // Fail fast while Redis is away: broadcasts then reach local sockets only, and clients
    // elsewhere catch up by seq; queued publishes would be delivered late and out of order.
    const pub = deps.connectRedis('adapter-pub', { enableOfflineQueue: false });
    const sub = deps.connectRedis('adapter-sub', { enableOfflineQueue: true, maxRetriesPerRequest: null });
    swallowPublishFailures(pub);
    adapterClients = [pub, sub];
    io.adapter(createAdapter(pub, sub, { key: `${config.redis.keyPrefix}socket.io` }));
  }

  const presence = new RoomPresence(io, deps.presence, logger, now, config.presence.heartbeatMs);
  const sign = (a: { key: string; mime: string; filename: string }) => deps.storage.signGetUrl(a);
  const purges = new Set<Promise<void>>();
  const writer = new MessageWriter({
    db,
    logger,
    sign,
    now,
    maxConcurrent: Math.max(1, config.database.poolMax - 2),
    onCommitted: (roomId, messages) => {
      for (const m of messages) io.to(roomChannel(roomId)).emit('message', m);
    },
    onUpdated: (roomId, messages) => {
      for (const m of messages) io.to(roomChannel(roomId)).emit('message_updated', m);
    },
    // Deleted messages' attachment objects go after the commit, never before the ack; a
    // failure is left to the upload sweep. Shutdown waits for the ones in flight.
    onDiscarded: (attachments) => {
      const purge = purgeAttachments({ db, storage: deps.storage, logger }, attachments)
        .then(() => undefined)
        .finally(() => purges.delete(purge));
      purges.add(purge);
    },
  });
  let accepting = true;
  const budget = budgetOptions(config.limits);
  // Disconnect clean-ups in flight: shutdown waits for them so presence is left tidy.
  const cleanups = new Set<Promise<void>>();

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
        socket.data.typing = new Set();
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

  io.on('connection', (socket: ParleySocket) => {
    const { session } = socket.data;
    socketsConnected.inc();
    void socket.join([userChannel(session.userId), sessionChannel(session.jti)]);
    // A socket lives no longer than the token that opened it.
    const expiry = setTimeout(
      () => socket.disconnect(true),
      Math.min(session.exp * 1000 - now(), 2 ** 31 - 1),
    );
    expiry.unref();
    guardEvents(socket, budget, logger);
    registerHandlers(socket, {
      io,
      config,
      logger,
      db,
      counters: deps.counters,
      writer,
      presence,
      sign,
      accepting: () => accepting,
    });
    socket.on('disconnect', () => {
      socketsConnected.dec();
      clearTimeout(expiry);
      const cleanup = socketGone(io, socket, presence)
        .catch((err: unknown) =>
          logger.error({ err, socketId: socket.id }, 'cleanup after disconnect failed'),
        )
        .finally(() => cleanups.delete(cleanup));
      cleanups.add(cleanup);
    });
  });

  // Each instance hears the bus itself, so it acts on its own sockets only.
  const localSockets = (channel: string): ParleySocket[] => {
    const nsp = io.of('/');
    const ids = nsp.adapter.rooms.get(channel) ?? new Set<string>();
    return [...ids].map((id) => nsp.sockets.get(id)).filter((s): s is ParleySocket => s !== undefined);
  };
  const onBusEvent = (event: BusEvent) => {
    if (event.type === 'session.revoked') {
      for (const socket of localSockets(sessionChannel(event.jti))) socket.disconnect(true);
    } else if (event.type === 'member.left') {
      for (const socket of localSockets(userChannel(event.userId))) {
        leaveRoom(io, socket, event.roomId, presence).catch((err: unknown) =>
          logger.error({ err, socketId: socket.id }, 'removing a leaver from a room failed'),
        );
      }
    }
  };
  const unsubscribe = deps.bus.subscribe(onBusEvent);
  presence.start();

  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep(db, io.of('/').sockets.values())
      .then(({ revoked, removed }) => {
        for (const socket of revoked) socket.disconnect(true);
        for (const { socket, roomId } of removed) {
          leaveRoom(io, socket, roomId, presence).catch((err: unknown) =>
            logger.error({ err, socketId: socket.id }, 'removing a former member from a room failed'),
          );
        }
        if (revoked.length + removed.length > 0) {
          logger.info(
            { revoked: revoked.length, removed: removed.length },
            'sweep acted on missed session or membership changes',
          );
        }
      })
      .catch((err: unknown) =>
        logger.warn({ err: { message: (err as Error).message } }, 'session and membership sweep failed'),
      )
      .finally(() => {
        sweeping = false;
      });
  }, config.presence.heartbeatMs);
  sweeper.unref();

  let closing: Promise<void> | undefined;
  const drain = async () => {
    accepting = false;
    await writer.idle();
    await Promise.all([...purges]);
  };

  return {
    io,
    drain,
    close() {
      closing ??= (async () => {
        await drain();
        unsubscribe();
        clearInterval(sweeper);
        presence.stop();
        io.local.disconnectSockets(true);
        await Promise.all([...cleanups]);
        await io.close();
        await Promise.all(adapterClients.map((c) => closeRedis(c)));
      })();
      return closing;
    },
  };
}

/**
 * The Redis adapter publishes without handling a rejected publish; with Redis away that
 * would be an unhandled rejection per broadcast. Local delivery is unaffected either way.
 */
function swallowPublishFailures(client: Redis): void {
  const publish = client.publish.bind(client) as (...args: unknown[]) => Promise<number>;
  (client as unknown as { publish: (...args: unknown[]) => Promise<number> }).publish = (
    ...args: unknown[]
  ) => {
    const result = publish(...args);
    result.catch(() => undefined);
    return result;
  };
}
