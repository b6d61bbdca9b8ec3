import { io, type Socket } from 'socket.io-client';
import { serveRpc } from '../lib/rpc.ts';

/**
 * A load generator process: holds many socket.io-client sockets and, on the harness's
 * command, joins rooms, sends (at a fixed rate or closed-loop), and counts what arrives.
 * Messages carry their send time (`t<epoch ms with µs> …` in the text), so the receive
 * latency is measured across processes on the same machine's clock.
 */

export interface ClientSpec {
  token: string;
  userId: string;
  name: string;
}
export interface ConnectArgs {
  group: string;
  url: string;
  clients: ClientSpec[];
  concurrency: number;
}
export interface JoinArgs {
  group: string;
  joins: { index: number; roomId: string; sinceSeq?: number }[];
  concurrency: number;
  /** How long one join may wait for its ack (default 30 s). */
  timeoutMs?: number;
}
export interface RunArgs {
  group: string;
  senders: { index: number; roomId: string }[];
  mode: 'rate' | 'closed';
  /** rate mode: messages a second from this process, spread over its senders. */
  ratePerSecond?: number;
  /**
   * rate mode: where in its send interval this process starts, as a fraction of it (0 ≤ phase
   * < 1). Loaders of one window are offset evenly, so that together they send at the
   * window's rate, one message every 1/rate seconds, rather than all at once every
   * loaders/rate seconds.
   */
  phase?: number;
  /** closed mode: messages in flight per sender. */
  window?: number;
  durationMs: number;
  /** How long to wait for outstanding acks after the sending stops. */
  drainMs: number;
  textChars: number;
  idPrefix: string;
  returnIds?: boolean;
}
export interface RunResult {
  sent: number;
  acked: number;
  unacked: number;
  errors: Record<string, number>;
  ackedIds: string[];
  ackLatencyMs: number[];
  sendingMs: number;
}
export interface Counts {
  received: number;
  latencyMs: number[];
}

const now = () => performance.timeOrigin + performance.now();
const MAX_SAMPLES = 400_000;

const groups = new Map<string, Socket[]>();
const socketOf = (group: string, index: number): Socket => {
  const s = groups.get(group)?.[index];
  if (!s) throw new Error(`no socket ${group}[${index}]`);
  return s;
};
let counting = false;
let received = 0;
let latencies: number[] = [];
/** Groups whose sockets answer every message they receive with a `read` of its seq. */
const readingGroups = new Set<string>();
const reads = { sent: 0, ok: 0, errors: {} as Record<string, number>, receipts: 0 };

function readOnReceipt(group: string, socket: Socket, m: { roomId?: unknown; seq?: unknown }): void {
  if (!readingGroups.has(group) || typeof m?.roomId !== 'string' || typeof m.seq !== 'number') return;
  reads.sent++;
  socket.emit('read', { roomId: m.roomId, seq: m.seq }, (ack: { ok: boolean; error?: { code: string } }) => {
    if (ack?.ok) reads.ok++;
    else {
      const code = ack?.error?.code ?? 'unknown';
      reads.errors[code] = (reads.errors[code] ?? 0) + 1;
    }
  });
}

function onMessage(m: { text?: unknown }): void {
  if (!counting) return;
  received++;
  if (typeof m?.text === 'string' && m.text.charCodeAt(0) === 116 /* t */ && latencies.length < MAX_SAMPLES) {
    const sentAt = Number.parseFloat(m.text.slice(1, m.text.indexOf(' ')));
    if (Number.isFinite(sentAt)) latencies.push(now() - sentAt);
  }
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

function connectOne(url: string, c: ClientSpec): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      auth: { token: c.token, userId: c.userId, name: c.name },
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

async function connect(args: ConnectArgs) {
  const started = now();
  const errors: Record<string, number> = {};
  let failed = 0;
  // Socket i is client i's: the harness knows which user (and so which rooms) each index is.
  const sockets: Socket[] = new Array(args.clients.length);
  groups.set(args.group, sockets);
  await pool([...args.clients.keys()], args.concurrency, async (i) => {
    try {
      const s = await connectOne(args.url, args.clients[i]!);
      s.on('message', onMessage);
      s.on('message', (m: { roomId?: unknown; seq?: unknown }) => readOnReceipt(args.group, s, m));
      s.on('read', () => {
        if (readingGroups.has(args.group)) reads.receipts++;
      });
      sockets[i] = s;
    } catch (err) {
      failed++;
      const key = (err as Error).message;
      errors[key] = (errors[key] ?? 0) + 1;
    }
  });
  return { connected: args.clients.length - failed, failed, errors, ms: now() - started };
}

async function join(args: JoinArgs) {
  const latencyMs: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let messages = 0;
  /** The size of one ack as JSON (the first): both servers are to answer the same bytes. */
  let ackChars = 0;
  await pool(args.joins, args.concurrency, async (j) => {
    const socket = socketOf(args.group, j.index);
    const t0 = now();
    const payload =
      j.sinceSeq === undefined ? { roomId: j.roomId } : { roomId: j.roomId, sinceSeq: j.sinceSeq };
    const ack = (await socket.timeout(args.timeoutMs ?? 30_000).emitWithAck('join', payload)) as {
      ok: boolean;
      messages?: unknown[];
      error?: { code: string };
    };
    latencyMs.push(now() - t0);
    if (ack.ok) {
      ok++;
      messages += ack.messages?.length ?? 0;
      if (ackChars === 0) ackChars = JSON.stringify(ack).length;
    } else {
      errors[ack.error?.code ?? 'unknown'] = (errors[ack.error?.code ?? 'unknown'] ?? 0) + 1;
    }
  });
  return { ok, failed: args.joins.length - ok, errors, latencyMs, messagesReturned: messages, ackChars };
}

function makeText(chars: number): (sentAt: number) => string {
  return (sentAt) => {
    const head = `t${sentAt.toFixed(3)} `;
    return head.length >= chars ? head.trim() : head + 'x'.repeat(chars - head.length);
  };
}

async function run(args: RunArgs): Promise<RunResult> {
  const text = makeText(args.textChars);
  const result: RunResult = {
    sent: 0,
    acked: 0,
    unacked: 0,
    errors: {},
    ackedIds: [],
    ackLatencyMs: [],
    sendingMs: 0,
  };
  let inFlight = 0;
  let sending = true;
  let settle: (() => void) | undefined;
  const counters = args.senders.map(() => 0);

  const send = (k: number) => {
    const sender = args.senders[k]!;
    const socket = socketOf(args.group, sender.index);
    const clientMsgId = `${args.idPrefix}-${process.pid}-${k}-${counters[k]!++}`;
    const t0 = now();
    result.sent++;
    inFlight++;
    socket.emit(
      'message',
      { roomId: sender.roomId, text: text(t0), clientMsgId },
      (ack: { ok: boolean; error?: { code: string } }) => {
        inFlight--;
        if (ack?.ok) {
          result.acked++;
          if (args.returnIds) result.ackedIds.push(clientMsgId);
          if (result.ackLatencyMs.length < MAX_SAMPLES) result.ackLatencyMs.push(now() - t0);
        } else {
          const code = ack?.error?.code ?? 'unknown';
          result.errors[code] = (result.errors[code] ?? 0) + 1;
        }
        if (sending && args.mode === 'closed') send(k);
        else if (!sending && inFlight === 0) settle?.();
      },
    );
  };

  const started = now();
  let ticker: ReturnType<typeof setInterval> | undefined;
  if (args.mode === 'closed') {
    for (let k = 0; k < args.senders.length; k++) for (let w = 0; w < (args.window ?? 1); w++) send(k);
  } else {
    const rate = args.ratePerSecond ?? 10;
    const phase = args.phase ?? 0;
    let next = 0;
    ticker = setInterval(() => {
      const due = Math.floor(((now() - started) * rate) / 1000 + phase);
      while (result.sent < due) send(next++ % args.senders.length);
    }, 2);
  }
  await new Promise((r) => setTimeout(r, args.durationMs));
  sending = false;
  if (ticker) clearInterval(ticker);
  result.sendingMs = now() - started;
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      settle = resolve;
      setTimeout(resolve, args.drainMs);
    });
  }
  result.unacked = inFlight;
  return result;
}

serveRpc({
  connect: (args: ConnectArgs) => connect(args),
  join: (args: JoinArgs) => join(args),
  run: (args: RunArgs) => run(args),
  startCounting: () => {
    received = 0;
    latencies = [];
    counting = true;
    return null;
  },
  /** Counts so far, without resetting (the harness polls until deliveries settle). */
  peek: () => ({ received }),
  stopCounting: (): Counts => {
    counting = false;
    return { received, latencyMs: latencies };
  },
  /** Turns read-on-receipt on or off for a group; answers the counts since the last call. */
  reading: ({ group, on }: { group: string; on: boolean }) => {
    if (on) readingGroups.add(group);
    else readingGroups.delete(group);
    const counts = { ...reads, errors: { ...reads.errors } };
    Object.assign(reads, { sent: 0, ok: 0, errors: {}, receipts: 0 });
    return counts;
  },
  disconnect: ({ group }: { group: string }) => {
    for (const s of groups.get(group) ?? []) s?.close();
    groups.delete(group);
    return null;
  },
  stats: () => ({ cpu: process.cpuUsage(), mem: process.memoryUsage() }),
});
