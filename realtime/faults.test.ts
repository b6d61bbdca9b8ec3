import { afterAll, describe, expect, it, vi } from 'vitest';
import { presenceKey } from '../core/redis/presence.ts';
import { openServices, type Services } from '../core/services.ts';
import { CuttableProxy } from '../test/realtime-proxy.ts';
import { holdRoomLock } from '../test/room-lock.ts';
import { startWorld, type ChatClient, type TestWorld } from '../test/realtime-support.ts';
import {
  sharedServices,
  silentLogger,
  testConfig,
  testMode,
  usesPostgres,
  usesRedis,
} from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';

/**
 * A server whose connection to one dependency (`url`) runs through a proxy the test can
 * cut; `start` opens its services with that dependency's variable pointed at the proxy.
 * Everything is closed after the suite.
 */
function behindProxy(url: string, variable: 'REDIS_URL' | 'DATABASE_URL') {
  const target = new URL(url);
  const proxy = new CuttableProxy(target.hostname, Number(target.port));
  let services: Services | undefined;
  let world: TestWorld | undefined;
  const open: ChatClient[] = [];
  afterAll(async () => {
    for (const c of open) c.close();
    await world?.close();
    await services?.close();
    await proxy.close();
  });
  return {
    proxy,
    open,
    /** The server's services (opened by `start`). */
    services: () => services!,
    async start(env: Record<string, string>): Promise<TestWorld> {
      await proxy.up();
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(proxy.port);
      const all = { ...env, [variable]: through.toString() };
      services = await openServices(testConfig(all), silentLogger);
      world = await startWorld(all, services);
      return world;
    },
  };
}

describe.runIf(usesRedis)('Redis goes away and comes back', () => {
  const { proxy, open, start } = behindProxy(testMode.redisUrl ?? 'redis://127.0.0.1:6379', 'REDIS_URL');

  it('keeps persisting and delivering locally, limits and presence degrade, all recover', async () => {
    const world = await start({
      PRESENCE_HEARTBEAT_MS: '500',
      PRESENCE_TTL_MS: '2000',
      RATE_LIMIT_TYPING_PER_SECOND: '3',
    });
    const alice = await world.user();
    const bob = await world.user();
    const carol = await world.user();
    const room = await world.room(alice, bob, carol);
    const a = await alice.connect({}, world.url);
    const b = await bob.connect({}, world.url);
    open.push(a, b);
    await a.joined(room);
    await b.joined(room);

    await proxy.cut();
    // Sends persist and reach this instance's sockets.
    const during = await a.sent(room, 'while redis is down');
    expect(during.seq).toBe(1);
    expect(await b.next('message', (m) => m.id === during.id)).toEqual(during);
    // Limits still hold, from memory.
    const typing = [
      await a.typing(room, true),
      await a.typing(room, true),
      await a.typing(room, true),
      await a.typing(room, true),
    ];
    expect(typing.slice(0, 3).every((t) => t.ok)).toBe(true);
    expect(typing[3]).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    // Presence answers from this instance's sockets.
    const c = await carol.connect({}, world.url);
    open.push(c);
    const joined = await c.joined(room);
    expect(joined.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id, carol.id].sort());
    expect(joined.messages.map((m) => m.id)).toEqual([during.id]);
    expect((await fetch(`${world.url}/readyz`)).status).toBe(503);

    await proxy.up();
    await waitUntil('ready', async () => (await fetch(`${world.url}/readyz`)).status === 200, 10_000);
    // The heartbeat writes every local socket back into the shared hash.
    const shared = (await sharedServices()).redis!;
    await waitUntil(
      'presence rewritten',
      async () => (await shared.hlen(presenceKey(room.id))) === 3,
      10_000,
    );
    const after = await a.sent(room, 'redis is back');
    expect(after.seq).toBe(2);
    expect(await c.next('message', (m) => m.id === after.id)).toEqual(after);
  }, 60_000);
});

describe.runIf(usesPostgres)('Postgres goes away and comes back', () => {
  const { proxy, open, start } = behindProxy(
    testMode.databaseUrl ?? 'postgres://127.0.0.1:5432/postgres',
    'DATABASE_URL',
  );

  it('acks sends unavailable (never acked-and-lost), reports not ready, and recovers gap-free', async () => {
    const world = await start({ DATABASE_CONNECT_TIMEOUT_MS: '1000', MIGRATE_ON_START: 'false' });
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect({}, world.url);
    open.push(a);
    await a.joined(room);
    expect((await a.sent(room, 'before')).seq).toBe(1);

    const before = await a.sent(room, 'to change');
    await proxy.cut();
    const refused = await a.send(room, 'during', { clientMsgId: 'during-outage' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    // Changes too: refused unavailable, never acked and lost.
    for (const [event, extra] of [
      ['edit', { text: 'changed' }],
      ['react', { emoji: '👍', on: true }],
      ['delete', {}],
    ] as const) {
      expect(await a.change(event, room, before.id, extra)).toMatchObject({
        ok: false,
        error: { code: 'unavailable' },
      });
    }
    expect((await fetch(`${world.url}/readyz`)).status).toBe(503);

    await proxy.up();
    await waitUntil('ready', async () => (await fetch(`${world.url}/readyz`)).status === 200, 10_000);
    // The client retries with the same clientMsgId: stored once, right after seq 1.
    const retried = await a.sent(room, 'during', { clientMsgId: 'during-outage' });
    expect(retried.seq).toBe(3);
    const rows = await (await sharedServices()).db.prisma.message.findMany({ where: { roomId: room.id } });
    expect(rows.map((r) => r.seq).sort()).toEqual([1, 2, 3]);
    // Nothing of the refused changes was stored; retried, they apply once, in order.
    expect(rows.find((r) => r.id === before.id)).toMatchObject({
      text: 'to change',
      version: 2,
      deletedAt: null,
    });
    const edited = await a.changed('edit', room, before.id, { text: 'changed' });
    expect(edited).toMatchObject({ text: 'changed', version: 4 });
    expect((await a.changed('react', room, before.id, { emoji: '👍', on: true })).version).toBe(5);
  }, 60_000);
});

describe.runIf(usesPostgres)('Postgres goes away in the middle of a change', () => {
  const { proxy, open, services, start } = behindProxy(
    testMode.databaseUrl ?? 'postgres://127.0.0.1:5432/postgres',
    'DATABASE_URL',
  );

  /** Whether another session can take the room's lock at once (nobody holds it). */
  const roomFree = async (roomId: string) =>
    (await sharedServices()).db
      .transaction(
        async (tx) => void (await tx.query('SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE NOWAIT', [roomId])),
      )
      .then(
        () => true,
        () => false,
      );

  const version = async (messageId: string) =>
    (await (await sharedServices()).db.prisma.message.findUniqueOrThrow({ where: { id: messageId } }))
      .version;

  it("an edit and a reaction cut off mid-commit (the optimistic write, or inside the room's transaction) answer unavailable, leave the room unlocked, and apply once afterwards", async () => {
    const world = await start({ DATABASE_CONNECT_TIMEOUT_MS: '1000', MIGRATE_ON_START: 'false' });
    const db = services().db;
    const alice = await world.user();
    const room = await world.room(alice);
    const a = await alice.connect({}, world.url);
    open.push(a);
    await a.joined(room);
    const target = await a.sent(room, 'to change');
    const recover = async () => {
      await proxy.up();
      await waitUntil('ready', async () => (await fetch(`${world.url}/readyz`)).status === 200, 10_000);
    };

    // 1. The optimistic write (one statement, no transaction) loses its connection as it is sent.
    const query = db.query.bind(db);
    const cutAtWrite = vi.spyOn(db, 'query').mockImplementation(async (sql, params, opts) => {
      if (opts?.name === 'parley_batch_write_guarded') await proxy.cut();
      return query(sql, params, opts);
    });
    try {
      for (const [event, extra] of [
        ['edit', { text: 'cut at the write' }],
        ['react', { emoji: '👍', on: true }],
      ] as const) {
        expect(await a.change(event, room, target.id, extra)).toMatchObject({
          ok: false,
          error: { code: 'unavailable' },
        });
        await recover();
      }
      expect(
        cutAtWrite.mock.calls.filter(([, , o]) => o?.name === 'parley_batch_write_guarded'),
      ).toHaveLength(2);
    } finally {
      cutAtWrite.mockRestore();
    }
    expect(await roomFree(room.id)).toBe(true);
    expect(await version(target.id)).toBe(target.version);

    // 2. Another session holds the room, so the change goes through the room's transaction,
    // whose connection dies right after it took the room's lock.
    const transaction = db.transaction.bind(db);
    let lockAsked!: () => void;
    let cutsInside = 0;
    const cutInside = vi.spyOn(db, 'transaction').mockImplementation((fn) =>
      transaction((tx) => {
        let statements = 0;
        return fn({
          query: async (sql, params, opts) => {
            statements += 1;
            if (statements === 1) lockAsked();
            const rows = await tx.query(sql, params, opts);
            if (statements === 1) {
              cutsInside += 1;
              await proxy.cut(); // BEGIN and the room's lock are done
            }
            return rows;
          },
        } as typeof tx);
      }),
    );
    try {
      for (const [event, extra] of [
        ['edit', { text: 'cut inside the transaction' }],
        ['react', { emoji: '🎉', on: true }],
      ] as const) {
        const holder = await holdRoomLock(await sharedServices().then((s) => s.db), room.id);
        const asked = new Promise<void>((resolve) => (lockAsked = resolve));
        const ack = a.change(event, room, target.id, extra);
        await asked;
        await holder.release();
        expect(await ack).toMatchObject({ ok: false, error: { code: 'unavailable' } });
        await recover();
        // The server rolled the dead session's transaction back: the room is not left locked.
        await waitUntil('room lock released', () => roomFree(room.id), 5_000);
      }
    } finally {
      cutInside.mockRestore();
    }
    expect(cutsInside).toBe(2); // both went through the room's transaction
    expect(await version(target.id)).toBe(target.version);

    // Nothing of the refused changes was stored; now they apply once, in order, gap-free.
    const edited = await a.changed('edit', room, target.id, { text: 'after the outage' });
    expect(edited).toMatchObject({ text: 'after the outage', version: target.version + 1 });
    const reacted = await a.changed('react', room, target.id, { emoji: '👍', on: true });
    expect(reacted.version).toBe(target.version + 2);
    expect(reacted.reactions).toEqual([{ emoji: '👍', count: 1, userIds: [alice.id] }]);
    expect((await a.sent(room, 'still writable')).seq).toBe(target.seq + 1);
  }, 60_000);
});
