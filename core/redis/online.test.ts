import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedRedis, usesRedis } from '../../test/support.ts';
import { closeRedis } from './connection.ts';
import { MemoryOnline, RedisOnline, type OnlineUsers } from './online.ts';

/** Online anywhere: each transition reported exactly once, whoever (whichever instance) asks. */
const TTL = 1_000;
let redis: Redis | undefined;
afterAll(async () => {
  if (redis) await closeRedis(redis);
});
const stores: [string, () => Promise<OnlineUsers>][] = [
  ['memory', async () => new MemoryOnline(TTL)],
  ...(usesRedis
    ? ([['redis', async () => new RedisOnline((redis ??= await isolatedRedis('online')), TTL)]] as [
        string,
        () => Promise<OnlineUsers>,
      ][])
    : []),
];

describe.each(stores)('%s online store', (_name, make) => {
  const user = () => `u-${randomUUID()}`;

  it('reports the first socket and the last one, not those between', async () => {
    const s = await make();
    const u = user();
    const t = Date.now();
    expect(await s.connect(u, 's1', t)).toBe(true);
    expect(await s.connect(u, 's2', t)).toBe(false);
    expect(await s.connect(u, 's1', t)).toBe(false); // the same socket again
    expect(await s.among([u, user()], t)).toEqual(new Set([u]));
    expect(await s.disconnect(u, 's1', t)).toBe(false);
    expect(await s.disconnect(u, 's2', t)).toBe(true);
    expect(await s.disconnect(u, 's2', t)).toBe(false); // reported once
    expect(await s.among([u], t)).toEqual(new Set());
  });

  it('prunes what nobody refreshes (a crashed instance): reported once, by prune or disconnect', async () => {
    const s = await make();
    const [a, b, c] = [user(), user(), user()];
    const t = Date.now();
    await s.connect(a, 'a1', t);
    await s.connect(b, 'b1', t);
    await s.connect(b, 'b2', t);
    await s.connect(c, 'c1', t);
    // b2 and c1 keep being refreshed (their instance lives); a1 and b1 do not.
    await s.refresh(
      [
        { userId: b, socketId: 'b2' },
        { userId: c, socketId: 'c1' },
      ],
      t + TTL,
    );
    expect(await s.among([a, b, c], t + TTL + 500)).toEqual(new Set([b, c]));
    const gone = await s.prune(t + TTL + 500);
    expect(gone).toContain(a);
    expect(gone).not.toContain(b);
    expect(gone).not.toContain(c);
    expect(await s.prune(t + TTL + 500)).not.toContain(a);
    // A late disconnect of the pruned socket reports nothing more.
    expect(await s.disconnect(a, 'a1', t + TTL + 600)).toBe(false);
    // b's live socket goes: that is b's last one (b1 was stale).
    expect(await s.disconnect(b, 'b2', t + TTL + 600)).toBe(true);
  });

  it('a new socket after a crash is an arrival, even while the stale entry is still there', async () => {
    const s = await make();
    const u = user();
    const t = Date.now();
    await s.connect(u, 'old', t);
    expect(await s.connect(u, 'new', t + TTL + 1)).toBe(true);
    expect(await s.prune(t + TTL + 1)).not.toContain(u);
    expect(await s.among([u], t + TTL + 1)).toEqual(new Set([u]));
  });

  it('concurrent last disconnects and prunes report the departure exactly once', async () => {
    const s = await make();
    for (let round = 0; round < 10; round++) {
      const u = user();
      const t = Date.now();
      await Promise.all([s.connect(u, 'x', t), s.connect(u, 'y', t)]);
      const later = t + TTL + 10;
      const answers = await Promise.all([
        s.disconnect(u, 'x', later),
        s.disconnect(u, 'y', later),
        s.prune(later).then((g) => g.includes(u)),
        s.prune(later).then((g) => g.includes(u)),
      ]);
      expect(answers.filter(Boolean)).toHaveLength(1);
    }
  });
});
