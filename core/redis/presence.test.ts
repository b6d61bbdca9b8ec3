import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedRedis, usesRedis } from '../../test/support.ts';
import { closeRedis } from './connection.ts';
import { MemoryPresence, RedisPresence, type Presence } from './presence.ts';

/** Both stores answer a join batch the same way: the users distinct, in id order, stale pruned. */
const TTL = 1_000;
let redis: Redis | undefined;
afterAll(async () => {
  if (redis) await closeRedis(redis);
});
const stores: [string, () => Promise<Presence>][] = [
  ['memory', async () => new MemoryPresence(TTL)],
  ...(usesRedis
    ? ([['redis', async () => new RedisPresence((redis ??= await isolatedRedis('presence')), TTL)]] as [
        string,
        () => Promise<Presence>,
      ][])
    : []),
];

describe.each(stores)('%s presence store', (_name, make) => {
  it('enters a batch and answers the present users once each, in id order, pruning the stale', async () => {
    const p = await make();
    const roomId = `r-${randomUUID()}`;
    const t = Date.now();
    const user = (id: string, name: string) => ({ id, name });
    await p.put([{ roomId, socketId: 'old', user: user('u-stale', 'Stale') }], t - 2 * TTL);
    const snap = await p.enter(
      roomId,
      [
        { roomId, socketId: 's1', user: user('u-b', 'Bé "quoted" ✓') },
        { roomId, socketId: 's2', user: user('u-a', 'A') },
        { roomId, socketId: 's3', user: user('u-b', 'Bé "quoted" ✓') },
      ],
      t,
    );
    expect(snap).toEqual({
      users: [user('u-a', 'A'), user('u-b', 'Bé "quoted" ✓')],
      pruned: 1,
    });
    // A snapshot alone (no entries) reads the same set, nothing left to prune.
    expect(await p.snapshot(roomId, t)).toEqual({ users: snap.users, pruned: 0 });
    expect(await p.remove(roomId, 's2')).toBe(true);
    expect((await p.enter(roomId, [], t)).users).toEqual([user('u-b', 'Bé "quoted" ✓')]);
  });

  it('answers an empty room with no users', async () => {
    const p = await make();
    expect(await p.snapshot(`r-${randomUUID()}`, Date.now())).toEqual({ users: [], pruned: 0 });
  });
});
