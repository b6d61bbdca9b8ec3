import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { usesRedis } from '../test/support.ts';
import { issueToken, revokeSession, verifySession } from '../core/sessions/sessions.ts';
import { leaveRoom as leaveRoomInDb } from '../core/rooms/rooms.ts';
import { waitUntil } from '../test/wait.ts';
import { JoinReads } from './join-reads.ts';
import { RoomMembers } from './room-members.ts';

let world: TestWorld;
const open: ChatClient[] = [];

// Generous limits here: bulk sends below are about ordering, not throttling (see 'rate limits'
// and event-budget.test.ts).
const BULK_LIMITS = {
  RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
  RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000',
  RATE_LIMIT_TYPING_PER_SECOND: '100000',
  RATE_LIMIT_TYPING_PER_10_SECONDS: '1000000',
  RATE_LIMIT_JOIN_PER_SECOND: '100000',
  RATE_LIMIT_JOIN_PER_10_SECONDS: '1000000',
  RATE_LIMIT_LEAVE_PER_SECOND: '100000',
  RATE_LIMIT_LEAVE_PER_10_SECONDS: '1000000',
};

// The worker's first file boots embedded Postgres: slow on a busy machine.
const BOOT_TIMEOUT_MS = 180_000;

beforeAll(async () => {
  world = await startWorld(BULK_LIMITS);
}, BOOT_TIMEOUT_MS);
afterAll(async () => {
  for (const c of open) c.close();
  await world?.close();
});

/**
 * Loads the room's members into the instance's member cache and counts the joins let in by
 * it (the one-statement path of join-reads.ts), so a test can tell which path answered.
 */
const withWarmMemberCache = async (roomId: string, run: (fastJoins: () => number) => Promise<void>) => {
  const cached = vi.spyOn(RoomMembers.prototype, 'cached');
  const entered = vi.spyOn(JoinReads.prototype, 'entered');
  try {
    const probe = await connect(await world.user());
    await probe.join(roomId); // forbidden, but the join path asks the cache for the room
    const cache = cached.mock.contexts.at(-1) as RoomMembers;
    await cache.get(roomId);
    entered.mockClear();
    await run(() => entered.mock.calls.filter(([r]) => r === roomId).length);
  } finally {
    cached.mockRestore();
    entered.mockRestore();
  }
};

const connect = async (user: TestUser, opts: Parameters<TestUser['connect']>[0] = {}) => {
  const c = await user.connect(opts);
  open.push(c);
  return c;
};

/** Alice and Bob, members of one room, each with a socket that has joined it. */
const aliceAndBobJoined = async () => {
  const alice = await world.user();
  const bob = await world.user();
  const room = await world.room(alice, bob);
  const a = await connect(alice);
  const b = await connect(bob);
  await a.joined(room);
  await b.joined(room);
  return { alice, bob, room, a, b };
};

describe('handshake', () => {
  it('accepts the token in auth and the sid cookie, on websocket and polling', async () => {
    const alice = await world.user();
    for (const transports of [['websocket'], ['polling']] as const) {
      const byToken = await connect(alice, { transports: [...transports] });
      expect(byToken.socket.connected).toBe(true);
      const byCookie = await connect(alice, { via: 'cookie', transports: [...transports] });
      expect(byCookie.socket.connected).toBe(true);
    }
  });

  it('refuses missing, forged and garbage tokens with connect_error unauthorized', async () => {
    const alice = await world.user();
    await expect(alice.connect({ via: 'none' })).rejects.toMatchObject({ message: 'unauthorized' });
    const [h, p] = alice.token.split('.');
    await expect(alice.connect({ token: `${h}.${p}.forgedsignature` })).rejects.toMatchObject({
      message: 'unauthorized',
    });
    await expect(alice.connect({ token: 'not-a-jwt' })).rejects.toMatchObject({ message: 'unauthorized' });
  });

  it('lets auth.token win over the cookie', async () => {
    const alice = await world.user();
    const socket = await alice
      .connect({ via: 'token', token: 'garbage' })
      .then(() => 'connected')
      .catch((e: Error) => e.message);
    expect(socket).toBe('unauthorized');
  });

  it('refuses a revoked token, and logout disconnects the sockets opened with it', async () => {
    const alice = await world.user();
    const token = alice.token;
    const socket = await connect(alice);
    const gone = socket.disconnected();
    await alice.logout();
    expect(await gone).toBe('io server disconnect');
    await expect(alice.connect({ token })).rejects.toMatchObject({ message: 'unauthorized' });
  });

  it('disconnects each socket when the token that opened it expires, not before', async () => {
    const alice = await world.user();
    const keys = { jwtSecret: world.services.config.auth.jwtSecret, sessionTtlSeconds: 0 };
    const nowSeconds = Math.floor(Date.now() / 1000);
    // Tokens that end 2 and 4 seconds from now (one expiry timer serves every socket).
    const soon = await issueToken(
      { ...keys, sessionTtlSeconds: 2 },
      { id: alice.id, username: alice.name },
      nowSeconds,
    );
    const later = await issueToken(
      { ...keys, sessionTtlSeconds: 4 },
      { id: alice.id, username: alice.name },
      nowSeconds,
    );
    const first = await connect(alice, { token: soon.token });
    const second = await connect(alice, { token: later.token });
    const lasting = await connect(alice);
    const firstGone = first.disconnected();
    expect(await firstGone).toBe('io server disconnect');
    expect(Date.now()).toBeGreaterThanOrEqual(soon.session.exp * 1000 - 5);
    expect(second.socket.connected).toBe(true);
    expect(await second.disconnected()).toBe('io server disconnect');
    expect(Date.now()).toBeGreaterThanOrEqual(later.session.exp * 1000 - 5);
    expect(lasting.socket.connected).toBe(true);
  });

  it('accepts an Authorization: Bearer header, on websocket and polling', async () => {
    const alice = await world.user();
    for (const transports of [['websocket'], ['polling']] as const) {
      const byBearer = await connect(alice, { via: 'bearer', transports: [...transports] });
      expect(byBearer.socket.connected).toBe(true);
    }
    await expect(alice.connect({ via: 'bearer', token: 'garbage' })).rejects.toMatchObject({
      message: 'unauthorized',
    });
  });

  it('refuses a cookie from a foreign Origin (websocket and polling), allows the configured one', async () => {
    const alice = await world.user();
    for (const transports of [['websocket'], ['polling']] as const) {
      await expect(
        alice.connect({ via: 'cookie', origin: 'http://evil.example', transports: [...transports] }),
      ).rejects.toMatchObject({ message: 'forbidden', data: { code: 'forbidden' } });
      const ok = await connect(alice, {
        via: 'cookie',
        origin: world.server.services.config.corsOrigins[0],
        transports: [...transports],
      });
      expect(ok.socket.connected).toBe(true);
    }
  });

  it('accepts auth.token and Bearer handshakes whatever their Origin (no ambient credential)', async () => {
    const alice = await world.user();
    for (const via of ['token', 'bearer'] as const) {
      for (const transports of [['websocket'], ['polling']] as const) {
        const s = await connect(alice, { via, origin: 'http://native.example', transports: [...transports] });
        expect(s.socket.connected).toBe(true);
      }
    }
    // A foreign Origin does not make a bad token good.
    await expect(alice.connect({ token: 'garbage', origin: 'http://native.example' })).rejects.toMatchObject({
      message: 'unauthorized',
    });
  });
});

describe('join', () => {
  it('answers room, present users (one per user, joiner included), last messages and hasMore', async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a1 = await connect(alice);
    const a2 = await connect(alice);
    await a1.joined(room);
    await a2.joined(room);
    const b = await connect(bob);
    const joined = await b.joined(room);
    expect(joined.room).toMatchObject({ id: room.id, lastSeq: 0 });
    expect(joined.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());
    expect(joined.users.find((u) => u.id === bob.id)).toEqual({ id: bob.id, name: bob.name });
    expect(joined.messages).toEqual([]);
    expect(joined.hasMore).toBe(false);
  });

  it('returns the last 50 without sinceSeq, and up to 100 after sinceSeq with hasMore', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await connect(alice);
    await a.joined(room);
    const sends = [];
    for (let i = 1; i <= 130; i++) sends.push(a.send(room, `m${i}`));
    const acks = await Promise.all(sends);
    expect(acks.every((x) => x.ok)).toBe(true);

    const again = await a.joined(room);
    expect(again.messages.map((m) => m.seq)).toEqual(range(81, 130));
    expect(again.hasMore).toBe(true);
    expect(again.room.lastSeq).toBe(130);

    const since = await a.joined(room, 10);
    expect(since.messages.map((m) => m.seq)).toEqual(range(11, 110));
    expect(since.hasMore).toBe(true);
    const rest = await a.joined(room, 110);
    expect(rest.messages.map((m) => m.seq)).toEqual(range(111, 130));
    expect(rest.hasMore).toBe(false);
    expect((await a.joined(room, 130)).messages).toEqual([]);
  });

  it('is forbidden to non-members, and answers malformed room ids the same way', async () => {
    const alice = await world.user();
    const eve = await world.user();
    const room = await world.room(alice);
    const e = await connect(eve);
    expect(await e.join(room)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await e.join('no-such-room')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await e.emit('join', { roomId: room.id, extra: 1 })).toMatchObject({
      ok: false,
      error: { code: 'invalid_request' },
    });
  });

  it('answers a storm of simultaneous joins (batched reads) each with its own presence, and refuses the non-members in it', async () => {
    const members = await Promise.all(Array.from({ length: 12 }, () => world.user()));
    const outsiders = await Promise.all(Array.from({ length: 3 }, () => world.user()));
    const room = await world.room(members[0]!, ...members.slice(1));
    const writer = await connect(members[0]!);
    await writer.joined(room);
    for (let i = 1; i <= 60; i++) expect((await writer.send(room, `m${i}`)).ok).toBe(true);
    const sockets = await Promise.all([...members.slice(1), ...outsiders].map((u) => connect(u)));
    // All at once, with a send in the middle of the storm: it reaches each joiner live, in its
    // page, or both, never neither.
    const [acks, sent] = await Promise.all([
      Promise.all(sockets.map((s) => s.join(room))),
      writer.send(room, 'during the storm'),
    ]);
    expect(sent.ok).toBe(true);
    const during = sent.ok ? sent.message.seq : -1;
    for (const [i, ack] of acks.entries()) {
      if (i >= members.length - 1) {
        expect(ack).toMatchObject({ ok: false, error: { code: 'forbidden' } });
        continue;
      }
      if (!ack.ok) throw new Error(JSON.stringify(ack.error));
      expect(ack.users.map((u) => u.id)).toContain(members[i + 1]!.id);
      expect(ack.room.id).toBe(room.id);
      const seqs = ack.messages.map((m) => m.seq);
      expect(seqs.length).toBe(50);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      await waitUntil(
        'the message sent during the storm, in the page or live',
        () => sockets[i]!.seen.get(room.id)?.has(during) === true,
        5_000,
      );
    }
  });
});

describe('join let in by the member cache', () => {
  it("a member's first join loads the cache, so the next one takes the one-statement path", async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const entered = vi.spyOn(JoinReads.prototype, 'entered');
    try {
      const a1 = await connect(alice);
      await a1.joined(room);
      expect(entered.mock.calls.filter(([r]) => r === room.id)).toHaveLength(0);
      const a2 = await connect(alice);
      expect((await a2.joined(room)).room.id).toBe(room.id);
      expect(entered.mock.calls.filter(([r]) => r === room.id)).toHaveLength(1);
    } finally {
      entered.mockRestore();
    }
  });

  it('answers exactly as the database path does, pages and catch-up included', async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a = await connect(alice);
    const first = await a.joined(room);
    for (let i = 1; i <= 60; i++) expect((await a.send(room, `m${i}`)).ok).toBe(true);
    const edited = await a.changed('edit', room, (await a.sent(room, 'to edit')).id, { text: 'edited' });
    const b = await connect(bob);
    // The database path: the cache has nothing for the room.
    const cold = vi.spyOn(RoomMembers.prototype, 'cached').mockReturnValue(undefined);
    const entered = vi.spyOn(JoinReads.prototype, 'entered');
    let viaDatabase;
    try {
      viaDatabase = await b.joined(room, 5, first.room.lastVersion);
      expect(entered).not.toHaveBeenCalled();
    } finally {
      cold.mockRestore();
      entered.mockRestore();
    }
    await withWarmMemberCache(room.id, async (fastJoins) => {
      const viaCache = await b.joined(room, 5, first.room.lastVersion);
      expect(fastJoins()).toBe(1);
      expect(viaCache).toEqual(viaDatabase);
      const newest = await b.joined(room);
      expect(fastJoins()).toBe(2);
      expect(newest.messages.map((m) => m.seq)).toEqual(range(12, 61));
      expect(newest.messages.at(-1)).toMatchObject({ id: edited.id, text: 'edited' });
      expect(newest.room).toMatchObject({ id: room.id, lastSeq: 61, lastVersion: edited.version });
      expect(newest.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());
      // In the room: live messages arrive.
      const live = await a.sent(room, 'live');
      await waitUntil('the live message', () => b.seen.get(room.id)?.has(live.seq) === true, 5_000);
    });
  });

  it('refuses a member the database no longer knows (the cache behind a removal), and leaves it out of the room', async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a = await connect(alice);
    const b = await connect(bob);
    await a.joined(room);
    await b.joined(room);
    await withWarmMemberCache(room.id, async (fastJoins) => {
      // Straight to the database, as if the bus event had not arrived yet: the cache still
      // says member.
      await leaveRoomInDb(world.server.services.db, room.id, bob.id);
      const b2 = await connect(bob);
      expect(await b2.join(room)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(fastJoins()).toBe(1);
      const after = await a.sent(room, 'after the removal');
      // The broadcast reaches the sender too: once alice has it, a socket in the room would have
      // it. (Not bob's old socket: the periodic reconciliation may take it out of the room in
      // this very window, as it should; that made this test flaky.)
      await waitUntil(
        "the message on the sender's socket",
        () => a.seen.get(room.id)?.has(after.seq) === true,
        5_000,
      );
      expect(b2.seen.get(room.id)?.has(after.seq) ?? false).toBe(false);
      expect((await b2.send(room, 'still here?')).ok).toBe(false);
    });
  });
});

describe('message', () => {
  it('acks after commit and broadcasts to every socket in the room, the sender included', async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const ack = await a.send(room, '  hello  ', { clientMsgId: 'c-1' });
    expect(ack).toMatchObject({
      ok: true,
      message: {
        roomId: room.id,
        seq: 1,
        userId: alice.id,
        name: alice.name,
        text: 'hello',
        clientMsgId: 'c-1',
        attachment: null,
      },
    });
    if (!ack.ok) return;
    expect(typeof ack.message.ts).toBe('number');
    expect(await b.next('message')).toEqual(ack.message);
    expect(await a.next('message')).toEqual(ack.message);
    const history = await bob.api.history({ roomId: room.id });
    expect(history.body.messages).toEqual([ack.message]);
  });

  it("writes the sender's ack before the broadcast of its message (delivery.md §7)", async () => {
    const { room, a } = await aliceAndBobJoined();
    // Recorded as each packet is decoded (a callback, not a promise: no microtask between).
    const order: string[] = [];
    a.raw.on('message', (m: { seq: number }) => order.push(`message ${m.seq}`));
    const N = 8;
    for (let i = 0; i < N; i++) {
      a.raw.emit('message', { roomId: room.id, text: `m${i}` }, (ack: { message?: { seq: number } }) =>
        order.push(`ack ${ack.message?.seq ?? 'refused'}`),
      );
    }
    await waitUntil('every ack and message', () => order.length === 2 * N, 10_000);
    for (let seq = 1; seq <= N; seq++) {
      expect(order.indexOf(`ack ${seq}`), order.join(', ')).toBeGreaterThanOrEqual(0);
      expect(order.indexOf(`ack ${seq}`), order.join(', ')).toBeLessThan(order.indexOf(`message ${seq}`));
    }
  });

  it('refuses sends to a room not joined (not_joined) or not a member of (forbidden), storing nothing', async () => {
    const alice = await world.user();
    const eve = await world.user();
    const room = await world.room(alice);
    const a = await connect(alice);
    expect(await a.send(room, 'hi')).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    const e = await connect(eve);
    expect(await e.send(room, 'hi')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await e.typing(room, true)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await a.typing(room, true)).toMatchObject({ ok: false, error: { code: 'not_joined' } });
    await a.joined(room);
    expect((await a.sent(room, 'first')).seq).toBe(1);
  });

  it('validates text: trimmed, 0–4000 code points, non-empty without attachment, no unknown fields', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await connect(alice);
    await a.joined(room);
    const bad = async (payload: unknown) =>
      expect(await a.emit('message', payload), JSON.stringify(payload).slice(0, 80)).toMatchObject({
        ok: false,
        error: { code: 'invalid_request' },
      });
    await bad({ roomId: room.id, text: '   ' });
    await bad({ roomId: room.id, text: 'x'.repeat(4001) });
    await bad({ roomId: room.id, text: 'hi', color: 'red' });
    await bad({ roomId: room.id, text: 'hi', clientMsgId: 'has space' });
    await bad({ roomId: room.id, text: 'hi', clientMsgId: 'x'.repeat(65) });
    await bad({ roomId: room.id, text: 42 });
    await bad({ roomId: room.id });
    const emoji = '😀'.repeat(4000); // 4000 code points, 8000 UTF-16 units
    expect((await a.sent(room, emoji)).text).toBe(emoji);
    expect(await a.send(room, 'no such file', { attachmentId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'attachment_invalid' },
    });
    expect((await a.sent(room, 'after refusals')).seq).toBe(2);
  });

  it('returns the original for a retried clientMsgId, sequentially and concurrently, storing and broadcasting once', async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a = await connect(alice);
    const a2 = await connect(alice);
    const b = await connect(bob);
    await a.joined(room);
    await a2.joined(room);
    await b.joined(room);

    const first = await a.sent(room, 'once', { clientMsgId: 'retry-1' });
    const retry = await a.sent(room, 'once, edited on retry', { clientMsgId: 'retry-1' });
    expect(retry).toEqual(first);

    const concurrent = await Promise.all([
      a.sent(room, 'twice', { clientMsgId: 'retry-2' }),
      a2.sent(room, 'twice', { clientMsgId: 'retry-2' }),
      a.sent(room, 'twice', { clientMsgId: 'retry-2' }),
    ]);
    expect(new Set(concurrent.map((m) => m.id)).size).toBe(1);
    // Another user may use the same clientMsgId: it is scoped to the sender.
    const bobs = await b.sent(room, 'mine', { clientMsgId: 'retry-1' });
    expect(bobs.id).not.toBe(first.id);

    const history = await alice.api.history({ roomId: room.id });
    expect(history.body.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    // Exactly three broadcasts reached bob, none of them a duplicate.
    const got = [await b.next('message'), await b.next('message'), await b.next('message')];
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3]);
    await b.sent(room, 'marker');
    expect((await b.next('message')).text).toBe('marker');
    expect(b.pending('message')).toEqual([]);
  });

  it('assigns gap-free seqs in commit order with concurrent senders, broadcasting in seq order', async () => {
    const users = await Promise.all([world.user(), world.user(), world.user(), world.user()]);
    const [owner, ...rest] = users as [TestUser, ...TestUser[]];
    const room = await world.room(owner, ...rest);
    const clients = await Promise.all(users.map((u) => connect(u)));
    for (const c of clients) await c.joined(room);
    const PER = 25;
    const acks = await Promise.all(
      clients.flatMap((c, i) => range(1, PER).map((n) => c.sent(room, `u${i}-${n}`))),
    );
    const seqs = acks.map((m) => m.seq).sort((x, y) => x - y);
    expect(seqs).toEqual(range(1, PER * clients.length));
    // Each client receives every message once, in seq order, and ts never decreases with seq.
    for (const c of clients) {
      const got: number[] = [];
      let lastTs = 0;
      for (let i = 0; i < PER * clients.length; i++) {
        const m = await c.next('message');
        got.push(m.seq);
        expect(m.ts).toBeGreaterThanOrEqual(lastTs);
        lastTs = m.ts;
      }
      expect(got).toEqual(range(1, PER * clients.length));
    }
  });

  it('processes events sent without an ack', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await connect(alice);
    await a.joined(room);
    a.raw.emit('message', { roomId: room.id, text: 'no ack' });
    expect((await a.next('message')).text).toBe('no ack');
  });
});

describe('typing and presence', () => {
  it('sends typing to the others only, and typing:false when the typist sends', async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    expect(await a.typing(room, true)).toEqual({ ok: true });
    expect(await b.next('typing')).toEqual({
      roomId: room.id,
      userId: alice.id,
      name: alice.name,
      typing: true,
    });
    await a.sent(room, 'done typing');
    expect(await b.next('typing')).toEqual({
      roomId: room.id,
      userId: alice.id,
      name: alice.name,
      typing: false,
    });
    expect(a.pending('typing')).toEqual([]);
  });

  it('ends typing when the typist leaves or disconnects', async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    await a.typing(room, true);
    await b.next('typing', (t) => t.typing);
    expect(await a.leave(room)).toEqual({ ok: true });
    expect(await b.next('typing')).toMatchObject({ userId: alice.id, typing: false });

    await a.joined(room);
    await a.typing(room, true);
    await b.next('typing', (t) => t.typing);
    a.close();
    expect(await b.next('typing')).toMatchObject({ userId: alice.id, typing: false });
  });

  it('coalesces a burst of arrivals into a few announcements that end with the full set', async () => {
    const owner = await world.user();
    const others = await Promise.all(Array.from({ length: 12 }, () => world.user()));
    const room = await world.room(owner, ...others);
    const watcher = await connect(owner);
    await watcher.joined(room);
    await watcher.next('presence');
    const sockets = await Promise.all(others.map((u) => connect(u)));
    await Promise.all(sockets.map((c) => c.joined(room)));
    const all = [owner, ...others].map((u) => u.id).sort();
    const last = await watcher.next('presence', (p) => p.users.length === all.length);
    expect(last.users.map((u) => u.id).sort()).toEqual(all);
    // One announcement per arrival would be 12; a window gathers them.
    expect(watcher.pending('presence').length).toBeLessThan(6);
  });

  it('announces presence when the set of users changes, once per user however many tabs', async () => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a = await connect(alice);
    await a.joined(room);
    expect(await a.next('presence')).toEqual({
      roomId: room.id,
      users: [{ id: alice.id, name: alice.name }],
    });

    const b1 = await connect(bob);
    await b1.joined(room);
    const both = await a.next('presence');
    expect(both.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());

    // A second tab of bob changes nothing; closing one of two tabs changes nothing either.
    const b2 = await connect(bob);
    expect((await b2.joined(room)).users).toHaveLength(2);
    b2.close();
    // Leaving with the last tab removes bob.
    expect(await b1.leave(room)).toEqual({ ok: true });
    expect(await a.next('presence')).toEqual({
      roomId: room.id,
      users: [{ id: alice.id, name: alice.name }],
    });
    expect(a.pending('presence')).toEqual([]);
    // Leave when not joined is fine.
    expect(await b1.leave(room)).toEqual({ ok: true });
  });

  it('removes a user who leaves the room over REST from the room at once: no delivery, then forbidden', async () => {
    const { bob, room, a, b } = await aliceAndBobJoined();
    await b.typing(room, true);
    await a.next('typing', (t) => t.typing);
    await bob.leaveRoom(room);
    expect(await a.next('presence', (p) => !p.users.some((u) => u.id === bob.id))).toMatchObject({
      roomId: room.id,
    });
    expect(await a.next('typing')).toMatchObject({ userId: bob.id, typing: false });
    await a.sent(room, 'bob should not see this');
    expect(await b.send(room, 'still here?')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await b.typing(room, true)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await b.join(room)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // Alice's marker is received by alice; bob got nothing after the leave.
    await a.next('message', (m) => m.text === 'bob should not see this');
    expect(b.pending('message').filter((m) => m.text === 'bob should not see this')).toEqual([]);
  });
});

describe('robustness', () => {
  it('survives a corpus of malformed payloads and unknown events and keeps serving', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await connect(alice);
    await a.joined(room);
    const corpus: unknown[] = [
      undefined,
      null,
      0,
      -1,
      'string',
      true,
      [],
      [room.id],
      {},
      { roomId: null },
      { roomId: 42 },
      { roomId: { $ne: '' } },
      { roomId: room.id, text: null },
      { roomId: room.id, text: ['a'] },
      { roomId: room.id, text: { toString: 'x' } },
      { roomId: room.id, text: 'a\u0000b' },
      { roomId: room.id, text: '\ud800' },
      { roomId: room.id, text: 'x'.repeat(60_000) },
      { roomId: 'x'.repeat(10_000), text: 'hi' },
      { roomId: room.id, sinceSeq: -5 },
      { roomId: room.id, sinceSeq: 1.5 },
      { roomId: room.id, sinceSeq: '3' },
      { roomId: room.id, typing: 'yes' },
      { __proto__: { roomId: room.id }, text: 'proto' },
      { constructor: { prototype: { polluted: true } } },
      Buffer.from('binary where text belongs'),
      { roomId: room.id, text: Buffer.from('bytes') },
    ];
    for (const event of ['join', 'leave', 'message', 'typing']) {
      for (const payload of corpus) {
        const ack = await a.emit(event as 'join', payload);
        if (event === 'leave' && !ack.ok) expect(ack.error.code).toBe('invalid_request');
        if (event !== 'leave')
          expect(ack, `${event} ${String(payload).slice(0, 40)}`).toMatchObject({ ok: false });
        if (!ack.ok) expect(['invalid_request', 'forbidden']).toContain(ack.error.code);
      }
      // Events without an ack, with extra arguments, and unknown events.
      a.raw.emit(event, { roomId: room.id }, 'extra', 1);
      a.raw.emit(event);
    }
    a.raw.emit('no-such-event', { a: 1 });
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    await a.joined(room); // the ack-less `leave` above took the socket out of the room
    const ok = await a.sent(room, 'still alive');
    expect(ok.text).toBe('still alive');
    expect((await fetch(`${world.url}/healthz`)).status).toBe(200);
  });

  it('drops a connection that sends more than 64 KiB in one packet, and the server keeps serving', async () => {
    const alice = await world.user();
    const room = await world.room(alice);
    const big = await connect(alice);
    const gone = big.disconnected();
    big.raw.emit('message', { roomId: room.id, text: 'x'.repeat(70 * 1024) });
    expect(await gone).toBe('transport close');
    const a = await connect(alice);
    await a.joined(room);
    expect((await a.sent(room, 'fine')).seq).toBe(1);
  });

  it('caps the sockets of one user', async () => {
    const capped = await startWorld({ MAX_SOCKETS_PER_USER: '2' });
    try {
      const alice = await capped.user();
      const s1 = await alice.connect();
      const s2 = await alice.connect();
      await expect(alice.connect()).rejects.toMatchObject({ message: 'rate_limited' });
      s1.close();
      // The closed socket's slot frees when the server has seen the disconnect.
      await waitUntil(
        'a socket slot frees',
        async () => {
          (await alice.connect()).close();
          return true;
        },
        5_000,
        20,
      );
      s2.close();
    } finally {
      await capped.close();
    }
  });
});

describe('rate limits', () => {
  it('applies the default per-socket limit of 10 messages a second', async () => {
    const defaults = await startWorld();
    try {
      const alice = await defaults.user();
      const room = await defaults.room(alice);
      const a = await alice.connect();
      await a.joined(room);
      const acks = [];
      for (let i = 0; i < 11; i++) acks.push(await a.send(room, `burst ${i}`));
      expect(acks.slice(0, 10).every((x) => x.ok)).toBe(true);
      expect(acks[10]).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      a.close();
    } finally {
      await defaults.close();
    }
  });

  it('refuses sends over the per-socket limit with retryAfterMs, storing nothing and taking no seq', async () => {
    const limited = await startWorld({
      RATE_LIMIT_MESSAGE_PER_SECOND: '1000',
      RATE_LIMIT_MESSAGE_PER_10_SECONDS: '3',
      RATE_LIMIT_TYPING_PER_SECOND: '2',
      RATE_LIMIT_TYPING_PER_10_SECONDS: '100',
    });
    try {
      const alice = await limited.user();
      const room = await limited.room(alice);
      const a = await alice.connect();
      await a.joined(room);
      for (let i = 1; i <= 3; i++) expect((await a.sent(room, `ok ${i}`)).seq).toBe(i);
      const refused = await a.send(room, 'too many');
      expect(refused).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      if (!refused.ok) {
        expect(refused.error.retryAfterMs).toBeGreaterThan(0);
        expect(refused.error.retryAfterMs).toBeLessThanOrEqual(10_000);
      }
      // Typing has its own limit, untouched by messages.
      expect(await a.typing(room, true)).toEqual({ ok: true });
      expect(await a.typing(room, true)).toEqual({ ok: true });
      expect(await a.typing(room, true)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
      const history = await alice.api.history({ roomId: room.id });
      expect(history.body.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
      if (usesRedis) {
        // Per user, shared by every instance: in Redis. The per-socket budget is kept in
        // memory (realtime/event-budget.ts), so the refused send cost Redis nothing.
        const redis = limited.services.redis!;
        expect(await redis.get(`ratelimit:${a.socket.id}:message:10000`)).toBeNull();
        expect(Number(await redis.get(`ratelimit:user:${alice.id}:message:10000`))).toBe(3);
      }

      // Per user: twice the per-socket limit (6) across sockets.
      const a2 = await alice.connect();
      await a2.joined(room);
      const a3 = await alice.connect();
      await a3.joined(room);
      const more = [];
      for (let i = 0; i < 3; i++) more.push(await a2.send(room, `a2 ${i}`));
      expect(more.map((x) => x.ok)).toEqual([true, true, true]);
      expect(await a3.send(room, 'over the user limit')).toMatchObject({
        ok: false,
        error: { code: 'rate_limited' },
      });
      for (const c of [a, a2, a3]) c.close();
    } finally {
      await limited.close();
    }
  });
});

describe('when a bus event is lost', () => {
  it('the heartbeat sweep still disconnects revoked sessions and removes former members', async () => {
    const quick = await startWorld({ ...BULK_LIMITS, PRESENCE_HEARTBEAT_MS: '500', PRESENCE_TTL_MS: '1500' });
    try {
      const alice = await quick.user();
      const bob = await quick.user();
      const room = await quick.room(alice, bob);
      const a = await alice.connect();
      const b = await bob.connect();
      await a.joined(room);
      await b.joined(room);
      const { db, config } = quick.server.services;
      // Straight to the database, as if the REST tier's publish had never reached us.
      await leaveRoomInDb(db, room.id, bob.id);
      expect(await a.next('presence', (p) => p.users.length === 1)).toEqual({
        roomId: room.id,
        users: [{ id: alice.id, name: alice.name }],
      });
      expect(await b.send(room, 'gone?')).toMatchObject({ ok: false, error: { code: 'forbidden' } });

      const gone = a.disconnected();
      await revokeSession(db, await verifySession(config.auth, db, alice.token));
      expect(await gone).toBe('io server disconnect');
      b.close();
    } finally {
      await quick.close();
    }
  });
});

describe('metrics', () => {
  it('counts sockets, events by result and ack latency', async () => {
    const scrape = async () => (await fetch(`${world.url}/metrics`)).text();
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? 0 : Number(line.slice(series.length + 1));
    };
    const series = [
      'parley_socket_events_total{event="message",result="ok"}',
      'parley_socket_events_total{event="join",result="forbidden"}',
      'parley_message_ack_seconds_count',
      'parley_persist_batch_size_count',
    ];
    const before = await scrape();
    const { room, a } = await aliceAndBobJoined();
    await a.sent(room, 'counted once');
    await a.sent(room, 'counted twice');
    const stranger = await world.user();
    const strangersRoom = await world.room(stranger);
    expect((await a.join(strangersRoom)).ok).toBe(false);
    const after = await scrape();
    const grew = series.map((s) => value(after, s) - value(before, s));
    // Two sends acked ok, one join refused; each ack observed once; at least one commit.
    expect(grew[0]).toBe(2);
    expect(grew[1]).toBe(1);
    expect(grew[2]).toBe(2);
    expect(grew[3]).toBeGreaterThanOrEqual(1);
    expect(value(after, 'parley_sockets_connected')).toBeGreaterThanOrEqual(2);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
