import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

/**
 * The bare Socket.IO baseline: the same socket.io version and the same events as Parley,
 * with a plain broadcast and nothing else: no auth, validation, rate limit or persistence.
 * It sends the same message shape, so both servers put the same bytes on the wire. With
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
let nextId = 0;

io.on('connection', (socket) => {
  const auth = socket.handshake.auth as { userId?: string; name?: string };
  const userId = String(auth.userId ?? socket.id);
  const name = String(auth.name ?? userId);

  socket.on('join', (payload: { roomId: string }, ack?: Ack) => {
    void socket.join(payload.roomId);
    ack?.({ ok: true, room: { id: payload.roomId }, users: [], messages: [], hasMore: false });
  });
  socket.on('leave', (payload: { roomId: string }, ack?: Ack) => {
    void socket.leave(payload.roomId);
    ack?.({ ok: true });
  });
  socket.on('message', (payload: { roomId: string; text: string; clientMsgId?: string }, ack?: Ack) => {
    const seq = (seqs.get(payload.roomId) ?? 0) + 1;
    seqs.set(payload.roomId, seq);
    const message = {
      id: `b${++nextId}`,
      roomId: payload.roomId,
      seq,
      userId,
      name,
      text: payload.text,
      ts: Date.now(),
      clientMsgId: payload.clientMsgId ?? null,
      attachment: null,
    };
    io.to(payload.roomId).emit('message', message);
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
