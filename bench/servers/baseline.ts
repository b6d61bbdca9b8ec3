import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server, type Socket } from 'socket.io';
import { uuidv7 } from 'uuidv7';

/**
 * The bare Socket.IO baseline: the same socket.io version and the same events as Parley,
 * with a plain broadcast and nothing else: no auth, validation, rate limit or persistence.
 * It sends the same message shape (the contract's, with a uuidv7 id), so both servers put the
 * same bytes on the wire, and the read receipts the contract makes a send cost (below). With
 * BASELINE_REDIS_URL it uses the Redis adapter, as Parley does when it has Redis.
 */

const port = Number(process.env.PORT ?? 0);
const redisUrl = process.env.BASELINE_REDIS_URL;

const httpServer = createServer();
const io = new Server(httpServer, { serveClient: false, maxHttpBufferSize: 64 * 1024 });

let pub: Redis | undefined;
let sub: Redis | undefined;
if (redisUrl) {
  pub = new Redis(redisUrl);
  sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub, { key: `bench-baseline-${process.pid}` }));
}

type Ack = (response: unknown) => void;
const seqs = new Map<string, number>();

/**
 * Sending moves the sender's read marker (the contract). Parley coalesces markers and
 * announces each moved one once per flush (READ_MARKER_FLUSH_MS, 1 s): the member's own
 * `read_state` and a `read` receipt to the room. The baseline does the same deliveries,
 * from memory (one tab per user in the bench: the sender's socket is all its sockets).
 */
const READ_FLUSH_MS = 1_000;
const movedMarkers = new Map<string, { roomId: string; userId: string; seq: number; socket: Socket }>();
setInterval(() => {
  for (const { roomId, userId, seq, socket } of movedMarkers.values()) {
    socket.emit('read_state', { roomId, lastReadSeq: seq, unread: 0 });
    io.to(roomId).emit('read', { roomId, userId, lastReadSeq: seq });
  }
  movedMarkers.clear();
}, READ_FLUSH_MS).unref();

/**
 * A join answers what Parley's does, from memory: the room, its present users (here: the
 * distinct users of the room's sockets) and the newest page of 50 messages in the contract's
 * shape, with the text the bench seeds its histories with, so that the reference pays for
 * the same bytes on the wire, encoded and decoded, and only the reads are left out (the raw
 * keyset page the bench adds to it).
 */
const JOIN_PAGE = 50;
const STARTED = new Date().toISOString();
const pages = new Map<string, object[]>();
function joinPage(roomId: string): object[] {
  let page = pages.get(roomId);
  if (!page) {
    page = Array.from({ length: JOIN_PAGE }, (_, i) => {
      const seq = 151 + i;
      return {
        id: `${roomId}:${seq}`, // as the bench seeds them (bench/lib/db.ts)
        roomId,
        seq,
        userId: 'bu1',
        name: 'bench_1',
        text: `history message ${seq}: the quick brown fox jumps over the lazy dog`,
        ts: Date.now(),
        clientMsgId: null,
        attachment: null,
        version: seq,
        editedAt: null,
        deletedAt: null,
        replyTo: null,
        reactions: [],
      };
    });
    pages.set(roomId, page);
  }
  return page;
}
function presentUsers(roomId: string): { id: string; name: string }[] {
  const users = new Map<string, string>();
  for (const id of io.of('/').adapter.rooms.get(roomId) ?? []) {
    const data = io.of('/').sockets.get(id)?.data as { userId: string; name: string } | undefined;
    if (data) users.set(data.userId, data.name);
  }
  return [...users].map(([id, name]) => ({ id, name }));
}

io.on('connection', (socket) => {
  const auth = socket.handshake.auth as { userId?: string; name?: string };
  const userId = String(auth.userId ?? socket.id);
  const name = String(auth.name ?? userId);

  socket.data = { userId, name };
  socket.on('join', (payload: { roomId: string }, ack?: Ack) => {
    void socket.join(payload.roomId);
    ack?.({
      ok: true,
      room: {
        id: payload.roomId,
        name: payload.roomId,
        createdAt: STARTED,
        lastSeq: 200,
        kind: 'group',
        ownerId: null,
        lastVersion: 200,
      },
      users: presentUsers(payload.roomId),
      messages: joinPage(payload.roomId),
      hasMore: true,
      changes: [],
      hasMoreChanges: false,
    });
  });
  socket.on('leave', (payload: { roomId: string }, ack?: Ack) => {
    void socket.leave(payload.roomId);
    ack?.({ ok: true });
  });
  socket.on('message', (payload: { roomId: string; text: string; clientMsgId?: string }, ack?: Ack) => {
    const seq = (seqs.get(payload.roomId) ?? 0) + 1;
    seqs.set(payload.roomId, seq);
    const message = {
      id: uuidv7(),
      roomId: payload.roomId,
      seq,
      userId,
      name,
      text: payload.text,
      ts: Date.now(),
      clientMsgId: payload.clientMsgId ?? null,
      attachment: null,
      version: seq, // a room of sends only: every change is a send
      editedAt: null,
      deletedAt: null,
      replyTo: null,
      reactions: [],
    };
    io.to(payload.roomId).emit('message', message);
    movedMarkers.set(`${payload.roomId}\u0000${userId}`, { roomId: payload.roomId, userId, seq, socket });
    ack?.({ ok: true, message });
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  const address = httpServer.address() as { port: number };
  process.send?.({ ready: true, port: address.port });
});

const shutdown = () => {
  io.close(() => {
    // Socket.IO first, then its Redis clients: the adapter unsubscribes on close.
    void Promise.all([pub?.quit(), sub?.quit()]).finally(() => process.exit(0));
  });
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
