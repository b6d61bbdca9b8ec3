import { io, type Socket } from 'socket.io-client';

/**
 * A hostile client in a process of its own (so its CPU is not the observer's): one socket
 * sending `batch` events of one kind every `everyMs` for `durationMs`, each with an ack.
 * With `reconnect`, a socket the server cuts is replaced at once by a new one, which floods
 * again, until the duration is over (an attacker who comes back, not one who gives up).
 * A refused handshake (a reconnect cool-down, too many sockets) is retried 50 ms later,
 * whatever `retryAfterMs` says. Prints one JSON line: what it sent, the acks by result, the
 * first disconnect's reason, how many connections the server cut, and the handshakes it
 * refused (by code, with the largest `retryAfterMs` seen).
 *
 *   node --import tsx flooder.ts <url> <token> <roomId> <kind> <durationMs> [batch] [everyMs] [reconnect]
 */
const [url, token, roomId, kind, durationArg, batchArg, everyArg, reconnectArg] = process.argv.slice(2);
const durationMs = Number(durationArg);
const batch = Number(batchArg ?? 100);
const everyMs = Number(everyArg ?? 10);
const reconnect = reconnectArg === 'reconnect';

const payloads: Record<string, () => [string, unknown]> = {
  typing: () => ['typing', { roomId, typing: true }],
  join: () => ['join', { roomId }],
  leave: () => ['leave', { roomId }],
  message: () => ['message', { roomId, text: 'flood' }],
  read: () => ['read', { roomId, seq: 1 }],
  unknown: () => ['no-such-event', { roomId }],
};

const acks = new Map<string, number>();
let sent = 0;
let disconnect: string | undefined;
let disconnects = 0;
let connections = 0;
const refusedHandshakes = new Map<string, number>();
let maxRetryAfterMs = 0;
let announced = false;
const started = Date.now();
const over = () => Date.now() - started > durationMs;

function open(): Socket {
  const socket = io(url!, {
    transports: ['websocket'],
    auth: { token },
    reconnection: false,
    forceNew: true,
  });
  connections++;
  socket.on('connect', () => {
    // Joined first, so typing and message floods pass the cheap checks and reach the costly ones.
    socket.emit('join', { roomId }, () => {
      if (!announced) process.stdout.write(`${JSON.stringify({ started: true })}\n`);
      announced = true;
      const timer = setInterval(() => {
        if (over() || !socket.connected) {
          clearInterval(timer);
          if (over() || !reconnect) setTimeout(finish, 500);
          return;
        }
        for (let i = 0; i < batch; i++) {
          const [event, payload] = payloads[kind!]!();
          sent++;
          socket.emit(event, payload, (ack: { ok: boolean; error?: { code: string } }) => {
            const key = ack.ok ? 'ok' : (ack.error?.code ?? 'error');
            acks.set(key, (acks.get(key) ?? 0) + 1);
          });
        }
      }, everyMs);
    });
  });
  socket.on('disconnect', (reason) => {
    disconnect ??= reason;
    if (reason === 'io client disconnect') return;
    disconnects++;
    if (reconnect && !over()) open();
  });
  socket.on('connect_error', (err: Error & { data?: { retryAfterMs?: unknown } }) => {
    // Refused while coming back (a cool-down, too many sockets): try again shortly.
    if (reconnect && connections > 1) {
      refusedHandshakes.set(err.message, (refusedHandshakes.get(err.message) ?? 0) + 1);
      const retry = err.data?.retryAfterMs;
      if (typeof retry === 'number') maxRetryAfterMs = Math.max(maxRetryAfterMs, retry);
      if (over()) return finish();
      setTimeout(open, 50);
      return;
    }
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1);
  });
  current = socket;
  return socket;
}

let current: Socket | undefined;
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  process.stdout.write(
    `${JSON.stringify({
      kind,
      sent,
      acks: Object.fromEntries(acks),
      disconnect: disconnect ?? null,
      disconnects,
      connections,
      refusedHandshakes: Object.fromEntries(refusedHandshakes),
      maxRetryAfterMs,
    })}\n`,
  );
  current?.close();
  process.exit(0);
}

open();
if (reconnect) setTimeout(finish, durationMs + 1_000);
