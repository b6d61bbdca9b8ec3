import { beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent } from '../../core/redis/bus.ts';
import type { Member, Room } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, testConfig, uniqueName } from '../../test/support.ts';

/** `POST /api/rooms/direct`: one room per pair of users, whoever asks, however concurrently. */
let services: Services;
let transport: FetchLike;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
});

const account = async (prefix = 'dm', t: FetchLike = transport) => {
  const a = new TestAccount(t, uniqueName(prefix));
  await a.register();
  return a;
};
const open = (who: TestAccount, username: string) =>
  who.request<{ room: Room; error: { code: string } }>('POST', '/api/rooms/direct', { username });
const members = async (who: TestAccount, room: Room) =>
  (await who.request<{ members: Member[] }>('GET', `/api/rooms/${room.id}/members`)).body.members;

describe('direct rooms', () => {
  it('201 the first time, 200 with the same room afterwards, whichever of the two asks', async () => {
    const [alice, bob] = [await account(), await account()];
    const first = await open(alice, bob.username!.toUpperCase());
    expect(first.status).toBe(201);
    const name = [alice.username!, bob.username!].sort().join(', ');
    expect(first.body.room).toEqual({
      id: expect.any(String),
      name,
      createdAt: expect.any(String),
      lastSeq: 0,
      lastVersion: 0,
      kind: 'direct',
      ownerId: null,
    });
    const again = await open(alice, bob.username!);
    expect(again.status).toBe(200);
    expect(again.body.room).toEqual(first.body.room);
    const theirs = await open(bob, alice.username!);
    expect(theirs.status).toBe(200);
    expect(theirs.body.room).toEqual(first.body.room);
    // Exactly the two of them, both plain members (a direct room has no owner).
    expect((await members(bob, first.body.room)).map((m) => [m.userId, m.role]).sort()).toEqual(
      [
        [alice.user!.id, 'member'],
        [bob.user!.id, 'member'],
      ].sort(),
    );
    const row = await services.db.prisma.room.findUnique({ where: { id: first.body.room.id } });
    expect(row?.directKey).toBe([alice.user!.id, bob.user!.id].sort().join(':'));
    // Listed among each one's rooms, like any room.
    const listed = await bob.request<{ rooms: Room[] }>('GET', '/api/rooms');
    expect(listed.body.rooms.map((r) => r.id)).toContain(first.body.room.id);
  });

  it('concurrent first opens from both sides make one room with two members', async () => {
    for (let round = 0; round < 3; round++) {
      const [alice, bob] = [await account(), await account()];
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          i % 2 ? open(alice, bob.username!) : open(bob, alice.username!),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([...Array(11).fill(200), 201]);
      expect(new Set(answers.map((a) => a.body.room.id)).size).toBe(1);
      expect(await members(alice, answers[0]!.body.room)).toHaveLength(2);
      const rooms = await services.db.prisma.room.count({
        where: { directKey: [alice.user!.id, bob.user!.id].sort().join(':') },
      });
      expect(rooms).toBe(1);
    }
  });

  it('publishes member.joined for both on creation, and only for whoever is added back later', async () => {
    const [alice, bob] = [await account(), await account()];
    const seen: BusEvent[] = [];
    // With Redis the bus is shared with the other test files running meanwhile.
    const ours = new Set([alice.user!.id, bob.user!.id]);
    const off = services.bus.subscribe((e) => {
      if (e.type === 'member.joined' && ours.has(e.userId)) seen.push(e);
    });
    try {
      const { room } = (await open(alice, bob.username!)).body;
      await expect
        .poll(() =>
          seen
            .filter((e) => e.type === 'member.joined')
            .map((e) => (e as { userId: string }).userId)
            .sort(),
        )
        .toEqual([alice.user!.id, bob.user!.id].sort());
      expect(seen.find((e) => e.type === 'member.joined')).toMatchObject({
        room: { id: room.id, kind: 'direct' },
      });
      seen.length = 0;
      await open(bob, alice.username!);
      // Leaving a direct room is allowed; opening it again (either side) adds the leaver back.
      expect((await bob.request('DELETE', `/api/rooms/${room.id}/members/me`)).status).toBe(204);
      expect((await bob.request('GET', `/api/rooms/${room.id}`)).status).toBe(404);
      const back = await open(alice, bob.username!);
      expect(back.status).toBe(200);
      expect(back.body.room.id).toBe(room.id);
      await expect
        .poll(() => seen.filter((e) => e.type === 'member.joined'))
        .toEqual([{ type: 'member.joined', room: back.body.room, userId: bob.user!.id }]);
      expect(await members(bob, room)).toHaveLength(2);
    } finally {
      off();
    }
  });

  it('cannot be added to (403), renamed (403), or have members removed (403)', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const { room } = (await open(alice, bob.username!)).body;
    const add = await alice.addMember(room.id, carol.username!);
    expect(add.status).toBe(403);
    expect((add.body as unknown as { error: { code: string } }).error.code).toBe('forbidden');
    // Forbidden before any lookup: an unknown name answers the same.
    expect((await alice.addMember(room.id, uniqueName('ghost'))).status).toBe(403);
    const renamed = await alice.request<{ error: { code: string } }>('PATCH', `/api/rooms/${room.id}`, {
      name: 'ours',
    });
    expect(renamed.status).toBe(403);
    expect(renamed.body.error.code).toBe('forbidden');
    expect((await alice.request('DELETE', `/api/rooms/${room.id}/members/${bob.user!.id}`)).status).toBe(403);
    expect(await members(alice, room)).toHaveLength(2);
    // A stranger still cannot tell it exists.
    expect((await carol.addMember(room.id, carol.username!)).status).toBe(404);
  });

  it('a direct room with oneself is 400 invalid_request; an unknown user 404; a bad body 400', async () => {
    const alice = await account();
    const self = await open(alice, alice.username!.toUpperCase());
    expect(self.status).toBe(400);
    expect(self.body.error.code).toBe('invalid_request');
    const ghost = await open(alice, uniqueName('ghost'));
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe('not_found');
    for (const body of [{}, { username: '  ' }, { username: 'x', extra: 1 }, { username: 7 }])
      expect((await alice.request('POST', '/api/rooms/direct', body)).status, JSON.stringify(body)).toBe(400);
    expect(
      (await new TestAccount(transport).request('POST', '/api/rooms/direct', { username: 'x' })).status,
    ).toBe(401);
  });

  it("new members' markers: both start at 0 in a new room, a leaver who comes back starts at lastSeq", async () => {
    const { appendMessages } = await import('../../core/messages/messages.ts');
    const [alice, bob] = [await account(), await account()];
    const { room } = (await open(alice, bob.username!)).body;
    await appendMessages(services.db, room.id, [
      { userId: alice.user!.id, name: alice.username!, text: 'hi', clientMsgId: null, attachmentId: null },
    ]);
    await bob.request('DELETE', `/api/rooms/${room.id}/members/me`);
    await open(bob, alice.username!);
    expect((await members(alice, room)).map((m) => [m.userId, m.lastReadSeq]).sort()).toEqual(
      [
        [alice.user!.id, 0],
        [bob.user!.id, 1],
      ].sort(),
    );
  });

  it('is throttled like adding a member: unknown names per caller, sharing its budget', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({ RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS: '3' }),
    });
    const t: FetchLike = (p, i) => app.request(p, i);
    const alice = await account('thr', t);
    const real = await account('thr', t);
    const room = await alice.createRoom('shared budget');
    expect((await alice.addMember(room.id, uniqueName('ghost'))).status).toBe(404);
    expect((await open(alice, uniqueName('ghost'))).status).toBe(404);
    expect((await open(alice, real.username!)).status).toBe(201); // real names are given back
    expect((await open(alice, uniqueName('ghost'))).status).toBe(404);
    const blocked = await open(alice, real.username!);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await alice.addMember(room.id, real.username!)).status).toBe(429);
  });
});
