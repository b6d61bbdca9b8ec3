import { io } from 'socket.io-client';

/**
 * A hostile client in a process of its own (so its CPU is not the observer's): one socket
 * sending `batch` events of one kind every `everyMs` for `durationMs`, each with an ack.
 * Prints one JSON line: what it sent, the acks by result, and whether it was disconnected.
 *
 *   node --import tsx flooder.ts <url> <token> <roomId> <kind> <durationMs> [batch] [everyMs]
 */
const [url, token, roomId, kind, durationArg, batchArg, everyArg] = process.argv.slice(2);
const durationMs = Number(durationArg);
const batch = Number(batchArg ?? 100);
const everyMs = Number(everyArg ?? 10);

const payloads: Record<string, () => [string, unknown]> = {
  typing: () => ['typing', { roomId, typing: true }],
  join: () => ['join', { roomId }],
  leave: () => ['leave', { roomId }],
  message: () => ['message', { roomId, text: 'flood' }],
  unknown: () => ['no-such-event', { roomId }],
};

const socket = io(url!, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
const acks = new Map<string, number>();
let sent = 0;
let disconnect: string | undefined;

socket.on('connect', () => {
  const started = Date.now();
  // Joined first, so typing and message floods pass the cheap checks and reach the costly ones.
  socket.emit('join', { roomId }, () => {
    process.stdout.write(`${JSON.stringify({ started: true })}\n`);
    const timer = setInterval(() => {
      if (Date.now() - started > durationMs || !socket.connected) {
        clearInterval(timer);
        setTimeout(finish, 500);
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
});
socket.on('connect_error', (err) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
});

function finish() {
  process.stdout.write(
    `${JSON.stringify({ kind, sent, acks: Object.fromEntries(acks), disconnect: disconnect ?? null })}\n`,
  );
  socket.close();
  process.exit(0);
}
