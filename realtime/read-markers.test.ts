import { beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../core/db/database.ts';
import type { MovedMarker } from '../core/rooms/read-markers.ts';
import { newId } from '../core/ids.ts';
import { sharedServices, silentLogger } from '../test/support.ts';
import { MarkerAnnouncer, ReadMarkers } from './read-markers.ts';
import { roomChannel, type ParleyServer } from './types.ts';

/** The coalescer against the real database, its statements counted. */
describe('ReadMarkers', () => {
  let db: Database;
  let statements = 0;
  beforeAll(async () => {
    const base = (await sharedServices()).db;
    const prisma = new Proxy(base.prisma, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === '$queryRaw' && typeof value === 'function')
          return (...args: unknown[]) => {
            statements++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        return value;
      },
    });
    db = { ...base, prisma } as Database;
  }, 180_000);

  /** A room with `members` members and `lastSeq` messages' worth of last_seq (no message rows needed). */
  const roomOf = async (members: number, lastSeq: number) => {
    const roomId = newId();
    const userIds = Array.from({ length: members }, () => newId());
    await db.prisma.user.createMany({
      data: userIds.map((id) => ({ id, username: id, usernameKey: id, passwordHash: 'x' })),
    });
    await db.prisma.room.create({ data: { id: roomId, name: 'r', lastSeq } });
    await db.prisma.roomMember.createMany({
      data: userIds.map((userId) => ({ id: newId(), roomId, userId })),
    });
    return { roomId, userIds };
  };
  const stored = async (roomId: string) =>
    (await db.prisma.roomMember.findMany({ where: { roomId }, select: { userId: true, lastReadSeq: true } }))
      .map((r) => [r.userId, r.lastReadSeq] as const)
      .sort();

  it('writes every pending marker in one statement, and a joined reader’s reads cost none', async () => {
    const moved: MovedMarker[][] = [];
    const markers = new ReadMarkers({
      db,
      logger: silentLogger,
      onMoved: (m) => moved.push(m),
      intervalMs: 60_000,
    });
    const { roomId, userIds } = await roomOf(50, 100);
    // First read of each member: one look-up each. Then 99 more reads each: none.
    for (const u of userIds) expect(await markers.read(roomId, u, 1, true)).toBe(1);
    statements = 0;
    for (let seq = 2; seq <= 100; seq++)
      for (const u of userIds) expect(await markers.read(roomId, u, seq, true)).toBe(seq);
    expect(statements).toBe(0);
    // A message committed by another instance (this one knows lastSeq 100): one look-up of
    // the room's lastSeq, shared by every reader asking at once.
    await db.prisma.room.update({ where: { id: roomId }, data: { lastSeq: 150 } });
    expect(await Promise.all(userIds.map((u) => markers.read(roomId, u, 150, true)))).toEqual(
      userIds.map(() => 150),
    );
    expect(statements).toBe(1);
    // Past the room's lastSeq: clamped.
    expect(await Promise.all(userIds.map((u) => markers.read(roomId, u, 500, true)))).toEqual(
      userIds.map(() => 150),
    );
    statements = 0;
    await markers.flush();
    expect(statements).toBe(1); // one statement for the 50 markers
    expect(await stored(roomId)).toEqual(userIds.map((u) => [u, 150] as const).sort());
    expect(moved.flat()).toHaveLength(50);
    expect(moved.flat().every((m) => m.lastReadSeq === 150 && m.unread === 0)).toBe(true);
    // Nothing pending: a flush writes nothing and announces nothing.
    await markers.flush();
    expect(moved).toHaveLength(1);
    await markers.close();
  });

  it('keeps markers whose write failed for the next flush, and never answers less than before', async () => {
    const { roomId, userIds } = await roomOf(1, 10);
    const [u] = userIds as [string];
    let fail = true;
    const failing = {
      ...db,
      prisma: new Proxy(db.prisma, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          // The flush is the one transaction here (SET LOCAL jit, then the write).
          if (prop === '$transaction' && typeof value === 'function')
            return (...args: unknown[]) =>
              fail
                ? Promise.reject(new Error('connection lost'))
                : (value as (...a: unknown[]) => unknown).apply(target, args);
          return value;
        },
      }),
    } as Database;
    const markers = new ReadMarkers({
      db: failing,
      logger: silentLogger,
      onMoved: () => {},
      intervalMs: 60_000,
    });
    expect(await markers.read(roomId, u, 7)).toBe(7);
    await expect(markers.flush()).rejects.toThrow('connection lost');
    expect(await markers.read(roomId, u, 3)).toBe(7);
    fail = false;
    await markers.flush();
    expect(await stored(roomId)).toEqual([[u, 7]]);
    expect(await markers.read(roomId, u, 2)).toBe(7);
    await markers.close();
    await expect(markers.read(roomId, u, 8)).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('MarkerAnnouncer', () => {
  /** Just enough of a Socket.IO server: what is emitted to which channel, and a room's socket count. */
  const fakeIo = (socketsInRoom: number) => {
    const sent: { to: string; event: string; payload: unknown }[] = [];
    const io = {
      to: (to: string) => ({ emit: (event: string, payload: unknown) => sent.push({ to, event, payload }) }),
      of: () => ({ adapter: { rooms: new Map([[roomChannel('r'), { size: socketsInRoom }]]) } }),
    } as unknown as ParleyServer;
    return { io, sent };
  };
  const moved = (n: number, seq: number) =>
    Array.from({ length: n }, (_, i) => ({ roomId: 'r', userId: `u${i}`, lastReadSeq: seq, unread: 0 }));

  it('sends read_state at once, and receipts within a room’s delivery budget, every latest value arriving', () => {
    const { io, sent } = fakeIo(1_000); // 20,000 deliveries / 1,000 sockets = 20 receipts a round
    const announcer = new MarkerAnnouncer(io);
    announcer.announce(moved(50, 7));
    expect(sent.filter((e) => e.event === 'read_state')).toHaveLength(50);
    expect(sent.filter((e) => e.event === 'read')).toHaveLength(20);
    // u0..u19 went; the others move on before their turn: they keep their place, with the
    // latest value. A second flush in the same interval has no budget left: nothing more goes.
    announcer.announce(moved(50, 9));
    const receipts = () => sent.filter((e) => e.event === 'read').map((e) => e.payload);
    expect(receipts()).toHaveLength(20);
    announcer.nextInterval();
    expect(receipts()).toHaveLength(40);
    expect(receipts().slice(20)).toEqual(
      Array.from({ length: 20 }, (_, i) => ({ roomId: 'r', userId: `u${20 + i}`, lastReadSeq: 9 })),
    );
    // The interval's round spent the budget too: the next flush waits for the next interval.
    announcer.announce(moved(1, 10));
    expect(receipts()).toHaveLength(40);
    announcer.stop(); // shutdown: everything waiting goes
    const last = new Map(receipts().map((r) => [(r as { userId: string }).userId, r]));
    expect(last.size).toBe(50);
    for (const [userId, r] of last) expect(r).toMatchObject({ lastReadSeq: userId === 'u0' ? 10 : 9 });
  });

  it('sends every receipt at once in a small room', () => {
    const { io, sent } = fakeIo(3);
    new MarkerAnnouncer(io).announce(moved(100, 1));
    expect(sent.filter((e) => e.event === 'read')).toHaveLength(100);
  });
});
