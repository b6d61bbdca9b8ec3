import { beforeAll, describe, expect, it } from 'vitest';
import { spawnRealtime } from '../test/realtime-process.ts';
import { startWorld } from '../test/realtime-support.ts';
import { sharedServices, usesPostgres } from '../test/support.ts';

const BULK_LIMITS = { RATE_LIMIT_MESSAGE_PER_SECOND: '100000', RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000' };

describe('graceful shutdown', () => {
  // Booting the worker's embedded database can take a while on a busy machine: not in a test.
  beforeAll(() => sharedServices(), 180_000);

  it('answers every accepted send before disconnecting: committed ones ok, late ones unavailable', async () => {
    const world = await startWorld(BULK_LIMITS);
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect({}, world.url);
    await a.joined(room);
    const gone = a.disconnected();

    const sends = Array.from({ length: 100 }, (_, i) =>
      a.send(room, `m${i}`).catch((err: Error) => ({ lost: err.message })),
    );
    await sends[0];
    const closed = world.close();
    const results = await Promise.all(sends);
    await closed;
    // The disconnect packet may or may not beat the transport's close; either ends the socket.
    expect(['io server disconnect', 'transport close']).toContain(await gone);

    const oks = results.filter((r) => 'ok' in r && r.ok);
    const others = results.filter((r) => !('ok' in r && r.ok));
    expect(oks.length).toBeGreaterThan(0);
    for (const r of others) expect(r).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    // Nothing is stored without its ack having gone out, nothing acked is missing.
    const rows = await (
      await sharedServices()
    ).db.prisma.message.findMany({ where: { roomId: room.id }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => r.seq)).toEqual(oks.map((_, i) => i + 1));
    expect(new Set(rows.map((r) => r.text))).toEqual(
      new Set(oks.map((r) => ('message' in r ? r.message.text : ''))),
    );
  });

  it.runIf(usesPostgres)(
    'the container entry exits 0 on SIGTERM after disconnecting its clients',
    async () => {
      const world = await startWorld();
      try {
        const proc = await spawnRealtime();
        const alice = await world.user();
        const room = await world.room(alice);
        const a = await alice.connect({}, proc.url);
        await a.joined(room);
        expect((await fetch(`${proc.url}/readyz`)).status).toBe(200);
        expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);
        expect(await (await fetch(`${proc.url}/metrics`)).text()).toContain('parley_sockets_connected 1');
        const gone = a.disconnected();
        proc.child.kill('SIGTERM');
        expect(await gone).toBe('io server disconnect');
        expect(await proc.exited).toEqual({ code: 0, signal: null });
        expect(proc.logs.some((l) => l.includes('"msg":"shutdown complete"'))).toBe(true);
      } finally {
        await world.close();
      }
    },
  );
});

describe('graceful shutdown and read markers', () => {
  beforeAll(() => sharedServices(), 180_000);
  // A flush interval longer than the test: whatever is stored was written by the shutdown.
  const NO_TIMED_FLUSH = { READ_MARKER_FLUSH_MS: '600000', ...BULK_LIMITS };

  const markersOf = async (userId: string, roomIds: string[]) =>
    Object.fromEntries(
      (
        await (
          await sharedServices()
        ).db.prisma.roomMember.findMany({
          where: { userId, roomId: { in: roomIds } },
          select: { roomId: true, lastReadSeq: true },
        })
      ).map((r) => [r.roomId, r.lastReadSeq]),
    );

  it('writes every acked marker (reads and sends) before the database closes', async () => {
    const world = await startWorld(NO_TIMED_FLUSH);
    const alice = await world.user();
    const bob = await world.user();
    const rooms = [await world.room(alice, bob), await world.room(alice, bob), await world.room(alice, bob)];
    const a = await alice.connect({}, world.url);
    const b = await bob.connect({}, world.url);
    for (const [i, room] of rooms.entries()) {
      await a.joined(room);
      for (let n = 0; n < 5 + i; n++) await a.sent(room, `m${n}`);
    }
    const acked: Record<string, number> = {};
    for (const [i, room] of rooms.entries()) {
      const ack = await b.read(room, 3 + i);
      if (!ack.ok) throw new Error(JSON.stringify(ack));
      acked[room.id] = ack.lastReadSeq!;
    }
    const ids = rooms.map((r) => r.id);
    // Nothing written yet: the markers live in memory until a flush.
    expect(Object.values(await markersOf(bob.id, ids))).toEqual([0, 0, 0]);
    expect(Object.values(await markersOf(alice.id, ids))).toEqual([0, 0, 0]);
    await world.close();
    expect(await markersOf(bob.id, ids)).toEqual(acked);
    expect(await markersOf(alice.id, ids)).toEqual(Object.fromEntries(rooms.map((r, i) => [r.id, 5 + i])));
  });

  it.runIf(usesPostgres)('the container entry writes the acked markers on SIGTERM and exits 0', async () => {
    const world = await startWorld();
    try {
      const proc = await spawnRealtime(NO_TIMED_FLUSH);
      const alice = await world.user();
      const bob = await world.user();
      const room = await world.room(alice, bob);
      const a = await alice.connect({}, proc.url);
      const b = await bob.connect({}, proc.url);
      await a.joined(room);
      for (let n = 0; n < 8; n++) await a.sent(room, `m${n}`);
      const ack = await b.read(room, 6);
      expect(ack).toEqual({ ok: true, lastReadSeq: 6 });
      expect(await markersOf(bob.id, [room.id])).toEqual({ [room.id]: 0 });
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
      expect(await markersOf(bob.id, [room.id])).toEqual({ [room.id]: 6 });
      expect(await markersOf(alice.id, [room.id])).toEqual({ [room.id]: 8 });
    } finally {
      await world.close();
    }
  });
});
