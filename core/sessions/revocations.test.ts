import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../redis/bus.ts';
import { RevocationCache, listenForRevocations } from './revocations.ts';

/** A revocation table to look up in, counting the look-ups (the queries REST would make). */
function table() {
  const revoked = new Set<string>();
  let lookups = 0;
  return {
    revoked,
    lookups: () => lookups,
    lookup: async (jti: string) => {
      lookups += 1;
      await new Promise((r) => setTimeout(r, 5));
      return revoked.has(jti);
    },
  };
}

const EXP = Number.MAX_SAFE_INTEGER;

describe('RevocationCache', () => {
  it('answers "not revoked" from memory within the staleness bound, then looks again', async () => {
    let now = 1_000;
    const cache = new RevocationCache(2_000, () => now);
    const db = table();
    expect(await cache.isRevoked('t1', EXP, db.lookup)).toBe(false);
    now += 1_999;
    expect(await cache.isRevoked('t1', EXP, db.lookup)).toBe(false);
    expect(db.lookups()).toBe(1);
    // Revoked elsewhere, unheard: refused once the cached answer is older than the bound.
    db.revoked.add('t1');
    now += 1;
    expect(await cache.isRevoked('t1', EXP, db.lookup)).toBe(true);
    expect(db.lookups()).toBe(2);
    expect(await cache.isRevoked('t1', EXP, db.lookup)).toBe(true);
    expect(db.lookups()).toBe(2); // a revocation found is kept
  });

  it('shares one look-up among concurrent requests with the same token', async () => {
    const cache = new RevocationCache();
    const db = table();
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.isRevoked('t', EXP, db.lookup)));
    expect(answers.every((a) => a === false)).toBe(true);
    expect(db.lookups()).toBe(1);
  });

  it('refuses at once a token revoked here or heard of on the bus, even while a look-up is in flight', async () => {
    const cache = new RevocationCache();
    const db = table();
    expect(await cache.isRevoked('mine', EXP, db.lookup)).toBe(false);
    cache.markRevoked('mine', EXP); // this process's logout
    expect(await cache.isRevoked('mine', EXP, db.lookup)).toBe(true);

    const bus = new MemoryBus();
    const stop = listenForRevocations(bus, cache);
    const inFlight = cache.isRevoked('theirs', EXP, db.lookup); // reads "not revoked"…
    await bus.publish({ type: 'session.revoked', jti: 'theirs', userId: 'u' }); // …then the logout
    expect(await inFlight).toBe(true);
    expect(await cache.isRevoked('theirs', EXP, db.lookup)).toBe(true);
    stop();
    await bus.publish({ type: 'session.revoked', jti: 'later', userId: 'u' });
    expect(await cache.isRevoked('later', EXP, db.lookup)).toBe(false); // unsubscribed
  });

  it('stays bounded, and an evicted revocation is found again in the database', async () => {
    let now = 0;
    const cache = new RevocationCache(2_000, () => now, 3);
    const db = table();
    for (const jti of ['a', 'b', 'c', 'd']) {
      db.revoked.add(jti);
      expect(await cache.isRevoked(jti, 10, db.lookup)).toBe(true);
    }
    now = 5; // none expired yet: the oldest ('a') was evicted
    const before = db.lookups();
    expect(await cache.isRevoked('a', 10, db.lookup)).toBe(true);
    expect(db.lookups()).toBe(before + 1);
  });
});
