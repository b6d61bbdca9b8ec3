import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPresence, presenceKey } from '../core/redis/presence.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { sharedServices, usesRedis } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';

/** Two realtime instances (each with its REST API) sharing one real Redis and one database. */
describe.runIf(usesRedis)('two instances on one Redis', () => {
  let one: TestWorld;
  let two: TestWorld;
  const open: ChatClient[] = [];
  const HEARTBEAT_MS = 500;
  const TTL_MS = 1_000;

  beforeAll(async () => {
    const base = await sharedServices();
    // Short presence timings so a vanished instance's entries are pruned within a test.
    const services = { ...base, presence: new RedisPresence(base.redis!, TTL_MS) };
    const env = {
      PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      PRESENCE_TTL_MS: String(TTL_MS),
      RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
      RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000',
      RATE_LIMIT_REACT_PER_SECOND: '100000',
      RATE_LIMIT_REACT_PER_10_SECONDS: '1000000',
    };
    one = await startWorld(env, services);
    two = await startWorld(env, services);
  }, 180_000);
  afterAll(async () => {
    for (const c of open) c.close();
    await one?.close();
    await two?.close();
  });

  const on = async (world: TestWorld, user: TestUser) => {
    const c = await user.connect({}, world.url);
    open.push(c);
    return c;
  };

  /** Alice and Bob in one room, Alice's socket on instance one, Bob's on instance two. */
  const aliceOnOneBobOnTwo = async () => {
    const alice = await one.user();
    const bob = await one.user();
    const room = await one.room(alice, bob);
    const a = await on(one, alice);
    const b = await on(two, bob);
    await a.joined(room);
    await b.joined(room);
    return { alice, bob, room, a, b };
  };

  it('delivers messages, typing and presence across instances', async () => {
    const alice = await one.user();
    const bob = await one.user();
    const room = await one.room(alice, bob);
    const a = await on(one, alice);
    const b = await on(two, bob);
    await a.joined(room);
    await a.next('presence');
    const joined = await b.joined(room);
    expect(joined.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());
    expect((await a.next('presence')).users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());

    const sent = await a.sent(room, 'across');
    expect(await b.next('message')).toEqual(sent);
    const back = await b.sent(room, 'and back');
    expect(await a.next('message', (m) => m.id === back.id)).toEqual(back);

    await b.typing(room, true);
    expect(await a.next('typing')).toMatchObject({ userId: bob.id, typing: true });
    b.close();
    expect(await a.next('typing')).toMatchObject({ userId: bob.id, typing: false });
    expect(await a.next('presence')).toEqual({
      roomId: room.id,
      users: [{ id: alice.id, name: alice.name }],
    });
  });

  it('does not announce an unchanged set again when a join on the other instance leaves it as it was', async () => {
    const alice = await one.user();
    const bob = await one.user();
    const carol = await one.user();
    const room = await one.room(alice, bob, carol);
    const a = await on(one, alice);
    const b = await on(two, bob);
    await a.joined(room);
    expect((await a.next('presence')).users.map((u) => u.id)).toEqual([alice.id]);
    await b.joined(room);
    const both = [alice.id, bob.id].sort();
    expect((await a.next('presence')).users.map((u) => u.id).sort()).toEqual(both);
    // Alice's own arrival was announced on instance one before Bob joined on two; relayed
    // through Redis it can still reach his socket there just after his join (seen once in CI).
    let first = (await b.next('presence')).users.map((u) => u.id);
    if (first.length === 1 && first[0] === alice.id)
      first = (await b.next('presence')).users.map((u) => u.id);
    expect(first.sort()).toEqual(both);
    // Bob's second tab, on the instance that last announced only Alice: the set is unchanged.
    const b2 = await on(one, bob);
    expect((await b2.joined(room)).users.map((u) => u.id).sort()).toEqual(both);
    // Well past the 50 ms announce window, so a repeat would have gone out by now.
    await new Promise((r) => setTimeout(r, 500));
    // The next presence anyone gets is the next real change, not a repeat of the same set.
    const c = await on(two, carol);
    await c.joined(room);
    const all = [alice.id, bob.id, carol.id].sort();
    for (const client of [a, b, b2])
      expect((await client.next('presence')).users.map((u) => u.id).sort()).toEqual(all);
    // And that change, too, is announced once, though both instances have sockets in the room.
    c.close();
    for (const client of [a, b, b2])
      expect((await client.next('presence')).users.map((u) => u.id).sort()).toEqual(both);
    expect([...a.pending('presence'), ...b.pending('presence'), ...b2.pending('presence')]).toEqual([]);
  });

  it('keeps seq gap-free with senders on both instances, and everyone receives every message once', async () => {
    const { room, a, b } = await aliceOnOneBobOnTwo();
    const N = 20;
    const acks = await Promise.all([
      ...Array.from({ length: N }, (_, i) => a.sent(room, `a${i}`)),
      ...Array.from({ length: N }, (_, i) => b.sent(room, `b${i}`)),
    ]);
    expect(acks.map((m) => m.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 2 * N }, (_, i) => i + 1),
    );
    for (const c of [a, b]) {
      const seqs = [];
      for (let i = 0; i < 2 * N; i++) seqs.push((await c.next('message')).seq);
      // Across instances two batches may arrive in either order (see docs/delivery.md).
      expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * N }, (_, i) => i + 1));
    }
  });

  it('an edit, a reaction and a delete on one instance reach the other as message_updated', async () => {
    const { bob, room, a, b } = await aliceOnOneBobOnTwo();
    const sent = await a.sent(room, 'draft');
    await b.next('message', (m) => m.id === sent.id);
    const edited = await a.changed('edit', room, sent.id, { text: 'final' });
    expect(await b.next('message_updated')).toEqual(edited);
    const reacted = await b.changed('react', room, sent.id, { emoji: '👍', on: true });
    expect(reacted.reactions).toEqual([{ emoji: '👍', count: 1, userIds: [bob.id] }]);
    expect(await a.next('message_updated', (m) => m.version === reacted.version)).toEqual(reacted);
    const tomb = await a.changed('delete', room, sent.id);
    expect(await b.next('message_updated', (m) => m.version === tomb.version)).toEqual(tomb);
    // Concurrent reactions from both instances converge on one state everywhere.
    const emoji = [...'😀😁😂🤣😃'];
    const other = await a.sent(room, 'vote');
    await Promise.all(
      emoji.flatMap((e) => [
        a.change('react', room, other.id, { emoji: e, on: true }),
        b.change('react', room, other.id, { emoji: e, on: true }),
      ]),
    );
    const final = (await bob.api.history({ roomId: room.id })).body.messages.at(-1)!;
    expect(final.reactions.map((r) => r.count)).toEqual([2, 2, 2, 2, 2]);
    for (const c of [a, b]) {
      await waitUntil(
        'converged',
        () => c.seen.get(room.id)?.get(other.seq)?.version === final.version,
        5_000,
      );
      expect(c.seen.get(room.id)!.get(other.seq)).toEqual(final);
    }
  });

  it('logout on one instance disconnects that session on the other, and only that session', async () => {
    const alice = await one.user();
    const onTwo = await on(two, alice);
    const firstToken = alice.token;
    // A second login of the same user: another jti, which must stay connected.
    const other = await alice.api.login();
    expect(other.status).toBe(200);
    const second = await on(two, alice);
    expect(alice.token).not.toBe(firstToken);
    const gone = onTwo.disconnected();
    // Log out the first session (not the cookie the client now holds).
    const res = await alice.api.request('POST', '/api/auth/logout', undefined, {
      authorization: `Bearer ${firstToken}`,
    });
    expect(res.status).toBe(204);
    expect(await gone).toBe('io server disconnect');
    expect(second.socket.connected).toBe(true);
  });

  it('leaving over REST on one instance removes the sockets on the other from the room at once', async () => {
    const { alice, bob, room, a, b } = await aliceOnOneBobOnTwo();
    await bob.leaveRoom(room);
    expect(await a.next('presence', (p) => p.users.length === 1)).toEqual({
      roomId: room.id,
      users: [{ id: alice.id, name: alice.name }],
    });
    await a.sent(room, 'not for bob');
    await a.next('message', (m) => m.text === 'not for bob');
    expect(await b.send(room, 'hello?')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(b.pending('message').filter((m) => m.text === 'not for bob')).toEqual([]);
  });

  it('prunes presence entries nobody refreshes any more (a crashed instance) and announces it', async () => {
    const base = await sharedServices();
    const alice = await one.user();
    const ghost = await one.user();
    const room = await one.room(alice, ghost);
    // An entry as a killed instance leaves it: written once, never refreshed or removed.
    await base.redis!.hset(
      presenceKey(room.id),
      'ghost-socket-id',
      JSON.stringify({ id: ghost.id, name: ghost.name, ts: Date.now() }),
    );
    const a = await on(two, alice);
    const joined = await a.joined(room);
    expect(joined.users.map((u) => u.id).sort()).toEqual([alice.id, ghost.id].sort());
    // The contract's layout: field = socket id, value = {id, name, ts}.
    const mine = JSON.parse((await base.redis!.hget(presenceKey(room.id), a.socket.id!))!) as Record<
      string,
      unknown
    >;
    expect(mine).toEqual({ id: alice.id, name: alice.name, ts: expect.any(Number) });
    const started = Date.now();
    const after = await a.next('presence', (p) => !p.users.some((u) => u.id === ghost.id));
    expect(after.users).toEqual([{ id: alice.id, name: alice.name }]);
    expect(Date.now() - started).toBeLessThan(TTL_MS + 2 * HEARTBEAT_MS + 1_000);
    expect(await base.redis!.hexists(presenceKey(room.id), 'ghost-socket-id')).toBe(0);
  });
});
