import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendMessages } from '../core/messages/messages.ts';
import type { Message, Room } from '../core/schemas.ts';
import { startWorld, type TestWorld } from '../test/realtime-support.ts';
import { waitUntil } from '../test/wait.ts';
import {
  ApiError,
  Connection,
  Outbox,
  ParleyClient,
  RoomSync,
  type ChatSocket,
  type ConnectionState,
  type PendingMessage,
} from './index.ts';
import { connectedSocket, nativeClient } from './test-support.ts';

/**
 * The client library against the real all-in-one server on a free port: REST through
 * `hc<AppType>`, a native session by token, typed sockets, and the delivery logic (gap-free
 * catch-up by seq after a disconnect or a hole, outbox retries by clientMsgId).
 */

let world: TestWorld;
const sockets: ChatSocket[] = [];

beforeAll(async () => {
  // A send limit low enough to hit: the outbox must wait out `rate_limited` and retry.
  world = await startWorld({ RATE_LIMIT_MESSAGE_PER_SECOND: '3', RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000' });
}, 180_000);
afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});
afterAll(() => world?.close());

const native = (prefix: string) => nativeClient(world.url, prefix);
const connected = (client: ParleyClient) => connectedSocket(client, sockets);

/** A RoomSync that records what it shows. */
function synced(client: ParleyClient, socket: ChatSocket, room: Room, afterJoin?: () => Promise<void>) {
  const shown: Message[] = [];
  const sync = new RoomSync({
    roomId: room.id,
    socket,
    history: (roomId, cursor) => client.messages.history(roomId, cursor),
    onLoaded: (messages) => shown.push(...messages),
    onNewer: (_received, added) => shown.push(...added),
    afterJoin,
  });
  return { sync, shown, seqs: () => shown.map((m) => m.seq) };
}

/** Sends and waits for the ack, waiting out the (deliberately low) rate limit. */
const send = async (socket: ChatSocket, room: Room, text: string): Promise<Message> => {
  for (;;) {
    const ack = await socket.timeout(10_000).emitWithAck('message', { roomId: room.id, text });
    if (ack.ok) return ack.message;
    if (ack.error.code !== 'rate_limited') throw new Error(`send: ${ack.error.code}`);
    await new Promise((r) => setTimeout(r, ack.error.retryAfterMs ?? 100));
  }
};

describe('REST', () => {
  it('keeps a native session from /api/auth/token and calls every route typed', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    expect(alice.cookie).toBeUndefined();
    expect(alice.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await alice.auth.me()).toEqual(alice.user);

    const room = await alice.rooms.create('library');
    expect(room).toMatchObject({ name: 'library', lastSeq: 0 });
    expect(await alice.rooms.addMember(room.id, bob.user!.username)).toMatchObject({ created: true });
    expect(await alice.rooms.addMember(room.id, bob.user!.username)).toMatchObject({ created: false });
    expect((await bob.rooms.list()).map((r) => r.id)).toContain(room.id);
    expect((await bob.rooms.members(room.id)).map((m) => m.username).sort()).toEqual(
      [alice.user!.username, bob.user!.username].sort(),
    );
    expect(await bob.messages.history(room.id, { afterSeq: 0 })).toEqual({ messages: [], hasMore: false });
    const word = `w${room.id.replace(/-/g, '')}`;
    await appendMessages(
      world.services.db,
      room.id,
      [1, 2, 3].map((n) => ({
        userId: alice.user!.id,
        name: alice.user!.username,
        text: `${word} number ${n}`,
        clientMsgId: null,
        attachmentId: null,
      })),
    );
    const first = await bob.search(`${word} num`, { limit: 2 });
    expect(first.messages.map((m) => m.text)).toEqual([`${word} number 3`, `${word} number 2`]);
    const rest = await bob.search(`${word} num`, { limit: 2, cursor: first.nextCursor!, roomId: room.id });
    expect(rest).toEqual({
      messages: [expect.objectContaining({ text: `${word} number 1` })],
      nextCursor: null,
    });
    await expect(bob.search('?!')).rejects.toMatchObject({ status: 400, code: 'invalid_request' });

    await bob.auth.logout();
    expect(bob.token).toBeUndefined();
  });

  it('answers refusals as ApiError with the code, and 401 on a dead session calls onUnauthorized', async () => {
    const alice = await native('alice');
    const stranger = await native('eve');
    const room = await alice.rooms.create('private');
    await expect(stranger.rooms.get(room.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(alice.rooms.create('')).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    await expect(
      new ParleyClient({ baseUrl: world.url }).auth.login(alice.user!.username, 'wrong!!!'),
    ).rejects.toBeInstanceOf(ApiError);

    let ended = 0;
    const revoked = new ParleyClient({
      baseUrl: world.url,
      token: alice.token,
      onUnauthorized: () => ended++,
    });
    await alice.auth.logout();
    await expect(revoked.rooms.list()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(ended).toBe(1);
    const unreachable = new ParleyClient({ baseUrl: 'http://127.0.0.1:1' });
    await expect(unreachable.auth.me()).rejects.toMatchObject({ status: 0, code: 'network' });
  });
});

describe('RoomSync', () => {
  it('catches up after a disconnect with every message once, in seq order', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    const room = await alice.rooms.create('catch-up');
    await alice.rooms.addMember(room.id, bob.user!.username);
    const a = await connected(alice);
    await a.timeout(10_000).emitWithAck('join', { roomId: room.id });
    for (let i = 1; i <= 3; i++) await send(a, room, `before ${i}`);

    const b = await connected(bob);
    const view = synced(bob, b, room);
    await waitUntil('first page', () => view.sync.ready, 10_000);
    const live = await send(a, room, 'live');
    await waitUntil('live message', () => view.seqs().includes(live.seq), 10_000);

    b.disconnect();
    for (let i = 1; i <= 4; i++) await send(a, room, `while away ${i}`);
    b.connect();
    await waitUntil('caught up', () => view.sync.timeline.newest === 8, 10_000);
    expect(view.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    view.sync.destroy();
  });

  it('fills a hole that a live message reveals, from history by afterSeq', async () => {
    const alice = await native('alice');
    const room = await alice.rooms.create('hole');
    const a = await connected(alice);
    const view = synced(alice, a, room);
    await waitUntil('joined', () => view.sync.joined, 10_000);
    // Committed without a broadcast: only the next live message reveals that they exist.
    const { db } = world.services;
    await appendMessages(
      db,
      room.id,
      [1, 2, 3].map((i) => ({
        userId: alice.user!.id,
        name: 'x',
        text: `quiet ${i}`,
        clientMsgId: null,
        attachmentId: null,
      })),
    );
    await send(a, room, 'reveals the hole');
    await waitUntil('hole filled', () => view.sync.timeline.newest === 4, 10_000);
    expect(view.seqs()).toEqual([1, 2, 3, 4]);
    view.sync.destroy();
  });
});

describe('Outbox', () => {
  it('sends what was written while offline after the join, and waits out rate limits; each stored once', async () => {
    const alice = await native('alice');
    const room = await alice.rooms.create('outbox');
    const a = await connected(alice);
    a.disconnect();
    const changes: [string, PendingMessage['state'] | 'removed'][] = [];
    const room$: { sync?: RoomSync } = {};
    const outbox: Outbox = new Outbox({
      roomId: room.id,
      me: alice.user!,
      canSend: () => room$.sync?.joined ?? false,
      connected: () => a.connected,
      emit: (payload) => a.timeout(10_000).emitWithAck('message', payload),
      onCommitted: (m) => room$.sync?.append([m]),
      onNotJoined: () => room$.sync?.rejoin(),
      onChange: (p, change) => changes.push([p.text, change === 'removed' ? 'removed' : p.state]),
    });
    const { sync } = synced(alice, a, room, () => outbox.flush());
    room$.sync = sync;

    // Six sends, offline: over the limit of 3 a second once they go out.
    for (let i = 1; i <= 6; i++) outbox.add(`offline ${i}`);
    expect(outbox.pending).toHaveLength(6);
    a.connect();
    await waitUntil('all stored', () => outbox.pending.length === 0, 15_000);

    const stored = (await alice.messages.history(room.id, { afterSeq: 0 })).messages;
    // Rate-limited sends are retried each after its own wait: stored once each, not necessarily in order.
    expect(stored.map((m) => m.text).sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `offline ${i}`));
    expect(new Set(stored.map((m) => m.clientMsgId)).size).toBe(6);
    expect(changes.filter(([, c]) => c === 'removed')).toHaveLength(6);
    expect(changes.some(([, c]) => c === 'failed')).toBe(false);
    sync.destroy();
    outbox.destroy();
  });
});

describe('Connection', () => {
  it('reports its state, reconnects after a server-side disconnect, and ends on a revoked session', async () => {
    const alice = await native('alice');
    let ended = 0;
    const conn = new Connection(alice.connect({ transports: ['websocket'], reconnectionDelay: 50 }), {
      onUnauthorized: () => ended++,
    });
    sockets.push(conn.socket);
    const states: ConnectionState[] = [];
    conn.onState((s) => states.push(s));
    await waitUntil('connected', () => conn.connected, 10_000);
    const [server] = await world.server.realtime.io.in(`user:${alice.user!.id}`).fetchSockets();
    server!.disconnect(true);
    await waitUntil('reconnected', () => states.filter((s) => s === 'connected').length === 2, 10_000);
    expect(states).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);

    await alice.auth.logout(); // disconnects its sockets; the next handshake is refused
    await waitUntil('session ended', () => ended === 1, 10_000);
    conn.close();
  });

  it('retries a handshake the server refused as rate_limited once the refusal passes', async () => {
    // One socket per user: the second is refused `rate_limited` (too many connections), which
    // Socket.IO itself never retries.
    const strict = await startWorld({ MAX_SOCKETS_PER_USER: '1' });
    try {
      const alice = await nativeClient(strict.url, 'alice');
      const first = await connectedSocket(alice, sockets);
      const refused: string[] = [];
      const conn = new Connection(alice.connect({ transports: ['websocket'], reconnectionDelay: 50 }), {
        onUnauthorized: () => undefined,
      });
      sockets.push(conn.socket);
      conn.socket.on('connect_error', (err) => refused.push(err.message));
      await waitUntil('refused', () => refused.length > 0, 10_000);
      expect(refused[0]).toBe('rate_limited');
      expect(conn.state).toBe('connecting');
      first.disconnect(); // the slot frees up: the next attempt gets in
      await waitUntil('connected after the refusal', () => conn.state === 'connected', 10_000);
      conn.close();
    } finally {
      await strict.close();
    }
  });

  it('goes offline when the network signal says so, without waiting for the ping timeout, and back when it returns', async () => {
    const alice = await native('alice');
    let online = true;
    const listeners = new Set<(online: boolean) => void>();
    const network = {
      online: () => online,
      subscribe: (fn: (online: boolean) => void) => (listeners.add(fn), () => listeners.delete(fn)),
    };
    const setOnline = (value: boolean) => {
      online = value;
      for (const l of listeners) l(value);
    };
    const conn = new Connection(alice.connect({ transports: ['websocket'], reconnectionDelay: 50 }), {
      onUnauthorized: () => undefined,
      network,
    });
    sockets.push(conn.socket);
    await waitUntil('connected', () => conn.connected, 10_000);
    setOnline(false);
    expect(conn.state).toBe('offline');
    await waitUntil('socket dropped', () => !conn.connected, 2_000);
    setOnline(true);
    await waitUntil('reconnected', () => conn.state === 'connected', 10_000);
    conn.close();
  });
});
