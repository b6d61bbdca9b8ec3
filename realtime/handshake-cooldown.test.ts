import { describe, expect, it } from 'vitest';
import { MemoryCounterStore } from '../core/redis/counters.ts';
import { silentLogger } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';
import { ReconnectCooldown } from './handshake-cooldown.ts';

/** The cool-down's arithmetic on a clock of its own (the sockets: event-budget.test.ts). */
describe('ReconnectCooldown', () => {
  const setup = (baseMs: number) => {
    let now = 1_000_000;
    const clock = () => now;
    const store = new MemoryCounterStore(clock);
    return {
      store,
      cooldown: new ReconnectCooldown(store, baseMs, silentLogger, clock),
      advance: (ms: number) => (now += ms),
    };
  };
  const shared = (store: MemoryCounterStore, userId: string) =>
    waitUntil('held', async () => (await store.peek(`reconnect-cooldown:${userId}`)).count > 0, 1_000, 1);

  it('refuses at once, then for twice as long on each repeat within 10 minutes, at most 16 times over', async () => {
    const { store, cooldown, advance } = setup(1_000);
    expect(await cooldown.remainingMs('u')).toBe(0);
    const expected = [1_000, 2_000, 4_000, 8_000, 16_000, 16_000];
    for (const ms of expected) {
      cooldown.impose('u');
      // Known locally before the store has answered: the flooder's next handshake is refused.
      expect(await cooldown.remainingMs('u')).toBeGreaterThan(0);
      await shared(store, 'u');
      await waitUntil('escalated', async () => (await cooldown.remainingMs('u')) === ms, 1_000, 1);
      advance(ms - 1);
      expect(await cooldown.remainingMs('u')).toBe(1);
      advance(1);
      expect(await cooldown.remainingMs('u')).toBe(0);
    }
    // Another user is not affected.
    expect(await cooldown.remainingMs('v')).toBe(0);
    await store.close();
  });

  it('reads a cool-down another instance imposed from the shared store', async () => {
    const { store, cooldown } = setup(1_000);
    const elsewhere = new ReconnectCooldown(store, 1_000, silentLogger, () => 1_000_000);
    elsewhere.impose('u');
    await shared(store, 'u');
    expect(await cooldown.remainingMs('u')).toBe(1_000);
    await store.close();
  });

  it('does nothing when off (0)', async () => {
    const { store, cooldown } = setup(0);
    cooldown.impose('u');
    expect(await cooldown.remainingMs('u')).toBe(0);
    expect((await store.peek('reconnect-strikes:u')).count).toBe(0);
    await store.close();
  });
});
