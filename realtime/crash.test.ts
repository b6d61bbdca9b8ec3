import { afterAll, describe, expect, it } from 'vitest';
import { RedisPresence, presenceKey } from '../core/redis/presence.ts';
import type { Message, Room } from '../core/schemas.ts';
import { spawnRealtime, type RealtimeProcess } from '../test/realtime-process.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { sharedServices, usesPostgres, usesRedis } from '../test/support.ts';

const HEARTBEAT_MS = 500;
const TTL_MS = 1_500;
const LIMITS = {
  RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
  RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000',
  PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
  PRESENCE_TTL_MS: String(TTL_MS),
};

/** The highest seq up to which a client holds every message. */
function contiguous(client: ChatClient, roomId: string): number {
  const seen = client.seen.get(roomId) ?? new Map<number, Message>();
  let s = 0;
  while (seen.has(s + 1)) s += 1;
  return s;
}

/** What a reconnecting client does: join with sinceSeq, then page with afterSeq until done. */
async function catchUp(client: ChatClient, user: TestUser, room: Room): Promise<void> {
  const joined = await client.joined(room, contiguous(client, room.id));
  let hasMore = joined.hasMore;
  while (hasMore) {
    const page = await user.api.history({
      roomId: room.id,
      afterSeq: contiguous(client, room.id),
      limit: 100,
    });
    expect(page.status).toBe(200);
    client.remember(page.body.messages);
    hasMore = page.body.hasMore;
  }
}

describe.runIf(usesPostgres && usesRedis)('kill -9 of a realtime instance while clients send', () => {
  let survivor: TestWorld | undefined;
  let victim: RealtimeProcess | undefined;
  const open: ChatClient[] = [];

  afterAll(async () => {
    for (const c of open) c.close();
    victim?.child.kill('SIGKILL');
    await survivor?.close();
  });

  it('loses no acked message, duplicates nothing, and reconnecting clients converge on one gap-free history', async () => {
    const base = await sharedServices();
    survivor = await startWorld(LIMITS, { ...base, presence: new RedisPresence(base.redis!, TTL_MS) });
    victim = await spawnRealtime(LIMITS);
    const world = survivor;

    const senders = await Promise.all([world.user('s'), world.user('s'), world.user('s'), world.user('s')]);
    const watcher = await world.user('w');
    const room = await world.room(watcher, ...senders);

    const observer = await watcher.connect({}, world.url);
    open.push(observer);
    await observer.joined(room);
    const onVictim = await Promise.all(senders.map((u) => u.connect({}, victim!.url)));
    open.push(...onVictim);
    for (const c of onVictim) await c.joined(room);
    const victimSocketIds = onVictim.map((c) => c.socket.id!);

    // Phase 1: every sender keeps 4 sends in flight against the doomed instance.
    const acked = new Map<string, Message>(); // `${userId}/${clientMsgId}` → the acked message
    const attempted = new Map<number, string[]>(); // sender index → clientMsgIds tried
    let killedAt = 0;
    const KILL_AFTER = 200;
    const lanes = onVictim.flatMap((client, i) =>
      [0, 1, 2, 3].map(async (lane) => {
        for (let n = 0; !killedAt; n++) {
          const clientMsgId = `s${i}-l${lane}-${n}`;
          attempted.set(i, [...(attempted.get(i) ?? []), clientMsgId]);
          try {
            const ack = await client.send(room, `from ${i}: ${clientMsgId}`, { clientMsgId });
            if (!ack.ok) throw new Error(ack.error.code);
            acked.set(`${senders[i]!.id}/${clientMsgId}`, ack.message);
            if (acked.size >= KILL_AFTER && !killedAt) {
              killedAt = Date.now();
              victim!.child.kill('SIGKILL');
            }
          } catch {
            return; // the instance died under this send: it is retried after reconnecting
          }
        }
      }),
    );
    await Promise.all(lanes);
    expect(await victim.exited).toMatchObject({ signal: 'SIGKILL' });
    const ackedBeforeKill = acked.size;
    const lanesStoppedMs = Date.now() - killedAt;
    const reconnectStarted = Date.now();

    // Phase 2: reconnect to the survivor, catch up by seq, retry every unacked send.
    const reconnected = await Promise.all(
      senders.map(async (u, i) => {
        const c = await u.connect({}, world.url);
        open.push(c);
        for (const [, m] of onVictim[i]!.seen.get(room.id) ?? []) c.remember([m]);
        await catchUp(c, u, room);
        return c;
      }),
    );
    const catchUpMs = Date.now() - reconnectStarted;
    await Promise.all(
      reconnected.map(async (c, i) => {
        for (const clientMsgId of attempted.get(i) ?? []) {
          const key = `${senders[i]!.id}/${clientMsgId}`;
          const ack = await c.send(room, `from ${i}: ${clientMsgId}`, { clientMsgId });
          expect(ack.ok, JSON.stringify(ack)).toBe(true);
          if (!ack.ok) continue;
          const before = acked.get(key);
          // A retry of an acked send returns that very message.
          if (before) expect(ack.message).toEqual(before);
          acked.set(key, ack.message);
        }
      }),
    );
    for (const [i, c] of reconnected.entries()) await catchUp(c, senders[i]!, room);
    await catchUp(observer, watcher, room);
    const convergedMs = Date.now() - killedAt;

    // The database: gap-free seqs, every acked message exactly once, nothing else.
    const rows = await base.db.prisma.message.findMany({
      where: { roomId: room.id },
      orderBy: { seq: 'asc' },
    });
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const byKey = new Map(rows.map((r) => [`${r.userId}/${r.clientMsgId}`, r]));
    expect(byKey.size).toBe(rows.length);
    for (const [key, m] of acked) expect(byKey.get(key)?.id, key).toBe(m.id);
    const totalAttempted = [...attempted.values()].reduce((n, ids) => n + ids.length, 0);
    expect(rows.length).toBe(totalAttempted);

    // Every client ends with the same history as the database.
    const expected = rows.map((r) => r.id);
    for (const c of [...reconnected, observer]) {
      const seen = c.seen.get(room.id)!;
      expect([...seen.keys()].sort((a, b) => a - b)).toEqual(rows.map((r) => r.seq));
      expect([...seen.values()].sort((a, b) => a.seq - b.seq).map((m) => m.id)).toEqual(expected);
    }

    // The dead instance's presence entries are pruned by the survivor within a bounded time.
    const started = Date.now();
    const deadline = killedAt + TTL_MS + 3 * HEARTBEAT_MS + 2_000;
    for (;;) {
      const fields = await base.redis!.hkeys(presenceKey(room.id));
      if (!victimSocketIds.some((id) => fields.includes(id))) break;
      expect(Date.now()).toBeLessThan(deadline);
      await observer.next('presence', () => true, deadline - Date.now()).catch(() => undefined);
    }
    console.info(
      `[crash] ${ackedBeforeKill} acked before kill -9, ${rows.length} stored after retries; ` +
        `senders noticed the death within ${lanesStoppedMs} ms; reconnect + join(sinceSeq) catch-up of 4 clients took ${catchUpMs} ms; ` +
        `all clients converged ${convergedMs} ms after the kill; presence pruned ${Date.now() - killedAt} ms after it ` +
        `(checked for ${Date.now() - started} ms)`,
    );
  }, 120_000);
});
