import { beforeAll, describe, expect, it } from 'vitest';
import { appendMessages } from '../../core/messages/messages.ts';
import type { BusEvent } from '../../core/redis/bus.ts';
import type { Member, Room } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { closeRedis } from '../../core/redis/connection.ts';
import { MemoryPresence, RedisPresence } from '../../core/redis/presence.ts';
import { isolatedRedis, restApp, sharedServices, uniqueName, usesRedis } from '../../test/support.ts';

/**
 * Roles over REST: the owner renames the room and removes members, ownership passes to the
 * earliest-joined remaining member when the owner leaves (also under concurrency), new members
 * start with everything before them read, and members carry `role` and `online`.
 */
let services: Services;
let transport: FetchLike;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
});

const account = async (prefix = 'role', t: FetchLike = transport) => {
  const a = new TestAccount(t, uniqueName(prefix));
  await a.register();
  return a;
};

/** A room owned by the first, with the others added in order (so joinedAt follows it). */
async function roomOf(owner: TestAccount, ...others: TestAccount[]): Promise<Room> {
  const room = await owner.createRoom('roles');
  for (const o of others) expect((await owner.addMember(room.id, o.username!)).status).toBe(201);
  return room;
}

const members = async (who: TestAccount, room: Room) =>
  (await who.request<{ members: Member[] }>('GET', `/api/rooms/${room.id}/members`)).body.members;
const roomAs = async (who: TestAccount, room: Room) =>
  (await who.request<{ room: Room }>('GET', `/api/rooms/${room.id}`)).body.room;
const rename = (who: TestAccount, room: Room, name: unknown) =>
  who.request<{ room: Room; error: { code: string } }>('PATCH', `/api/rooms/${room.id}`, { name });
const remove = (who: TestAccount, room: Room, userId: string) =>
  who.request<{ error: { code: string } }>(
    'DELETE',
    `/api/rooms/${room.id}/members/${encodeURIComponent(userId)}`,
  );
const leave = (who: TestAccount, room: Room) => who.request('DELETE', `/api/rooms/${room.id}/members/me`);

/**
 * Bus events about these users published while `run` runs (the realtime tier acts on exactly
 * these). With Redis the bus is shared with the other test files running meanwhile, and pub/sub
 * delivers after the publish resolves: markers published on the same connection bracket the run
 * (Redis keeps one connection's messages in order), so neither the set-up's events still in
 * flight nor a late event of the run itself are missed or miscounted.
 */
async function published(run: () => Promise<unknown>, ...about: TestAccount[]): Promise<BusEvent[]> {
  const ids = new Set(about.map((a) => a.user!.id));
  const concerns = (e: BusEvent) =>
    e.type === 'room.updated' ? e.userIds.some((id) => ids.has(id)) : ids.has(e.userId);
  let recording = false;
  const seen: BusEvent[] = [];
  const markers = new Set<string>();
  const off = services.bus.subscribe((e) => {
    if (e.type === 'member.left' && e.roomId.startsWith('bus-marker-')) markers.add(e.roomId);
    else if (recording && concerns(e)) seen.push(e);
  });
  /** Publishes a marker (no such room or user: the realtime tier ignores it) until it comes back. */
  const mark = async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const id = uniqueName('bus-marker-');
      await services.bus.publish({ type: 'member.left', roomId: id, userId: id });
      // The first marker may go out before the subscription is active: then send another.
      for (let wait = 0; wait < 20 && !markers.has(id); wait++) await new Promise((r) => setTimeout(r, 5));
      if (markers.has(id)) return;
    }
    throw new Error('bus markers never came back');
  };
  try {
    await mark();
    recording = true;
    await run();
    await mark();
  } finally {
    off();
  }
  return seen;
}

describe('roles', () => {
  it("the creator is the owner: room.ownerId and the members' roles say so", async () => {
    const [alice, bob] = [await account(), await account()];
    const room = await roomOf(alice, bob);
    expect(room.ownerId).toBe(alice.user!.id);
    expect((await members(bob, room)).map((m) => [m.userId, m.role])).toEqual([
      [alice.user!.id, 'owner'],
      [bob.user!.id, 'member'],
    ]);
  });

  it('the owner renames the room (trimmed, validated like a new name); the members hear room.updated', async () => {
    const [alice, bob] = [await account(), await account()];
    const room = await roomOf(alice, bob);
    let res!: Awaited<ReturnType<typeof rename>>;
    const events = await published(async () => (res = await rename(alice, room, '  Renamed  ')), alice, bob);
    expect(res.status).toBe(200);
    expect(res.body.room).toEqual({ ...room, name: 'Renamed' });
    expect((await roomAs(bob, room)).name).toBe('Renamed');
    const updated = events.filter((e) => e.type === 'room.updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ room: { id: room.id, name: 'Renamed' } });
    expect((updated[0] as { userIds: string[] }).userIds.sort()).toEqual(
      [alice.user!.id, bob.user!.id].sort(),
    );
    for (const bad of ['', '   ', 'x'.repeat(81), 7, 'a\u0007b'])
      expect((await rename(alice, room, bad)).status, JSON.stringify(bad)).toBe(400);
    expect((await alice.request('PATCH', `/api/rooms/${room.id}`, { name: 'x', extra: 1 })).status).toBe(400);
  });

  it('a member who is not the owner cannot rename (403 forbidden); a stranger gets 404', async () => {
    const [alice, bob, mallory] = [await account(), await account(), await account()];
    const room = await roomOf(alice, bob);
    const res = await rename(bob, room, 'mine now');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect((await rename(mallory, room, 'mine now')).status).toBe(404);
    expect((await rename(mallory, { ...room, id: 'no-such-room' }, 'x')).status).toBe(404);
    expect((await roomAs(alice, room)).name).toBe('roles');
  });

  it('the owner removes a member: 204, member.left published, the room is gone for them', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const room = await roomOf(alice, bob, carol);
    let status = 0;
    const events = await published(
      async () => (status = (await remove(alice, room, bob.user!.id)).status),
      alice,
      bob,
      carol,
    );
    expect(status).toBe(204);
    expect(events).toEqual([{ type: 'member.left', roomId: room.id, userId: bob.user!.id }]);
    expect((await bob.request('GET', `/api/rooms/${room.id}`)).status).toBe(404);
    expect((await members(alice, room)).map((m) => m.userId)).toEqual([alice.user!.id, carol.user!.id]);
    // Removing again, or someone who never was a member: 404.
    expect((await remove(alice, room, bob.user!.id)).status).toBe(404);
    expect((await remove(alice, room, 'not-a-user')).status).toBe(404);
    expect((await remove(alice, room, '\u0000')).status).toBe(404);
  });

  it('a member who is not the owner cannot remove anyone (403); a non-member gets 404', async () => {
    const [alice, bob, carol, mallory] = [await account(), await account(), await account(), await account()];
    const room = await roomOf(alice, bob, carol);
    const res = await remove(bob, room, carol.user!.id);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect((await remove(bob, room, alice.user!.id)).status).toBe(403);
    expect((await remove(mallory, room, bob.user!.id)).status).toBe(404);
    expect((await members(alice, room)).map((m) => m.userId)).toHaveLength(3);
  });

  it("DELETE members/<one's own id> is leaving, for the owner too (ownership passes on)", async () => {
    const [alice, bob] = [await account(), await account()];
    const room = await roomOf(alice, bob);
    expect((await remove(bob, room, bob.user!.id)).status).toBe(204);
    expect((await members(alice, room)).map((m) => m.userId)).toEqual([alice.user!.id]);
    const carol = await account();
    await alice.addMember(room.id, carol.username!);
    expect((await remove(alice, room, alice.user!.id)).status).toBe(204);
    expect((await roomAs(carol, room)).ownerId).toBe(carol.user!.id);
  });

  it('when the owner leaves, ownership passes to the earliest-joined remaining member; they hear room.updated', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const room = await roomOf(alice, bob, carol);
    let status = 0;
    const events = await published(
      async () => (status = (await leave(alice, room)).status),
      alice,
      bob,
      carol,
    );
    expect(status).toBe(204);
    expect(events.find((e) => e.type === 'member.left')).toEqual({
      type: 'member.left',
      roomId: room.id,
      userId: alice.user!.id,
    });
    const updated = events.find((e) => e.type === 'room.updated') as Extract<
      BusEvent,
      { type: 'room.updated' }
    >;
    expect(updated.room).toEqual({ ...room, ownerId: bob.user!.id });
    expect(updated.userIds.sort()).toEqual([bob.user!.id, carol.user!.id].sort());
    expect((await roomAs(carol, room)).ownerId).toBe(bob.user!.id);
    expect((await members(carol, room)).map((m) => [m.userId, m.role])).toEqual([
      [bob.user!.id, 'owner'],
      [carol.user!.id, 'member'],
    ]);
    // The new owner has the rights, the old one's are gone with the membership.
    expect((await rename(bob, room, 'bob runs it')).status).toBe(200);
    expect((await rename(carol, room, 'carol?')).status).toBe(403);
    // A member leaving changes no ownership and publishes no room.updated.
    const again = await published(() => leave(carol, room), alice, bob, carol);
    expect(again.map((e) => e.type)).toEqual(['member.left']);
    // The last member leaving leaves the room without owner (and without members).
    await leave(bob, room);
    const row = await services.db.prisma.room.findUnique({
      where: { id: room.id },
      select: { ownerId: true },
    });
    expect(row?.ownerId).toBeNull();
  });

  it('the owner can delete any message, the new owner too once ownership passed (core/messages/batch.ts)', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const room = await roomOf(alice, bob, carol);
    const { commitBatch } = await import('../../core/messages/batch.ts');
    const sent = await appendMessages(services.db, room.id, [
      { userId: carol.user!.id, name: carol.username!, text: 'one', clientMsgId: null, attachmentId: null },
      { userId: carol.user!.id, name: carol.username!, text: 'two', clientMsgId: null, attachmentId: null },
    ]);
    const ids = sent.map((r) => (r.ok ? r.message.id : ''));
    const del = async (userId: string, messageId: string) =>
      (await commitBatch(services.db, room.id, [{ kind: 'delete', userId, messageId }])).results[0]!;
    expect(await del(bob.user!.id, ids[0]!)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await del(alice.user!.id, ids[0]!)).toMatchObject({ ok: true });
    await leave(alice, room);
    expect(await del(alice.user!.id, ids[1]!)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await del(bob.user!.id, ids[1]!)).toMatchObject({ ok: true });
  });

  it('concurrent departures never leave the room to a non-member or two claims: always the earliest remaining', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => account('heir')));
    const [first, ...rest] = users as [TestAccount, ...TestAccount[]];
    const room = await roomOf(first, ...rest);
    // The owner and the next three in line leave at once, while the owner also removes #5.
    const answers = await Promise.all([
      leave(users[0]!, room),
      leave(users[1]!, room),
      leave(users[2]!, room),
      leave(users[3]!, room),
      remove(users[0]!, room, users[4]!.user!.id),
    ]);
    expect(answers.slice(0, 4).map((a) => a.status)).toEqual([204, 204, 204, 204]);
    // The removal ran before or after the owner left: 204 then, or 404 (no longer a member).
    expect([204, 404]).toContain(answers[4]!.status);
    const left = (
      await services.db.prisma.roomMember.findMany({
        where: { roomId: room.id },
        orderBy: [{ joinedAt: 'asc' }, { id: 'asc' }],
        select: { userId: true },
      })
    ).map((m) => m.userId);
    const { ownerId } = (await services.db.prisma.room.findUnique({ where: { id: room.id } }))!;
    expect(left.length).toBeGreaterThan(0);
    expect(ownerId).toBe(left[0]);
    const roles = (await members(users[5]!, room)).filter((m) => m.role === 'owner');
    expect(roles).toHaveLength(1);
  });

  it('many rounds of the owner and the heir leaving at once: the owner is always a member', async () => {
    for (let round = 0; round < 5; round++) {
      const [a, b, c] = [await account('race'), await account('race'), await account('race')];
      const room = await roomOf(a, b, c);
      await Promise.all([leave(a, room), leave(b, room)]);
      expect((await roomAs(c, room)).ownerId).toBe(c.user!.id);
    }
  });
});

describe('members', () => {
  it("a new member's read marker starts at the room's lastSeq: history before joining is not unread", async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const room = await alice.createRoom('history');
    await appendMessages(
      services.db,
      room.id,
      [1, 2, 3].map((i) => ({
        userId: alice.user!.id,
        name: alice.username!,
        text: `m${i}`,
        clientMsgId: null,
        attachmentId: null,
      })),
    );
    const added = await alice.addMember(room.id, bob.username!);
    expect(added.body.member).toMatchObject({ userId: bob.user!.id, lastReadSeq: 3, role: 'member' });
    await appendMessages(services.db, room.id, [
      { userId: alice.user!.id, name: alice.username!, text: 'm4', clientMsgId: null, attachmentId: null },
    ]);
    await alice.addMember(room.id, carol.username!);
    expect((await members(alice, room)).map((m) => [m.username, m.lastReadSeq])).toEqual([
      [alice.username, 0],
      [bob.username, 3],
      [carol.username, 4],
    ]);
  });

  it('adding publishes member.joined with the room, once (not for an existing member); creating too', async () => {
    const [alice, bob] = [await account(), await account()];
    let room!: Room;
    const created = await published(async () => (room = await alice.createRoom('joined')), alice, bob);
    expect(created).toEqual([{ type: 'member.joined', room, userId: alice.user!.id }]);
    const added = await published(() => alice.addMember(room.id, bob.username!), alice, bob);
    expect(added).toEqual([{ type: 'member.joined', room, userId: bob.user!.id }]);
    expect(await published(() => alice.addMember(room.id, bob.username!), alice, bob)).toEqual([]);
  });

  it('concurrent adds of one user add them once: one 201, the others 200', async () => {
    const [alice, bob] = [await account(), await account()];
    const room = await alice.createRoom('burst');
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => alice.addMember(room.id, bob.username!)),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(7).fill(200), 201]);
    expect(await members(alice, room)).toHaveLength(2);
  });

  it('members carry online: whether the user has a live socket anywhere, from the presence store', async () => {
    // A store of its own: instances of other test files prune the shared one with their TTLs.
    const TTL = 30_000;
    const redis = usesRedis ? await isolatedRedis('roles') : undefined;
    const presence = redis ? new RedisPresence(redis, TTL) : new MemoryPresence(TTL);
    const app = await restApp({ ...services, presence });
    const t: FetchLike = (path, init) => app.request(path, init);
    const [alice, bob] = [await account('on', t), await account('on', t)];
    const room = await roomOf(alice, bob);
    const online = presence.online;
    expect((await members(alice, room)).map((m) => m.online)).toEqual([false, false]);
    await online.connect(bob.user!.id, 'a-socket', Date.now());
    expect((await members(alice, room)).map((m) => m.online)).toEqual([false, true]);
    // POST members answers it too.
    expect((await alice.addMember(room.id, bob.username!)).body.member.online).toBe(true);
    await online.disconnect(bob.user!.id, 'a-socket', Date.now());
    expect((await members(alice, room)).map((m) => m.online)).toEqual([false, false]);
    // An entry nobody refreshed within the TTL (a crashed instance's socket) is not online.
    await online.connect(bob.user!.id, 'stale-socket', Date.now() - TTL - 1_000);
    expect((await members(alice, room)).map((m) => m.online)).toEqual([false, false]);
    expect(await online.prune(Date.now())).toEqual([bob.user!.id]);
    if (redis) await closeRedis(redis);
  });
});
