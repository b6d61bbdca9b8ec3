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
