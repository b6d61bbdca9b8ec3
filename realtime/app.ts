import type { Server as HttpServer } from 'node:http';
import type { Redis } from 'ioredis';
import { Server } from 'socket.io';
import type { EventBus } from '../core/redis/bus.ts';
import type { Config } from '../core/config.ts';
import type { CounterStore } from '../core/redis/counters.ts';
import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import type { Presence } from '../core/redis/presence.ts';
import { closeRedis } from '../core/redis/connection.ts';
import type { ObjectStore } from '../core/storage/index.ts';
import { useRedisAdapter, type ConnectRedis } from './adapter.ts';
import { broadcastingWriter, type BroadcastingWriter, type WriterDeps } from './broadcasting-writer.ts';
import { reactToBus } from './bus-reactions.ts';
import { serveConnections } from './connection.ts';
import { budgetOptions } from './event-budget.ts';
import { useHandshake } from './handshake-middleware.ts';
import { MarkerAnnouncer, ReadMarkers } from './read-markers.ts';
import { startReconciliation } from './reconcile.ts';
import { OnlinePresence } from './online-presence.ts';
import { RoomMembers } from './room-members.ts';
import { RoomPresence } from './room-presence.ts';
import type { ParleyServer } from './types.ts';

export interface RealtimeDeps {
  config: Config;
  logger: Logger;
  db: Database;
  counters: CounterStore;
  bus: EventBus;
  storage: Pick<ObjectStore, 'signGetUrl' | 'delete'>;
  presence: Presence;
  /** Absent: the in-memory adapter, which is right for a single instance only. */
  connectRedis?: ConnectRedis;
  now?: () => number;
  /** Builds the message writer (default: broadcastingWriter). */
  createWriter?: (io: ParleyServer, deps: WriterDeps) => BroadcastingWriter;
  /** Builds the sockets' view of presence (default: RoomPresence on the shared store). */
  createPresence?: (io: ParleyServer) => RoomPresence;
}

export interface Realtime {
  io: ParleyServer;
  /**
   * Refuses new sends, waits for accepted ones, disconnects every client, writes the pending
   * read markers, closes Socket.IO, then its Redis.
   */
  close(): Promise<void>;
}

const MAX_SOCKET_MESSAGE_BYTES = 64 * 1024;

/** The realtime tier on an HTTP server (its own, or the one the REST API shares). */
export function createRealtime(httpServer: HttpServer, deps: RealtimeDeps): Realtime {
  const { config, logger, db } = deps;
  const now = deps.now ?? Date.now;
  const io: ParleyServer = new Server(httpServer, {
    maxHttpBufferSize: MAX_SOCKET_MESSAGE_BYTES,
    // No allowRequest Origin check: it cannot tell a cookie from a token (auth.token arrives
    // after it), so the handshake middleware applies it to cookie handshakes only.
    cors: { origin: config.corsOrigins, credentials: true },
    // A dead peer (or a frozen laptop) is disconnected, and leaves presence, within ~40 s.
    pingInterval: 20_000,
    pingTimeout: 20_000,
  });
  const adapterClients: Redis[] =
    deps.connectRedis && config.redis.url ? useRedisAdapter(io, config, deps.connectRedis) : [];

  const presence =
    deps.createPresence?.(io) ??
    new RoomPresence(io, deps.presence, logger, now, config.presence.heartbeatMs);
  const online = new OnlinePresence(io, deps.presence.online, db, logger, now, config.presence.heartbeatMs);
  const members = new RoomMembers(db);
  const announcer = new MarkerAnnouncer(io, config.readMarkerFlushMs);
  const markers = new ReadMarkers({
    db,
    logger,
    onMoved: announcer.announce,
    intervalMs: config.readMarkerFlushMs,
  });
  const sign = (a: { key: string; mime: string; filename: string }) => deps.storage.signGetUrl(a);
  const writing = (deps.createWriter ?? broadcastingWriter)(io, {
    db,
    logger,
    storage: deps.storage,
    sign,
    now,
    maxConcurrent: Math.max(1, config.database.poolMax - 2),
    members,
    clustered: adapterClients.length > 0,
    // Sending moves the sender's marker: in memory, written with the next flush (no UPDATE per message).
    onSent: (roomId, messages) => {
      for (const m of messages) markers.note(roomId, m.userId, m.seq);
    },
  });
  let accepting = true;

  const cooldown = useHandshake(io, { config, db, logger, counters: deps.counters });
  const connections = serveConnections(io, {
    ...deps,
    writer: writing.writer,
    presence,
    online,
    sign,
    markers,
    members,
    now,
    budget: budgetOptions(config.limits, cooldown.impose),
    accepting: () => accepting,
  });
  const unsubscribe = reactToBus(io, deps.bus, presence, members, logger);
  presence.start();
  online.start();
  markers.start();
  announcer.start();
  const stopReconciling = startReconciliation(io, {
    db,
    logger,
    presence,
    periodMs: config.presence.heartbeatMs,
  });

  let closing: Promise<void> | undefined;
  return {
    io,
    close() {
      closing ??= (async () => {
        accepting = false;
        await writing.idle();
        unsubscribe();
        stopReconciling();
        online.stop();
        io.local.disconnectSockets(true);
        connections.stop();
        await Promise.all([...connections.cleanups]);
        // The departures of this instance's sockets, announced while Socket.IO is still open.
        await presence.flushPending(2_000);
        presence.stop();
        // Offline announcements of the users whose last socket was here, if the database answers soon.
        await online.idle(2_000);
        online.abandon();
        // Every accepted send and read is in memory now: written before the database closes
        // (the caller closes it after this), announced while Socket.IO is still open.
        await markers.close();
        announcer.stop();
        await io.close();
        await Promise.all(adapterClients.map((c) => closeRedis(c)));
      })();
      return closing;
    },
  };
}
