import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Room } from '../core/schemas.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { sharedServices } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';

/** The read-marker flush interval (realtime/read-markers.ts): receipts and writes follow within it. */
const FLUSH_MS = 1_000;

describe('read markers, receipts and read state', () => {
  let world: TestWorld;
  const open: ChatClient[] = [];

  beforeAll(async () => {
    world = await startWorld({
      RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
      RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000',
      RATE_LIMIT_READ_PER_SECOND: '100000',
      RATE_LIMIT_READ_PER_10_SECONDS: '1000000',
    });
  }, 180_000);
  afterAll(async () => {
    for (const c of open) c.close();
    await world?.close();
  });

  const connect = async (user: TestUser) => {
    const c = await user.connect();
    open.push(c);
    return c;
  };
  const storedMarker = async (room: Room, user: TestUser) =>
    (
      await world.services.db.prisma.roomMember.findUnique({
        where: { roomId_userId: { roomId: room.id, userId: user.id } },
        select: { lastReadSeq: true },
      })
    )?.lastReadSeq;
  const entryOf = async (user: TestUser, room: Room) =>
    (await user.api.rooms.list()).find((r) => r.id === room.id)!;
  /** Alice and Bob in a room with `n` messages from Alice. */
  const roomWithMessages = async (n: number) => {
    const alice = await world.user();
    const bob = await world.user();
    const room = await world.room(alice, bob);
    const a = await connect(alice);
    await a.joined(room);
    const sent = [];
    for (let i = 1; i <= n; i++) sent.push(await a.sent(room, `m${i}`));
    return { alice, bob, room, a, sent };
  };

  it('moves the marker to max(marker, min(seq, lastSeq)), never back, without joining', async () => {
    const { bob, room } = await roomWithMessages(3);
    const b = await connect(bob); // not joined
    expect(await b.read(room, 2)).toEqual({ ok: true, lastReadSeq: 2 });
    expect(await b.read(room, 1)).toEqual({ ok: true, lastReadSeq: 2 });
    expect(await b.read(room, 0)).toEqual({ ok: true, lastReadSeq: 2 });
    // Clamped to the room's last message.
    expect(await b.read(room, 99)).toEqual({ ok: true, lastReadSeq: 3 });
    await waitUntil('marker stored', async () => (await storedMarker(room, bob)) === 3, 5 * FLUSH_MS);
    // Stored, it still never moves back.
    expect(await b.read(room, 1)).toEqual({ ok: true, lastReadSeq: 3 });
    expect((await entryOf(bob, room)).lastReadSeq).toBe(3);
  });

  it('refuses non-members forbidden, unknown rooms forbidden, bad payloads invalid_request', async () => {
    const { room } = await roomWithMessages(1);
    const carol = await world.user();
    const c = await connect(carol);
    expect(await c.read(room, 1)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await c.read('no-such-room', 1)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    for (const payload of [
      { roomId: room.id },
      { roomId: room.id, seq: -1 },
      { roomId: room.id, seq: 1.5 },
      { roomId: room.id, seq: '1' },
      { roomId: room.id, seq: 1, extra: true },
    ])
      expect(await c.emit('read', payload)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await storedMarker(room, carol)).toBeUndefined();
  });

  it("a former member's read is forbidden, and a marker pending at the removal is dropped", async () => {
    const { bob, room } = await roomWithMessages(2);
    const b = await connect(bob);
    expect(await b.read(room, 2)).toEqual({ ok: true, lastReadSeq: 2 });
    await bob.leaveRoom(room); // before the flush: the write finds no membership and is dropped
    expect(await b.read(room, 2)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    await new Promise((r) => setTimeout(r, 2 * FLUSH_MS));
    expect(await storedMarker(room, bob)).toBeUndefined();
  });

  it("sending moves the sender's marker to its seq (acked at once, stored within the flush)", async () => {
    const { alice, room, a, sent } = await roomWithMessages(4);
    expect(await a.read(room, 0)).toEqual({ ok: true, lastReadSeq: 4 });
    await waitUntil(
      'sender marker stored',
      async () => (await storedMarker(room, alice)) === 4,
      5 * FLUSH_MS,
    );
    const entry = await entryOf(alice, room);
    expect(entry).toMatchObject({ lastReadSeq: 4, unread: 0, lastSeq: 4 });
    expect(entry.lastMessage).toEqual({
      seq: 4,
      userId: alice.id,
      name: alice.name,
      text: 'm4',
      ts: sent[3]!.ts,
    });
  });

  it('counts unread exactly: after the marker, not the caller’s own, not deleted', async () => {
    const { alice, bob, room, a, sent } = await roomWithMessages(5); // seq 1..5 from Alice
    const b = await connect(bob);
    await b.joined(room);
    await b.sent(room, 'bob 6'); // Bob's own: never unread for him, and moves his marker to 6
    await a.sent(room, 'alice 7');
    await a.changed('delete', room, sent[1]!.id); // seq 2, before Bob's marker anyway
    const seven = await a.sent(room, 'alice 8');
    await a.changed('delete', room, seven.id); // seq 8: deleted, not unread; last message a tombstone
    await waitUntil('bob marker stored', async () => (await storedMarker(room, bob)) === 6, 5 * FLUSH_MS);
    let entry = await entryOf(bob, room);
    expect(entry).toMatchObject({ lastReadSeq: 6, unread: 1, lastSeq: 8 });
    expect(entry.lastMessage).toEqual({ seq: 8, userId: alice.id, name: alice.name, text: '', ts: seven.ts });

    // Bob's marker back at 0 (as for a member added before reading anything): 1,3,4,5,7 unread.
    await world.services.db.prisma.roomMember.update({
      where: { roomId_userId: { roomId: room.id, userId: bob.id } },
      data: { lastReadSeq: 0 },
    });
    expect(await entryOf(bob, room)).toMatchObject({ lastReadSeq: 0, unread: 5 });
    // Alice's own messages are never unread for her.
    await world.services.db.prisma.roomMember.update({
      where: { roomId_userId: { roomId: room.id, userId: alice.id } },
      data: { lastReadSeq: 0 },
    });
    entry = await entryOf(alice, room);
    expect(entry).toMatchObject({ lastReadSeq: 0, unread: 1 }); // only Bob's seq 6
  });

  it('keeps lastMessage text to 200 code points, and an empty room has none', async () => {
    const alice = await world.user();
    const empty = await world.room(alice);
    expect(await entryOf(alice, empty)).toMatchObject({
      lastSeq: 0,
      unread: 0,
      lastReadSeq: 0,
      lastMessage: null,
    });
    const room = await world.room(alice);
    const a = await connect(alice);
    await a.joined(room);
    const long = `${'😀'.repeat(150)}${'é'.repeat(150)}`;
    await a.sent(room, long);
    const text = (await entryOf(alice, room)).lastMessage!.text;
    expect([...text]).toHaveLength(200);
    expect(text).toBe([...long].slice(0, 200).join(''));
  });

  it('lists rooms newest activity first (the last message, or creation while empty)', async () => {
    const alice = await world.user();
    const first = await world.room(alice);
    await new Promise((r) => setTimeout(r, 5));
    const second = await world.room(alice);
    await new Promise((r) => setTimeout(r, 5));
    const third = await world.room(alice);
    const order = async () => (await alice.api.rooms.list()).map((r) => r.id);
    expect(await order()).toEqual([third.id, second.id, first.id]);
    const a = await connect(alice);
    await a.joined(first);
    await a.sent(first, 'wakes the oldest room');
    expect(await order()).toEqual([first.id, third.id, second.id]);
    await a.joined(second);
    await a.sent(second, 'and now the middle one');
    expect(await order()).toEqual([second.id, first.id, third.id]);
  });

  it('sends receipts to the joined sockets, coalesced to about one a second, the latest arriving', async () => {
    const { bob, room, a } = await roomWithMessages(20);
    const b = await connect(bob);
    await b.joined(room);
    const started = Date.now();
    for (let seq = 1; seq <= 20; seq++)
      expect(await b.read(room, seq)).toEqual({ ok: true, lastReadSeq: seq });
    const last = await a.next('read', (e) => e.userId === bob.id && e.lastReadSeq === 20, 5 * FLUSH_MS);
    expect(last).toEqual({ roomId: room.id, userId: bob.id, lastReadSeq: 20 });
    const elapsedSeconds = (Date.now() - started) / 1000;
    // 20 reads; one receipt per flush that saw them move (the earlier ones, if any, consumed above).
    const before = a.pending('read').filter((e) => e.userId === bob.id);
    expect(before.length).toBeLessThanOrEqual(Math.ceil(elapsedSeconds));
    // A socket that has not joined the room hears no receipts.
    const outsider = await connect(bob);
    expect(await outsider.read(room, 20)).toEqual({ ok: true, lastReadSeq: 20 });
    await new Promise((r) => setTimeout(r, 1.5 * FLUSH_MS));
    expect(outsider.pending('read')).toEqual([]);
  });

  it('tells every socket of the user its read state, joined to the room or not', async () => {
    const { bob, room, a } = await roomWithMessages(3);
    await a.sent(room, 'four');
    const phone = await connect(bob);
    const laptop = await connect(bob);
    await laptop.joined(room);
    expect(await phone.read(room, 2)).toEqual({ ok: true, lastReadSeq: 2 });
    for (const device of [phone, laptop])
      expect(await device.next('read_state', (e) => e.roomId === room.id, 5 * FLUSH_MS)).toEqual({
        roomId: room.id,
        lastReadSeq: 2,
        unread: 2,
      });
    // Alice's sockets hear only about her own marker (moved by her sends, unread 0), not Bob's.
    await a.next('read_state', (e) => e.lastReadSeq === 4);
    expect(a.pending('read_state').filter((e) => e.unread !== 0)).toEqual([]);
  });

  it('never moves the marker back under concurrent reads from two devices', async () => {
    const { bob, room } = await roomWithMessages(50);
    const phone = await connect(bob);
    const laptop = await connect(bob);
    const seqs = Array.from({ length: 60 }, (_, i) => (i * 37) % 51);
    // Per device, in the order the answers arrive (not the order sent: concurrent reads
    // finish in any order; and two connections may deliver in either order).
    const answered: number[][] = [[], []];
    const acks = await Promise.all(
      seqs.map((seq, i) =>
        (i % 2 ? phone : laptop).read(room, seq).then((ack) => {
          if (ack.ok) answered[i % 2]!.push(ack.lastReadSeq!);
          return ack;
        }),
      ),
    );
    for (const [i, ack] of acks.entries()) {
      expect(ack.ok).toBe(true);
      if (ack.ok) expect(ack.lastReadSeq).toBeGreaterThanOrEqual(Math.min(seqs[i]!, 50));
    }
    // Once a marker was answered, no later answer is lower.
    for (const device of answered) expect(device).toEqual([...device].sort((x, y) => x - y));
    await waitUntil('marker stored', async () => (await storedMarker(room, bob)) === 50, 5 * FLUSH_MS);
    expect(await phone.read(room, 10)).toEqual({ ok: true, lastReadSeq: 50 });
  });

  it('gives read its own per-connection limit, refused before any database work', async () => {
    const limited = await startWorld(
      { RATE_LIMIT_READ_PER_SECOND: '3', RATE_LIMIT_READ_PER_10_SECONDS: '100' },
      await sharedServices(),
    );
    try {
      const { room } = await roomWithMessages(1);
      const carol = await limited.user(); // not even a member: the limit comes first
      const c = await carol.connect({}, limited.url);
      try {
        const acks = await Promise.all(Array.from({ length: 5 }, () => c.read(room, 1)));
        expect(acks.filter((x) => !x.ok && x.error.code === 'forbidden')).toHaveLength(3);
        const refused = acks.filter((x) => !x.ok && x.error.code === 'rate_limited');
        expect(refused).toHaveLength(2);
        for (const r of refused) if (!r.ok) expect(r.error.retryAfterMs).toBeGreaterThan(0);
        // Other events keep their own budgets.
        expect(await c.typing(room, true)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      } finally {
        c.close();
      }
    } finally {
      await limited.close();
    }
  });
});
