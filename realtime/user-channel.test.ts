import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPresence, RedisPresence, type Presence } from '../core/redis/presence.ts';
import type { Room } from '../core/schemas.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { closeRedis } from '../core/redis/connection.ts';
import { isolatedRedis, sharedServices, usesRedis } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';

/**
 * The user's channel: `room_added`, `room_removed`, `room_updated`, `activity` and
 * `user_online` reach every socket of the user, joined to the room or not, exactly once. With
 * Redis, two instances share one database and Redis, and each user's sockets are spread over
 * both (REST calls go to the first); embedded, both "instances" are the one server.
 */
const HEARTBEAT_MS = 500;
const TTL_MS = 1_500;
/** Long enough for a duplicate or a stray event to have arrived if one were sent. */
const QUIET_MS = 400;

let one: TestWorld;
let two: TestWorld;
let presence: Presence;
let presenceRedis: Redis | undefined;
const open: ChatClient[] = [];

beforeAll(async () => {
  const base = await sharedServices();
  // Short presence timings so a vanished socket's online entry is pruned within a test; under
  // a key prefix of its own, or these instances would prune other files' online entries.
  if (usesRedis) presenceRedis = await isolatedRedis('user-channel');
  presence = presenceRedis ? new RedisPresence(presenceRedis, TTL_MS) : new MemoryPresence(TTL_MS);
  const services = { ...base, presence };
  const env = {
    PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
    PRESENCE_TTL_MS: String(TTL_MS),
    RATE_LIMIT_MESSAGE_PER_SECOND: '1000',
    RATE_LIMIT_MESSAGE_PER_10_SECONDS: '10000',
  };
  one = await startWorld(env, services);
  two = usesRedis ? await startWorld(env, services) : one;
}, 180_000);
afterAll(async () => {
  for (const c of open) c.close();
  await one?.close();
  if (two !== one) await two?.close();
  if (presenceRedis) await closeRedis(presenceRedis);
});

const on = async (world: TestWorld, user: TestUser) => {
  const c = await user.connect({}, world.url);
  open.push(c);
  return c;
};
/** One socket of the user on each instance. */
const everywhere = async (user: TestUser) => [await on(one, user), await on(two, user)];
const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS));

const rest = (user: TestUser, method: string, path: string, body?: unknown) =>
  user.api.request<{ room: Room }>(method, path, body);

describe("the user's channel", () => {
  it('room_added reaches every socket of the creator, and of a member when added, once each', async () => {
    const [alice, bob, carol] = [await one.user(), await one.user(), await one.user()];
    const as = await everywhere(alice);
    const bs = await everywhere(bob);
    const cs = await everywhere(carol);
    const room = await alice.api.createRoom('announced');
    for (const c of as) expect(await c.next('room_added')).toEqual({ room });
    expect((await alice.api.addMember(room.id, bob.name)).status).toBe(201);
    for (const c of bs)
      expect((await c.next('room_added')).room).toMatchObject({ id: room.id, name: 'announced' });
    // Adding an existing member again announces nothing.
    expect((await alice.api.addMember(room.id, bob.name)).status).toBe(200);
    await quiet();
    for (const c of [...as, ...bs, ...cs]) expect(c.pending('room_added')).toEqual([]);
  });

  it('a direct room is room_added for both of its users', async () => {
    const [alice, bob] = [await one.user(), await one.user()];
    const as = await everywhere(alice);
    const bs = await everywhere(bob);
    const res = await rest(alice, 'POST', '/api/rooms/direct', { username: bob.name });
    expect(res.status).toBe(201);
    for (const c of [...as, ...bs]) expect(await c.next('room_added')).toEqual({ room: res.body.room });
    expect(res.body.room.kind).toBe('direct');
    // Opening it again adds nobody: no announcement.
    expect((await rest(bob, 'POST', '/api/rooms/direct', { username: alice.name })).status).toBe(200);
    await quiet();
    for (const c of [...as, ...bs]) expect(c.pending('room_added')).toEqual([]);
  });

  it('room_updated on rename reaches every member, joined or not, and nobody else', async () => {
    const [alice, bob, carol] = [await one.user(), await one.user(), await one.user()];
    const room = await one.room(alice, bob);
    const as = await everywhere(alice);
    const bs = await everywhere(bob);
    const cs = await everywhere(carol);
    await bs[0]!.joined(room);
    const res = await rest(alice, 'PATCH', `/api/rooms/${room.id}`, { name: 'new name' });
    expect(res.status).toBe(200);
    for (const c of [...as, ...bs]) expect(await c.next('room_updated')).toEqual({ room: res.body.room });
    expect(res.body.room.name).toBe('new name');
    await quiet();
    for (const c of [...as, ...bs, ...cs]) expect(c.pending('room_updated')).toEqual([]);
  });

  it('the owner leaving: room_removed to all of their sockets, room_updated with the new owner to the rest', async () => {
    const [alice, bob, carol] = [await one.user(), await one.user(), await one.user()];
    const room = await one.room(alice, bob, carol);
    const as = await everywhere(alice);
    const bs = await everywhere(bob);
    const cs = await everywhere(carol);
    await as[1]!.joined(room);
    await alice.leaveRoom(room);
    for (const c of as) expect(await c.next('room_removed')).toEqual({ roomId: room.id });
    for (const c of [...bs, ...cs]) {
      expect((await c.next('room_updated')).room).toMatchObject({ id: room.id, ownerId: bob.id });
    }
    await quiet();
    for (const c of as) expect(c.pending('room_updated')).toEqual([]);
    for (const c of [...as, ...bs, ...cs]) expect(c.pending('room_removed')).toEqual([]);
    // The former owner's joined socket is out of the room.
    expect(await as[1]!.send(room, 'still here?')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it("removal by the owner takes the member's sockets out of the room at once, on every instance", async () => {
    const [alice, bob] = [await one.user(), await one.user()];
    const room = await one.room(alice, bob);
    const a = await on(one, alice);
    const bs = await everywhere(bob);
    await a.joined(room);
    for (const b of bs) await b.joined(room);
    await a.next('presence', (p) => p.users.length === 2);
    const res = await alice.api.request('DELETE', `/api/rooms/${room.id}/members/${bob.id}`);
    expect(res.status).toBe(204);
    for (const b of bs) expect(await b.next('room_removed')).toEqual({ roomId: room.id });
    // room_removed comes after the socket left: nothing of the room reaches it from here on.
    expect(await a.next('presence', (p) => p.users.length === 1)).toEqual({
      roomId: room.id,
      users: [{ id: alice.id, name: alice.name }],
    });
    await a.sent(room, 'not for bob');
    await a.next('message', (m) => m.text === 'not for bob');
    for (const b of bs) {
      expect(await b.send(room, 'hello?')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(await b.join(room)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    await quiet();
    for (const b of bs) {
      expect(b.pending('message').filter((m) => m.text === 'not for bob')).toEqual([]);
      expect(b.pending('activity')).toEqual([]);
    }
  });

  it("activity goes to the members' sockets that have not joined the room, once per message", async () => {
    const [alice, bob, carol] = [await one.user(), await one.user(), await one.user()];
    const room = await one.room(alice, bob, carol);
    const [aJoined, aElsewhere] = await everywhere(alice);
    const bs = await everywhere(bob);
    const c = await on(two, carol);
    await aJoined!.joined(room);
    await c.joined(room);
    const sent = await c.sent(room, 'hello');
    const expected = { roomId: room.id, seq: sent.seq, userId: carol.id, ts: sent.ts };
    for (const s of [aElsewhere!, ...bs]) expect(await s.next('activity')).toEqual(expected);
    await aJoined!.next('message', (m) => m.id === sent.id);
    // Once joined, a socket gets the message itself instead.
    await bs[1]!.joined(room);
    const second = await aJoined!.sent(room, 'again');
    expect(await bs[0]!.next('activity')).toMatchObject({ seq: second.seq, userId: alice.id });
    expect(await aElsewhere!.next('activity')).toMatchObject({ seq: second.seq });
    await bs[1]!.next('message', (m) => m.id === second.id);
    await quiet();
    for (const s of [aJoined!, bs[1]!, c]) expect(s.pending('activity')).toEqual([]);
    for (const s of [aElsewhere!, bs[0]!]) expect(s.pending('activity')).toEqual([]);
  });

  it('activity follows membership changes (the member cache hears the bus on every instance)', async () => {
    const [alice, bob, dave] = [await one.user(), await one.user(), await one.user()];
    const room = await one.room(alice, bob);
    const a = await on(one, alice);
    const b = await on(two, bob);
    const d = await on(two, dave);
    await a.joined(room);
    // Warm the caches of both instances: a sender on each.
    const b2 = await on(two, bob);
    await b2.joined(room);
    await a.sent(room, 'warm one');
    await b2.sent(room, 'warm two');
    await b.next('activity');
    await b.next('activity');
    // Dave is added: the next messages, from either instance, reach him as activity.
    expect((await alice.api.addMember(room.id, dave.name)).status).toBe(201);
    await d.next('room_added');
    const fromOne = await a.sent(room, 'for dave too');
    const fromTwo = await b2.sent(room, 'and from two');
    const seqs = [(await d.next('activity')).seq, (await d.next('activity')).seq].sort();
    expect(seqs).toEqual([fromOne.seq, fromTwo.seq].sort());
    // Bob is removed: no more activity for him, from either instance.
    expect((await alice.api.request('DELETE', `/api/rooms/${room.id}/members/${bob.id}`)).status).toBe(204);
    await b.next('room_removed');
    await b2.next('room_removed');
    const after = await a.sent(room, 'bob is gone');
    expect((await d.next('activity')).seq).toBe(after.seq);
    await quiet();
    expect(b.pending('activity').filter((e) => e.seq >= after.seq)).toEqual([]);
  });
});

describe('online anywhere', () => {
  it('user_online goes to the users who share a room, on the first socket and after the last', async () => {
    const [alice, bob, carol] = [await one.user(), await one.user(), await one.user()];
    const room = await one.room(alice, bob);
    const as = await everywhere(alice);
    const cs = await everywhere(carol);
    const b1 = await on(two, bob);
    for (const a of as) expect(await a.next('user_online')).toEqual({ userId: bob.id, online: true });
    // A second socket, and closing one of two: no change, no announcement.
    const b2 = await on(one, bob);
    b1.close();
    await quiet();
    for (const a of as) expect(a.pending('user_online')).toEqual([]);
    // The members list says so too (REST reads the same store).
    const members = await alice.api.rooms.members(room.id);
    expect(members.find((m) => m.userId === bob.id)?.online).toBe(true);
    b2.close();
    for (const a of as) expect(await a.next('user_online')).toEqual({ userId: bob.id, online: false });
    await waitUntil(
      'bob offline in the members list',
      async () => {
        const list = await alice.api.rooms.members(room.id);
        return list.find((m) => m.userId === bob.id)?.online === false;
      },
      5_000,
    );
    await quiet();
    for (const c of cs) expect(c.pending('user_online')).toEqual([]);
    for (const a of as) expect(a.pending('user_online')).toEqual([]);
  });

  it('a burst of arrivals: each user is announced once, to their own room-mates only', async () => {
    const watcher = await one.user();
    const stranger = await one.user();
    const arrivals = await Promise.all(Array.from({ length: 8 }, () => one.user()));
    // The watcher shares a room with the even arrivals only; the stranger with nobody.
    await one.room(watcher, ...arrivals.filter((_, i) => i % 2 === 0));
    await one.room(arrivals[1]!, arrivals[3]!);
    const w = await on(one, watcher);
    const s = await on(two, stranger);
    // All at once, over both instances: their room-mates are looked up together.
    await Promise.all(arrivals.map((u, i) => on(i % 2 === 0 ? one : two, u)));
    const expected = arrivals.filter((_, i) => i % 2 === 0).map((u) => ({ userId: u.id, online: true }));
    const heard = [];
    for (let i = 0; i < expected.length; i++) heard.push(await w.next('user_online'));
    expect(heard).toEqual(expect.arrayContaining(expected));
    await quiet();
    expect(w.pending('user_online')).toEqual([]);
    expect(s.pending('user_online')).toEqual([]);
  });

  it("a crashed instance's sockets go offline once pruned, announced once", async () => {
    const [alice, ghost] = [await one.user(), await one.user()];
    await one.room(alice, ghost);
    const as = await everywhere(alice);
    // An entry as a killed instance leaves it: recorded once, never refreshed or removed.
    expect(await presence.online.connect(ghost.id, 'ghost-socket', Date.now())).toBe(true);
    const started = Date.now();
    for (const a of as) expect(await a.next('user_online')).toEqual({ userId: ghost.id, online: false });
    expect(Date.now() - started).toBeLessThan(TTL_MS + 2 * HEARTBEAT_MS + 1_500);
    await quiet();
    for (const a of as) expect(a.pending('user_online')).toEqual([]);
    expect(await presence.online.among([ghost.id], Date.now())).toEqual(new Set());
  });
});
