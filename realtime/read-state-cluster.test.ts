import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { sharedServices, usesRedis } from '../test/support.ts';

/** Read receipts and read state with the reader's sockets on two instances sharing one Redis. */
describe.runIf(usesRedis)('read state across two instances', () => {
  let one: TestWorld;
  let two: TestWorld;
  const open: ChatClient[] = [];

  beforeAll(async () => {
    const services = await sharedServices();
    const env = { RATE_LIMIT_MESSAGE_PER_SECOND: '100000', RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000' };
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

  it('a read on one instance reaches the reader’s sockets and the room on the other', async () => {
    const alice = await one.user();
    const bob = await one.user();
    const room = await one.room(alice, bob);
    const a = await on(two, alice); // Alice, joined, on instance two
    await a.joined(room);
    for (let i = 1; i <= 4; i++) await a.sent(room, `m${i}`);
    const phone = await on(one, bob);
    const laptop = await on(two, bob); // not joined: read_state reaches it through Bob's channel
    expect(await phone.read(room, 3)).toEqual({ ok: true, lastReadSeq: 3 });
    const state = { roomId: room.id, lastReadSeq: 3, unread: 1 };
    expect(await laptop.next('read_state', (e) => e.roomId === room.id)).toEqual(state);
    expect(await phone.next('read_state', (e) => e.roomId === room.id)).toEqual(state);
    expect(await a.next('read', (e) => e.userId === bob.id)).toEqual({
      roomId: room.id,
      userId: bob.id,
      lastReadSeq: 3,
    });

    // The laptop reads on the other instance: the marker moves on, never back.
    expect(await laptop.read(room, 2)).toEqual({ ok: true, lastReadSeq: 3 });
    expect(await laptop.read(room, 4)).toEqual({ ok: true, lastReadSeq: 4 });
    expect(await phone.next('read_state', (e) => e.lastReadSeq === 4)).toEqual({
      roomId: room.id,
      lastReadSeq: 4,
      unread: 0,
    });
    expect((await bob.api.rooms.list()).find((r) => r.id === room.id)).toMatchObject({
      lastReadSeq: 4,
      unread: 0,
    });
  });

  it('concurrent reads of one user on both instances leave the highest marker stored', async () => {
    const alice = await one.user();
    const bob = await one.user();
    const room = await one.room(alice, bob);
    const a = await on(one, alice);
    await a.joined(room);
    for (let i = 1; i <= 30; i++) await a.sent(room, `m${i}`);
    const b1 = await on(one, bob);
    const b2 = await on(two, bob);
    // Interleaved, descending on one instance and ascending on the other.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => [b1.read(room, 30 - i), b2.read(room, i + 1)]).flat(),
    );
    expect(await b2.next('read_state', (e) => e.lastReadSeq === 30, 5_000)).toMatchObject({ unread: 0 });
    const row = await one.services.db.prisma.roomMember.findUnique({
      where: { roomId_userId: { roomId: room.id, userId: bob.id } },
    });
    expect(row?.lastReadSeq).toBe(30);
  });
});
