import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Database } from '../core/db/database.ts';
import { registry } from '../core/metrics.ts';
import { startWorld, type TestWorld } from '../test/realtime-support.ts';
import { sharedServices } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';
import { loadConfig } from '../core/config.ts';
import { budgetOptions, burstDisconnectLimit, EventBudget, eventHeader } from './event-budget.ts';

/**
 * The per-connection event budget: every event kind limited (join and leave included),
 * refusals answered before any database work, unknown events answered `invalid_request`,
 * and a connection that keeps flooding closed.
 */

describe('EventBudget', () => {
  const rules = {
    join: [
      { limit: 3, windowMs: 1_000 },
      { limit: 5, windowMs: 10_000 },
    ],
  };

  it('allows up to each window, refuses with the time to the window end, and spends nothing when refused', () => {
    let now = 0;
    const b = new EventBudget({
      rules,
      unknown: [{ limit: 1, windowMs: 1_000 }],
      disconnectAfterRefusals: 0,
      now: () => now,
    });
    expect([b.spend('join'), b.spend('join'), b.spend('join')].every((s) => s.allowed)).toBe(true);
    now = 400;
    expect(b.spend('join')).toEqual({ allowed: false, retryAfterMs: 600, overwhelmed: false });
    now = 1_000;
    expect(b.spend('join').allowed).toBe(true);
    expect(b.spend('join').allowed).toBe(true);
    // The 10 s window is full (5 spent; refusals did not count).
    expect(b.spend('join')).toEqual({ allowed: false, retryAfterMs: 9_000, overwhelmed: false });
    // Other kinds have their own budget; names without rules share the unknown one.
    expect(b.spend('whatever').allowed).toBe(true);
    expect(b.spend('something else').allowed).toBe(false);
  });

  it('gives react its own windows and spends edit and delete from message (the contract: edits count toward message)', () => {
    const limits = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: 'x'.repeat(32),
      RATE_LIMIT_MESSAGE_PER_SECOND: '3',
      RATE_LIMIT_REACT_PER_SECOND: '2',
    }).limits;
    const b = new EventBudget({ ...budgetOptions(limits), now: () => 0 });
    expect([b.spend('message'), b.spend('edit'), b.spend('delete')].every((s) => s.allowed)).toBe(true);
    expect(b.spend('edit').allowed).toBe(false);
    expect(b.spend('message').allowed).toBe(false);
    // react is not `unknown` (5 a second by default) and not `message`.
    expect([b.spend('react'), b.spend('react')].every((s) => s.allowed)).toBe(true);
    expect(b.spend('react').allowed).toBe(false);
    expect(b.spend('no-such-event').allowed).toBe(true);
  });

  it('flags a connection as overwhelmed after more refusals in 10 s than allowed', () => {
    let now = 0;
    const b = new EventBudget({ rules, unknown: [], disconnectAfterRefusals: 4, now: () => now });
    for (let i = 0; i < 3; i++) b.spend('join');
    const refusals = Array.from({ length: 5 }, () => b.spend('join'));
    expect(refusals.map((r) => !r.allowed && r.overwhelmed)).toEqual([false, false, false, false, true]);
    now = 10_001;
    for (let i = 0; i < 3; i++) b.spend('join');
    expect(b.spend('join')).toMatchObject({ allowed: false, overwhelmed: false });
  });
});

/** A database handle that counts the queries made through it. */
async function countingDatabase(): Promise<{
  db: Database;
  queries: () => number;
  membershipLookups: (roomId: string) => number;
}> {
  const base = (await sharedServices()).db;
  let n = 0;
  // Other files' rooms reach this server too (the shared Redis): a test that must see no
  // query of its own counts the look-ups of its own room.
  const lookups = new Map<string, number>();
  const prisma = base.prisma.$extends({
    query: {
      async $allOperations({ model, operation, args, query }) {
        n++;
        const roomId = (args as { where?: { roomId_userId?: { roomId?: unknown } } }).where?.roomId_userId
          ?.roomId;
        if (model === 'RoomMember' && operation === 'findUnique' && typeof roomId === 'string')
          lookups.set(roomId, (lookups.get(roomId) ?? 0) + 1);
        return query(args);
      },
    },
  }) as unknown as Database['prisma'];
  return {
    db: { ...base, prisma, ping: () => base.ping(), close: async () => undefined },
    queries: () => n,
    membershipLookups: (roomId) => lookups.get(roomId) ?? 0,
  };
}

let world: TestWorld;
let queries: () => number;
let membershipLookups: (roomId: string) => number;

beforeAll(async () => {
  const counting = await countingDatabase();
  queries = counting.queries;
  membershipLookups = counting.membershipLookups;
  world = await startWorld(
    {
      RATE_LIMIT_JOIN_PER_SECOND: '3',
      RATE_LIMIT_JOIN_PER_10_SECONDS: '100',
      RATE_LIMIT_LEAVE_PER_SECOND: '3',
      RATE_LIMIT_TYPING_PER_SECOND: '2',
      RATE_LIMIT_UNKNOWN_EVENT_PER_SECOND: '2',
      RATE_LIMIT_DISCONNECT_AFTER_REFUSALS: '50',
      RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: '1',
    },
    { ...(await sharedServices()), db: counting.db },
  );
}, 180_000);
afterAll(async () => {
  await world?.close();
});

type Refusal = Error & { data: { code: string; message: string; retryAfterMs: number } };

/** The connect_error of a handshake that must be refused. */
const refusal = (connecting: Promise<{ close(): void }>): Promise<Refusal> =>
  connecting.then(
    (s) => {
      s.close();
      throw new Error('handshake admitted');
    },
    (err: unknown) => err as Refusal,
  );

const metric = async (pattern: RegExp): Promise<number> => {
  const m = (await registry.metrics()).match(pattern);
  return m ? Number(m[1]) : 0;
};

describe('burstDisconnectLimit', () => {
  it('is the refusal threshold plus twice what one turn can allow, and 0 when disconnecting is off', () => {
    const options = {
      rules: {
        message: [
          { limit: 10, windowMs: 1_000 },
          { limit: 30, windowMs: 10_000 },
        ],
        join: [{ limit: 20, windowMs: 1_000 }],
      },
      unknown: [
        { limit: 20, windowMs: 10_000 },
        { limit: 5, windowMs: 1_000 },
      ],
      disconnectAfterRefusals: 100,
    };
    expect(burstDisconnectLimit(options)).toBe(100 + 2 * (10 + 20 + 5));
    expect(burstDisconnectLimit({ ...options, disconnectAfterRefusals: 0 })).toBe(0);
  });
});

describe('eventHeader', () => {
  it('reads the ack id and name the way socket.io-parser does, and leaves anything else to it', () => {
    expect(eventHeader('2["typing",{"roomId":"r"}]')).toEqual({ ackId: undefined, name: 'typing' });
    expect(eventHeader('2007["join",{}]')).toEqual({ ackId: 7, name: 'join' });
    expect(eventHeader('21["leave"]')).toEqual({ ackId: 1, name: 'leave' });
    expect(eventHeader('23["no\\"such",{}]')).toEqual({ ackId: 3, name: 'no"such' });
    expect(eventHeader('23["\\u0074yping",{}]')).toEqual({ ackId: 3, name: 'typing' });
    // Another namespace, binary events, acks, spacing, reserved or non-string names: Socket.IO's.
    for (const other of [
      '2/admin,1["typing"]',
      '51-["typing",{"_placeholder":true,"num":0}]',
      '31[{}]',
      '2 1["typing"]',
      '21 ["typing"]',
      '21["disconnect"]',
      '21[1,2]',
      '21["typing"x]',
      '21["unterminated',
      '21["bad \\x escape"]',
    ])
      expect(eventHeader(other)).toBeUndefined();
  });
});

describe('per-connection event budget', () => {
  it('limits join and leave, answering rate_limited with retryAfterMs', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    for (let i = 0; i < 3; i++) await a.joined(room);
    const refused = await a.join(room);
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'rate_limited', retryAfterMs: expect.any(Number) },
    });
    if (!refused.ok) expect(refused.error.retryAfterMs).toBeLessThanOrEqual(1_000);
    for (let i = 0; i < 3; i++) expect(await a.leave(room)).toEqual({ ok: true });
    expect(await a.leave(room)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    a.close();
  });

  it('refuses over-budget events before any database work, also for rooms the socket has not joined', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    // Typing to a room it has not joined, and joins of a room that is not its own: each
    // allowed one reads the database. Spend the budgets first...
    for (let i = 0; i < 2; i++)
      expect(await a.typing(room, true)).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    for (let i = 0; i < 3; i++)
      expect(await a.join('some-room-id')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // ...then every further one is refused without a single query.
    const before = queries();
    const refused = await Promise.all([
      ...Array.from({ length: 20 }, () => a.typing(room, true)),
      ...Array.from({ length: 10 }, () => a.join('some-room-id')),
    ]);
    expect(refused.every((x) => !x.ok && x.error.code === 'rate_limited')).toBe(true);
    expect(queries() - before).toBe(0);
    a.close();
  });

  it('makes no query for the events of a socket cut while they waited for the rate limit', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    await a.joined(room);
    const counters = world.services.counters;
    const hit = counters.hit.bind(counters);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let waiting = 0;
    const held = vi.spyOn(counters, 'hit').mockImplementation(async (hits) => {
      waiting++;
      await gate;
      return hit(hits);
    });
    try {
      for (let i = 0; i < 2; i++) a.raw.emit('typing', { roomId: room.id, typing: true }, () => undefined);
      await waitUntil('both typing events at the rate limit', () => waiting === 2, 5_000);
      const sockets = () => world.server.realtime.io.of('/').sockets.size;
      const open = sockets();
      a.close();
      await waitUntil('the server saw the disconnect', () => sockets() === open - 1, 5_000);
      const answered = () =>
        metric(/^parley_socket_events_total\{event="typing",result="not_joined"\} (\d+)/m);
      const before = await answered();
      release();
      // Both handlers finished (answered not_joined, to nobody), with or without a query.
      await waitUntil('both events answered', async () => (await answered()) === before + 2, 5_000);
      expect(membershipLookups(room.id)).toBe(0);
    } finally {
      held.mockRestore();
    }
  });

  it('costs an idle connection no joined-rooms set and its guard one slot of middleware (memory per socket)', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    const server = [...world.server.realtime.io.of('/').sockets.values()].find(
      (s) => s.data.session.userId === alice.id,
    )!;
    expect(server.data.joined).toBeUndefined();
    // Set in place of socket.use's push (which grows the array to 16 slots); should Socket.IO
    // rename its private field, the fallback still guards but this fails, to be looked at.
    const fns = Reflect.get(server, 'fns') as unknown[];
    expect(fns).toHaveLength(1);
    // And it is the guard: an unknown event is answered by it.
    expect(await a.raw.timeout(5_000).emitWithAck('no-such-event', {})).toMatchObject({
      ok: false,
      error: { code: 'invalid_request' },
    });
    await a.joined(room);
    expect([...server.data.joined!]).toEqual([room.id]);
    expect((await a.leave(room)).ok).toBe(true);
    expect(server.data.joined!.size).toBe(0);
    a.close();
  });

  it("corks a connection's flushes from its first refusal on, so a read's refusals leave in a few writes; others pay nothing", async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    await a.joined(room);
    const server = [...world.server.realtime.io.of('/').sockets.values()].find(
      (s) => s.data.session.userId === alice.id,
    )!;
    expect(await a.typing(room, true)).toEqual({ ok: true });
    // Within its budget: no listener on its flushes (each broadcast to it is one flush).
    expect(server.conn.listenerCount('flush')).toBe(0);
    const tcp = Reflect.get(Reflect.get(server.conn.transport, 'socket') as object, '_socket') as {
      _write(...args: unknown[]): unknown;
      _writev(...args: unknown[]): unknown;
    };
    const write = vi.spyOn(tcp, '_write');
    const writev = vi.spyOn(tcp, '_writev');
    try {
      // One go: one read on the server, 28 of them refused (2 typing a second here).
      const answers = await Promise.all(Array.from({ length: 30 }, () => a.typing(room, true)));
      expect(answers.filter((r) => !r.ok).length).toBeGreaterThanOrEqual(28);
      // Uncorked, each refusal's ack was a system call of its own.
      expect(write.mock.calls.length + writev.mock.calls.length).toBeLessThanOrEqual(6);
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
    expect(server.conn.listenerCount('flush')).toBe(1);
    a.close();
  });

  it('answers an unknown event sent with an ack with invalid_request (and limits those too)', async () => {
    const alice = await world.user();
    const a = await alice.connect();
    const ask = (event: string) =>
      a.raw.timeout(5_000).emitWithAck(event, { roomId: 'x' }) as Promise<{
        ok: boolean;
        error?: { code: string };
      }>;
    expect(await ask('no-such-event')).toEqual({
      ok: false,
      error: { code: 'invalid_request', message: expect.any(String) },
    });
    expect(await ask('toString')).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await ask('__proto__')).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    // Without an ack: nothing comes back, and the connection stays usable.
    a.raw.emit('no-such-event', {});
    expect((await a.leave('x')).ok).toBe(true);
    a.close();
  });

  it('closes a connection that keeps sending far over its budget (disconnect reason: io server disconnect), counted in a metric', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const before = await metric(/^parley_socket_budget_disconnects_total (\d+)/m);
    const flooder = await alice.connect();
    const gone = flooder.disconnected();
    for (let i = 0; i < 200; i++)
      flooder.raw.emit('typing', { roomId: room.id, typing: true }, () => undefined);
    expect(await gone).toBe('io server disconnect');
    expect(await metric(/^parley_socket_budget_disconnects_total (\d+)/m)).toBe(before + 1);
  });

  it("refuses a cut flooder's reconnects (rate_limited with retryAfterMs) on this instance and another for the cool-down, then admits them; others unaffected", async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    // A second instance over the same services (database, counters, Redis when configured).
    const other = await startWorld({ RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: '1' }, world.services);
    try {
      // Alice's other device, connected before the flood.
      const tablet = await alice.connect();
      const flooder = await alice.connect();
      const gone = flooder.disconnected();
      for (let i = 0; i < 200; i++)
        flooder.raw.emit('typing', { roomId: room.id, typing: true }, () => undefined);
      expect(await gone).toBe('io server disconnect');
      const refusedHere = await refusal(alice.connect());
      // Shared through the counter store (Redis when configured): once it holds the key, the
      // other instance refuses too.
      await waitUntil(
        'cool-down shared',
        async () => (await world.services.counters.peek(`reconnect-cooldown:${alice.id}`)).count > 0,
        5_000,
        10,
      );
      const refusedThere = await refusal(alice.connect({}, other.url));
      for (const r of [refusedHere, refusedThere]) {
        expect(r.message).toBe('rate_limited');
        expect(r.data).toEqual({
          code: 'rate_limited',
          message: expect.any(String),
          retryAfterMs: expect.any(Number),
        });
        expect(r.data.retryAfterMs).toBeGreaterThan(0);
        expect(r.data.retryAfterMs).toBeLessThanOrEqual(1_000);
      }
      // Sockets already open stay, other users connect.
      await tablet.joined(room);
      const b = await bob.connect();
      b.close();
      // The cool-down itself, then admitted on both.
      await new Promise((r) =>
        setTimeout(r, Math.max(refusedHere.data.retryAfterMs, refusedThere.data.retryAfterMs) + 20),
      );
      const back = await alice.connect();
      const backThere = await alice.connect({}, other.url);
      await back.joined(room);
      for (const s of [back, backThere, tablet]) s.close();
    } finally {
      await other.close();
    }
  });

  it('answers refused events before Socket.IO decodes them: they never reach its dispatch', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const decoded = decodedEventsOf(alice.id);
    const a = await alice.connect();
    await a.joined(room);
    for (let i = 0; i < 2; i++) expect(await a.typing(room, true)).toEqual({ ok: true });
    const before = decoded();
    const refused = await Promise.all(Array.from({ length: 20 }, () => a.typing(room, true)));
    expect(
      refused.every((x) => !x.ok && x.error.code === 'rate_limited' && (x.error.retryAfterMs ?? 0) >= 1),
    ).toBe(true);
    // The same answer as through Socket.IO (the ack is written below its encoder).
    expect(refused[0]).toEqual({
      ok: false,
      error: { code: 'rate_limited', message: expect.any(String), retryAfterMs: expect.any(Number) },
    });
    expect(decoded() - before).toBe(0);
    // The connection stays usable, and what is allowed is decoded as ever.
    expect(await a.leave(room)).toEqual({ ok: true });
    expect(decoded() - before).toBe(1);
    a.close();
  });

  it("spends binary events (Socket.IO's own path) and escaped names from the same budgets", async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect();
    await a.joined(room);
    type Answer = { ok: boolean; error?: { code: string } };
    const ask = (event: string, payload: unknown) =>
      a.raw.timeout(5_000).emitWithAck(event, payload) as Promise<Answer>;
    // A Buffer makes it a binary event, which the check before decoding leaves to Socket.IO.
    const binary = () => ask('typing', { roomId: room.id, typing: true, blob: Buffer.from([1]) });
    const [first, second] = await Promise.all([binary(), binary()]);
    expect([first?.error?.code, second?.error?.code]).not.toContain('rate_limited');
    expect(await a.typing(room, true)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    // A quote in the name is escaped on the wire: read as JSON, then the unknown budget.
    const unknown = await Promise.all([ask('no"such', {}), ask('no"such', {}), ask('no"such', {})]);
    expect(unknown.map((u) => u.error?.code)).toEqual(['invalid_request', 'invalid_request', 'rate_limited']);
    a.close();
  });

  it('closes a connection whose one read brings a whole flood before decoding the rest of it', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const refusalsBefore = await metric(/^parley_rate_limited_total\{event="typing"\} (\d+)/m);
    const disconnectsBefore = await metric(/^parley_socket_budget_disconnects_total (\d+)/m);
    const decoded = decodedEventsOf(alice.id);
    const flooder = await alice.connect();
    await flooder.joined(room);
    const joinedDecoded = decoded();
    const gone = flooder.disconnected();
    const started = performance.now();
    // One synchronous loop: the frames reach the server in one or a few reads.
    for (let i = 0; i < 1_000; i++)
      flooder.raw.emit('typing', { roomId: room.id, typing: true }, () => undefined);
    expect(await gone).toBe('io server disconnect');
    const seconds = (performance.now() - started) / 1_000;
    expect(await metric(/^parley_socket_budget_disconnects_total (\d+)/m)).toBe(disconnectsBefore + 1);
    // Closed at the 51st refusal (or sooner, by the burst rule), as engine.io handed it over.
    const refused = (await metric(/^parley_rate_limited_total\{event="typing"\} (\d+)/m)) - refusalsBefore;
    expect(refused).toBeLessThanOrEqual(51);
    // Socket.IO decoded the allowed events only: not the refused ones, not the rest of the read.
    // Allowed: 2 a second (this world's typing limit), and the budget refills while the reads
    // are paused, so a slow machine may see a refill or two before the cut.
    expect(decoded() - joinedDecoded).toBeLessThanOrEqual(2 * (1 + Math.ceil(seconds)));
  });

  it('parses nothing more of a connection once it is cut: what the flooder queued behind the cut is read and dropped', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const parsed = parsedAfterCutOf(alice.id);
    const flooder = await alice.connect();
    await flooder.joined(room);
    const gone = flooder.disconnected();
    // One synchronous loop: ~400 KB in the kernel's buffers, far more than the read that cuts.
    for (let i = 0; i < 5_000; i++)
      flooder.raw.emit('typing', { roomId: room.id, typing: true }, () => undefined);
    // The disconnect packet still reaches the client.
    expect(await gone).toBe('io server disconnect');
    await waitUntil('server side closed', () => parsed().closed, 10_000, 10);
    // Without the discard, ws parsed every frame up to the client's close frame (thousands).
    expect(parsed().frames).toBeLessThanOrEqual(1);
  });
});

/**
 * Frames the server's websocket parsed (its 'message' events) for the user's sockets after
 * the Socket.IO socket was disconnected, and whether the websocket has closed since.
 */
function parsedAfterCutOf(userId: string): () => { frames: number; closed: boolean } {
  let frames = 0;
  let closed = false;
  world.server.realtime.io.on('connection', (socket) => {
    if (socket.data.session.userId !== userId) return;
    let cut = false;
    socket.on('disconnect', () => (cut = true));
    const ws = Reflect.get(socket.conn.transport, 'socket') as {
      on(e: 'message' | 'close', l: () => void): void;
    };
    ws.on('message', () => {
      if (cut) frames++;
    });
    ws.on('close', () => (closed = true));
  });
  return () => ({ frames, closed });
}

/** How many events Socket.IO decoded and dispatched for the user's sockets (onAny sees each). */
function decodedEventsOf(userId: string): () => number {
  let n = 0;
  world.server.realtime.io.on('connection', (socket) => {
    if (socket.data.session.userId === userId) socket.onAny(() => n++);
  });
  return () => n;
}
