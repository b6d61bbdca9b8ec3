import type { Config, RateRule } from '../core/config.ts';
import { AppError, rateLimited } from '../core/errors.ts';
import type { ClientEventName } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import { rateLimitRefusals, socketBudgetDisconnects, socketEvents } from '../core/metrics.ts';
import type { ParleySocket } from './types.ts';

/**
 * Every event a connection sends spends from its budget, in memory, before anything else
 * happens to it (no database, no Redis): a refused event costs a map lookup and an ack. Each
 * event kind has its own windows (`message`, `typing`, `join`, `leave`, `react`, `read`, and one
 * shared budget for names the server does not know). A connection that keeps sending far over
 * its budget is closed.
 */

/** Refusals are counted over this window for the disconnect decision and log sampling. */
const REFUSAL_WINDOW_MS = 10_000;
/**
 * After this many refusals in a row, the connection's reading is paused (from the end of
 * that turn of the event loop) until its budget refills (at most a second): a flood then
 * waits in the kernel's buffers and the flooder's TCP window instead of costing this process
 * a parse and an ack per event. Nothing is dropped on a live connection: the held events are
 * read, and answered, when reading resumes (a connection cut for its flood is not resumed:
 * what it queued is read and dropped, discardInput). (What was already read when the pause starts, up to one 64 KiB read,
 * ~700 small events, is still answered, REFUSALS_PER_TURN per turn of the event loop:
 * docs/reliability.md §9.)
 */
const PAUSE_AFTER_REFUSALS = 20;
const MAX_PAUSE_MS = 1_000;
/**
 * A read's refusals are answered in slices of this many, each in a turn of the event loop
 * of its own, so that one read of a flood (~700 events) does not hold everyone else's I/O for
 * its whole length. Only a connection being refused is sliced: a client within its budget
 * has its reads handed over whole, as ever.
 */
const REFUSALS_PER_TURN = 64;

export interface BudgetOptions {
  /** Windows per known event; an event without rules of its own spends from `unknown`. */
  rules: Record<string, RateRule[]>;
  /** Events that spend from another event's windows (`edit` and `delete` from `message`). */
  sharesWith?: Record<string, string>;
  unknown: RateRule[];
  /** Refusals within 10 s that make the connection be closed; 0: never. */
  disconnectAfterRefusals: number;
  /** Told the user of each connection closed for its flood (the reconnect cool-down). */
  onDisconnect?: (userId: string) => void;
  now?: () => number;
}

export type Spend =
  | { allowed: true }
  | {
      allowed: false;
      retryAfterMs: number;
      /** Far over budget: close the connection. */ overwhelmed: boolean;
    };

/** One connection's budget: fixed windows per event kind and rule. */
export class EventBudget {
  /** Created on the first event: most connections stay idle (a map is ~150 bytes each). */
  private windows: Map<string, { count: number; resetAt: number }[]> | undefined = undefined;
  private refusalCount = 0;
  private refusalsResetAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: BudgetOptions) {
    this.now = options.now ?? Date.now;
  }

  spend(event: string): Spend {
    const kind = this.options.sharesWith?.[event] ?? event;
    const own = this.options.rules[kind];
    const rules = own ?? this.options.unknown;
    // Names without rules of their own share one budget, however many names a client invents.
    const key = own ? kind : '';
    const now = this.now();
    const windows = (this.windows ??= new Map());
    let state = windows.get(key);
    if (!state) windows.set(key, (state = rules.map(() => ({ count: 0, resetAt: 0 }))));
    let retryAfterMs = 0;
    rules.forEach((rule, i) => {
      const w = state[i]!;
      if (w.resetAt <= now) {
        w.count = 0;
        w.resetAt = now + rule.windowMs;
      }
      if (w.count >= rule.limit) retryAfterMs = Math.max(retryAfterMs, w.resetAt - now);
    });
    if (retryAfterMs === 0) {
      // Spent only when allowed: a refused event does not push the window further out.
      for (const w of state) w.count += 1;
      return { allowed: true };
    }
    if (this.refusalsResetAt <= now) {
      this.refusalCount = 0;
      this.refusalsResetAt = now + REFUSAL_WINDOW_MS;
    }
    this.refusalCount += 1;
    const limit = this.options.disconnectAfterRefusals;
    return { allowed: false, retryAfterMs, overwhelmed: limit > 0 && this.refusalCount > limit };
  }

  /** Refusals in the current window (for logs). */
  get refusedRecently(): number {
    return this.refusalsResetAt > this.now() ? this.refusalCount : 0;
  }
}

export const budgetOptions = (
  limits: Config['limits'],
  onDisconnect?: (userId: string) => void,
): BudgetOptions => ({
  rules: {
    message: limits.message,
    typing: limits.typing,
    join: limits.join,
    leave: limits.leave,
    react: limits.react,
    read: limits.read,
  },
  // The contract: edits count toward the `message` limit; deletes do too (docs/api.md).
  sharesWith: { edit: 'message', delete: 'message' },
  unknown: limits.unknownEvent,
  disconnectAfterRefusals: limits.disconnectAfterRefusals,
  onDisconnect,
});

type Ack = (response: unknown) => void;

const SERVER_EVENTS = new Set([
  'error',
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

/**
 * Puts a budget in front of every event of a socket, answers events the server does not know
 * (`invalid_request` when an ack is given), and closes the connection of a client that will
 * not slow down. Logging is sampled: the first refusal of a connection, then at most one line
 * per 10 s with a count; one line per disconnect.
 *
 * The budget is checked as engine.io hands each packet over, before Socket.IO decodes it: a
 * refused event is answered from its header (ack id and name) and never reaches the decoder,
 * the dispatch or the middleware chain; a read's refusals are answered REFUSALS_PER_TURN per
 * turn of the event loop, their acks leaving in one write per flush. So one read of a flood
 * (~700 events) no longer holds everyone else's I/O for tens of milliseconds
 * (docs/reliability.md §9). Packets that header does not cover (binary events, another
 * namespace, unusual spacing) go through Socket.IO and spend in its middleware, as before.
 */
export function guardEvents(socket: ParleySocket, options: BudgetOptions, logger: Logger): EventBudget {
  const guard = new SocketGuard(socket, options, logger);
  const conn = socket.conn;
  // Anonymous listeners sharing this one scope: per socket, each named function or arrow
  // costs a closure plus (under esbuild's keepNames, which tsx and the bundles use) a
  // 256-byte property store for its name; the guard's logic lives on its prototype.
  const decoders = conn.listeners('data') as ((data: unknown) => void)[];
  for (const d of decoders) conn.removeListener('data', d);
  conn.on('data', (data: unknown) => {
    if (guard.admit(data)) for (const d of decoders) d.call(conn, data);
  });
  useOnly(socket, (packet, next) => guard.screen(packet, next));
  return guard.budget;
}

type PacketMiddleware = Parameters<ParleySocket['use']>[0];

/**
 * `socket.use(fn)` for a socket's only middleware, in an array of its own size: `use` pushes
 * onto the empty array every socket starts with, which V8 grows to 16 slots (~150 bytes a
 * connection, all but one of them unused). Socket.IO keeps that array private (`fns`), so it
 * is set without a type, and `use` is the fallback should it ever not be there.
 */
function useOnly(socket: ParleySocket, fn: PacketMiddleware): void {
  const fns: unknown = Reflect.get(socket, 'fns');
  if (Array.isArray(fns) && fns.length === 0) Reflect.set(socket, 'fns', [fn]);
  else socket.use(fn);
}

/**
 * One connection's guard: its budget, refusal counters and the levers on its transport. The
 * budget is checked as engine.io hands a message over (`admit`, before Socket.IO's decoder,
 * whose listeners it replaced), and again in Socket.IO's middleware (`screen`) for packets
 * the header reader does not cover.
 */
class SocketGuard {
  readonly budget: EventBudget;
  private lastLogAt = -Infinity;
  private refusedSinceLog = 0;
  private refusedInARow = 0;
  private closing = false;
  private pauseQueued = false;
  private cancelResume: (() => void) | undefined = undefined;
  /**
   * Events the engine.io-level check allowed that the middleware has not seen yet: it lets
   * them through without spending twice (Socket.IO dispatches them in order).
   */
  private prepaid = 0;
  private inThisTurn = 0;
  private refusedSinceYield = 0;
  private resumeSynchronous: (() => void) | undefined = undefined;
  /** The TCP socket corked for the flush in progress. */
  private held: Corkable | undefined = undefined;
  /** Whether flushes are corked (from the connection's first refusal on). */
  private corking = false;
  /**
   * A turn of the event loop that brings more than this many events is a flood that the
   * refusal count would close anyway, so it is closed at once and the rest of what was read
   * (up to ~1 000 small events in one 64 KiB read) is never looked at.
   */
  private readonly burstLimit: number;

  constructor(
    private readonly socket: ParleySocket,
    private readonly options: BudgetOptions,
    private readonly logger: Logger,
  ) {
    this.budget = new EventBudget(options);
    this.burstLimit = burstDisconnectLimit(options);
  }

  /** Whether a message engine.io hands over goes on to Socket.IO's decoder. */
  admit(data: unknown): boolean {
    this.resumeSynchronous?.();
    this.resumeSynchronous = undefined;
    if (this.closing) return false;
    // Left from its namespace but not closed: Socket.IO drops what comes.
    if (!this.socket.connected) return true;
    if (this.burstLimit > 0) {
      if (++this.inThisTurn === 1) setImmediate(() => (this.inThisTurn = 0));
      if (this.inThisTurn > this.burstLimit) {
        this.disconnect('burst');
        return false;
      }
    }
    const header = typeof data === 'string' ? eventHeader(data) : undefined;
    if (!header) return true;
    const kind = this.kindOf(header.name);
    const spent = this.budget.spend(kind);
    if (spent.allowed) {
      this.refusedInARow = 0;
      this.prepaid += 1;
      return true;
    }
    const conn = this.socket.conn;
    this.refused(kind, spent, () => {
      if (header.ackId === undefined || conn.readyState !== 'open') return;
      conn.write(`3${header.ackId}${REFUSAL_HEAD}${Math.max(1, Math.ceil(spent.retryAfterMs))}}}]`);
    });
    if (++this.refusedSinceYield >= REFUSALS_PER_TURN && !this.closing) {
      this.refusedSinceYield = 0;
      this.resumeSynchronous = deferNextMessage(this.socket);
    }
    return false;
  }

  /** Socket.IO middleware: spends for packets `admit` did not, answers unknown events. */
  screen(packet: unknown[], next: (err?: Error) => void): void {
    const name = typeof packet[0] === 'string' ? packet[0] : '';
    const kind = this.kindOf(name);
    const last: unknown = packet[packet.length - 1];
    const ack = typeof last === 'function' ? (last as Ack) : undefined;
    if (this.prepaid > 0) this.prepaid -= 1;
    else {
      const spent = this.budget.spend(kind);
      if (!spent.allowed) {
        if (!this.closing) this.refused(kind, spent, () => answerRefusal(ack, spent.retryAfterMs));
        return;
      }
      this.refusedInARow = 0;
    }
    if (kind === 'unknown') {
      socketEvents.inc({ event: 'unknown', result: 'invalid_request' });
      answer(ack, new AppError('invalid_request', 'Unknown event'));
      return;
    }
    next();
  }

  /**
   * From a connection's first refusal on, its flushes are corked (below). Not before: every
   * flush of every socket (each broadcast to each recipient) would pay for two listeners
   * that only ever matter to a connection whose refusals queue up.
   */
  private corkFlushes(): void {
    if (this.corking) return;
    this.corking = true;
    const conn = this.socket.conn;
    conn.on('flush', (buffer: unknown[]) => this.cork(buffer));
    conn.on('drain', () => this.uncork());
  }

  /**
   * Sends what engine.io flushes at once (the refusals of one read, up to ~1 000: they wait
   * in its buffer while the first is written) in one system call, not one per packet: the
   * TCP socket is corked from engine.io's `flush` to the `drain` it emits right after
   * handing the packets to the transport.
   */
  cork(buffer: unknown[]): void {
    const conn = this.socket.conn;
    if (this.held || buffer.length < 2 || conn.transport.name !== 'websocket') return;
    // The TCP socket under ws's WebSocket, both private: read without a type.
    const ws: unknown = Reflect.get(conn.transport, 'socket');
    const tcp: unknown = typeof ws === 'object' && ws !== null ? Reflect.get(ws, '_socket') : undefined;
    if (!hasMethods<Corkable>(tcp, 'cork', 'uncork')) return;
    this.held = tcp;
    tcp.cork();
    // Should the transport throw before engine.io emits `drain`, nothing stays held.
    setImmediate(() => this.uncork());
  }

  uncork(): void {
    this.held?.uncork();
    this.held = undefined;
  }

  private disconnect(reason: string): void {
    this.closing = true;
    socketBudgetDisconnects.inc();
    const { socket } = this;
    const userId = socket.data.session.userId;
    this.logger.warn(
      { socketId: socket.id, userId, refusedIn10s: this.budget.refusedRecently, reason },
      DISCONNECT_LOG,
    );
    // Before the close: the flooder's next handshake may arrive within the same millisecond.
    this.options.onDisconnect?.(userId);
    socket.disconnect(true);
    // A pause's timer must not reopen the tap on what the flooder queued meanwhile.
    this.cancelResume?.();
    discardInput(socket);
  }

  private kindOf(name: string): string {
    // Known = some handler listens to it; no list to keep in step with handlers.ts. The
    // server's own event names (Socket.IO listens to 'error' itself) are never a client's.
    // (Any string may be asked: listeners() is empty for a name nobody listens to.)
    // Metric labels never carry a client-chosen name.
    return !SERVER_EVENTS.has(name) && this.socket.listeners(name as ClientEventName).length > 0
      ? name
      : 'unknown';
  }

  /** Counts, logs (sampled), pauses and disconnects for one refused event; `answer` acks it. */
  private refused(kind: string, spent: Refused, answer: () => void): void {
    this.corkFlushes();
    rateLimitRefusals.inc({ event: kind });
    socketEvents.inc({ event: kind, result: 'rate_limited' });
    answer();
    this.refusedSinceLog += 1;
    const now = Date.now();
    if (now - this.lastLogAt >= REFUSAL_WINDOW_MS) {
      this.logger.info(
        {
          socketId: this.socket.id,
          userId: this.socket.data.session.userId,
          event: kind,
          refused: this.refusedSinceLog,
        },
        'socket events refused: over budget',
      );
      this.lastLogAt = now;
      this.refusedSinceLog = 0;
    }
    if (++this.refusedInARow >= PAUSE_AFTER_REFUSALS) {
      this.refusedInARow = 0;
      const ms = Math.min(spent.retryAfterMs, MAX_PAUSE_MS);
      // At the end of this turn, not at once: what this turn's reads brought is answered first
      // (cheaply), so a flood far over its budget reaches the disconnect without waiting out
      // a pause first (paused at once, a reconnecting flooder was cut 1-2 times per 5 s
      // instead of 5).
      if (!this.pauseQueued) {
        this.pauseQueued = true;
        setImmediate(() => {
          this.pauseQueued = false;
          if (!this.closing) this.cancelResume = pauseReading(this.socket, ms);
        });
      }
    }
    if (spent.overwhelmed) this.disconnect('refusals');
  }
}

type Refused = Extract<Spend, { allowed: false }>;

/**
 * The ack id and event name of a Socket.IO event packet on the main namespace, read from its
 * start as socket.io-parser writes it (`2`, the ack id's digits, then the JSON array whose
 * first element is the name: `21["typing",{...}]`); undefined for anything else, which then
 * takes Socket.IO's own path. Names Socket.IO reserves are left to it too: it closes the
 * connection for them.
 */
export function eventHeader(data: string): { ackId: number | undefined; name: string } | undefined {
  if (data.charCodeAt(0) !== 0x32 /* 2 */) return undefined;
  let i = 1;
  while (i < data.length && data.charCodeAt(i) >= 0x30 && data.charCodeAt(i) <= 0x39) i++;
  if (data.charCodeAt(i) !== 0x5b /* [ */ || data.charCodeAt(i + 1) !== 0x22 /* " */) return undefined;
  const ackId = i > 1 ? Number(data.slice(1, i)) : undefined;
  let end = i + 2;
  let escaped = false;
  for (; end < data.length; end++) {
    const c = data.charCodeAt(end);
    if (c === 0x22 /* " */) break;
    if (c === 0x5c /* \ */) {
      escaped = true;
      end++;
    }
  }
  const after = data.charCodeAt(end + 1);
  if (end >= data.length || (after !== 0x2c /* , */ && after !== 0x5d) /* ] */) return undefined;
  let name: unknown;
  try {
    name = escaped ? JSON.parse(data.slice(i + 1, end + 1)) : data.slice(i + 2, end);
  } catch {
    return undefined;
  }
  if (typeof name !== 'string' || RESERVED_EVENTS.has(name)) return undefined;
  return { ackId, name };
}

/** What socket.io-parser refuses to decode (the connection is closed for it). */
const RESERVED_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

const DISCONNECT_LOG = 'socket disconnected: kept sending far over its event budget';

/**
 * How many events one turn of the event loop may bring before the connection is closed
 * unread; 0 when disconnecting is off. Within a turn (well under a second) at most each
 * kind's shortest-window limit is allowed, twice over if a window resets during the turn;
 * everything beyond that is refused, so more than that plus `disconnectAfterRefusals` events
 * are certain to end in the refusal-count disconnect: this only takes the decision sooner.
 */
export function burstDisconnectLimit(options: BudgetOptions): number {
  if (options.disconnectAfterRefusals <= 0) return 0;
  const tightest = (rules: RateRule[]) =>
    rules.reduce<RateRule | undefined>((t, r) => (!t || r.windowMs < t.windowMs ? r : t), undefined)?.limit ??
    0;
  const allowed = [...Object.values(options.rules), options.unknown].reduce((n, r) => n + tightest(r), 0);
  return options.disconnectAfterRefusals + 2 * allowed;
}

type Pausable = { pause(): void; resume(): void };
type Corkable = { cork(): void; uncork(): void };

/** Whether `v` (a library's private field, so unchecked by types) has these methods. */
const hasMethods = <T>(v: unknown, ...names: (keyof T & string)[]): v is T =>
  typeof v === 'object' &&
  v !== null &&
  names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function');

/**
 * Has the websocket hand over its next message in a turn of the event loop of its own (ws
 * emits a message at once unless `allowSynchronousEvents` is off; that switch is private, so
 * it is read without a type); returns what switches it back, for when that message comes.
 */
function deferNextMessage(socket: ParleySocket): (() => void) | undefined {
  const transport = socket.conn.transport;
  const ws: unknown = transport.name === 'websocket' ? Reflect.get(transport, 'socket') : undefined;
  const receiver: unknown = typeof ws === 'object' && ws !== null ? Reflect.get(ws, '_receiver') : undefined;
  if (typeof receiver !== 'object' || receiver === null) return undefined;
  if (Reflect.get(receiver, '_allowSynchronousEvents') !== true) return undefined;
  Reflect.set(receiver, '_allowSynchronousEvents', false);
  return () => Reflect.set(receiver, '_allowSynchronousEvents', true);
}

/**
 * Stops reading from a websocket connection for `ms` (long polling has no such lever);
 * returns what cancels the resume.
 */
function pauseReading(socket: ParleySocket, ms: number): (() => void) | undefined {
  const transport = socket.conn.transport;
  // engine.io keeps the websocket transport's underlying socket private: read it without a type.
  const ws: unknown = transport.name === 'websocket' ? Reflect.get(transport, 'socket') : undefined;
  if (!hasMethods<Pausable>(ws, 'pause', 'resume')) return undefined;
  ws.pause();
  const timer = setTimeout(() => ws.resume(), ms);
  timer.unref();
  return () => clearTimeout(timer);
}

type Flowing = {
  resume(): void;
  on(event: 'data', listener: () => void): void;
  listeners(event: 'data'): ((...args: unknown[]) => void)[];
  removeListener(event: 'data', listener: (...args: unknown[]) => void): void;
};

/**
 * After a connection is cut for its flood, what it sent meanwhile is read and dropped, not
 * parsed. Its close handshake would otherwise have ws unmask, validate and hand over every
 * frame queued ahead of the client's close frame (a second of flood, ~1 MB in the kernel's
 * buffers and the flooder's, read in 64 KiB chunks each costing 5-40 ms on one turn), and a
 * paused socket that closes has its buffer parsed in one chunk (ws's socketOnClose): one
 * stall of 40-150 ms for everyone per cut (docs/reliability.md §9). This is what ws does itself
 * after a protocol error (receiverOnError): the TCP socket's data stops going to the
 * receiver and the socket is left flowing (and what the receiver holds is dropped). What Socket.IO and ws write (the `41` disconnect
 * packet, then the close frame) still goes out; the connection ends when the client closes
 * its side, or at ws's close timeout.
 */
function discardInput(socket: ParleySocket): void {
  const transport = socket.conn.transport;
  const ws: unknown = transport.name === 'websocket' ? Reflect.get(transport, 'socket') : undefined;
  const tcp: unknown = typeof ws === 'object' && ws !== null ? Reflect.get(ws, '_socket') : undefined;
  if (!hasMethods<Flowing>(tcp, 'resume', 'on', 'listeners', 'removeListener')) return;
  // After the upgrade, ws's own listener is the TCP socket's only 'data' listener.
  for (const l of tcp.listeners('data')) tcp.removeListener('data', l);
  tcp.on('data', dropData);
  tcp.resume();
  // And the rest of the read being parsed now (up to 64 KiB, ~800 frames, after the one that
  // made the cut): with nothing buffered, ws's receiver stops at its next frame header.
  const receiver: unknown = Reflect.get(ws as object, '_receiver');
  if (
    typeof receiver === 'object' &&
    receiver !== null &&
    Array.isArray(Reflect.get(receiver, '_buffers')) &&
    typeof Reflect.get(receiver, '_bufferedBytes') === 'number'
  ) {
    Reflect.set(receiver, '_buffers', []);
    Reflect.set(receiver, '_bufferedBytes', 0);
  }
}

const dropData = (): void => undefined;

/**
 * The `rateLimited` answer without building an `AppError` for it: an Error captures a stack
 * trace, which was the costliest step of a refusal (~10 % of a flood's CPU in a profile).
 */
function answerRefusal(ack: Ack | undefined, retryAfterMs: number): void {
  try {
    ack?.({ ok: false, error: { ...RATE_LIMITED, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) } });
  } catch {
    // An ack to a connection that is already gone.
  }
}

const { code, message } = rateLimited(1);
const RATE_LIMITED = { code, message };

/**
 * The same answer as a Socket.IO ack's arguments (`[{ok: false, error}]`), up to the value
 * of `retryAfterMs`: written without an object or JSON.stringify per refusal.
 */
const REFUSAL_HEAD = `${JSON.stringify([{ ok: false, error: RATE_LIMITED }]).slice(0, -3)},"retryAfterMs":`;

function answer(ack: Ack | undefined, error: AppError): void {
  try {
    ack?.({ ok: false, error: error.toBody() });
  } catch {
    // An ack to a connection that is already gone.
  }
}
