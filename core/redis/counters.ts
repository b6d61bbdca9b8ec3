import type { Redis, Result } from 'ioredis';
import type { Logger } from '../logger.ts';

/**
 * Fixed-window counters: the storage behind every rate limit. In Redis when configured
 * (shared by all instances), in memory otherwise, and in memory while Redis is away.
 */

export interface CounterHit {
  key: string;
  windowMs: number;
}

export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

export interface LimitedHit extends CounterHit {
  limit: number;
}

export interface CounterStore {
  /** Counts one hit on each key, atomically per key, and returns the windows after it. */
  hit(hits: CounterHit[]): Promise<WindowCount[]>;
  /**
   * Takes one unit of every rule at once, or none: when any key would go over its limit,
   * every increment is undone in the same atomic step. Concurrent callers therefore never
   * all see "under the limit": at most `limit` reservations are held per key.
   */
  reserve(rules: LimitedHit[]): Promise<RateCheck>;
  /** Gives back one reserved unit per key (never below zero; nothing once the window ended). */
  release(keys: string[]): Promise<void>;
  /** The current window of a key without counting (count 0 when none). */
  peek(key: string): Promise<WindowCount>;
  /** Sets a key that lives `ms` (count 1, read with `peek`), or longer if it already does. */
  hold(key: string, ms: number): Promise<void>;
  close(): Promise<void>;
}

export class MemoryCounterStore implements CounterStore {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  async hit(hits: CounterHit[]): Promise<WindowCount[]> {
    return this.hitSync(hits);
  }

  hitSync(hits: CounterHit[]): WindowCount[] {
    const now = this.now();
    return hits.map(({ key, windowMs }) => {
      let w = this.windows.get(key);
      if (!w || w.resetAt <= now) {
        w = { count: 0, resetAt: now + windowMs };
        this.windows.set(key, w);
      }
      w.count += 1;
      return { count: w.count, resetMs: w.resetAt - now };
    });
  }

  async reserve(rules: LimitedHit[]): Promise<RateCheck> {
    return this.reserveSync(rules);
  }

  /** Synchronous, so a whole reservation happens within one turn of the event loop. */
  reserveSync(rules: LimitedHit[]): RateCheck {
    const windows = this.hitSync(rules);
    let retryAfterMs = 0;
    windows.forEach((w, i) => {
      if (w.count > rules[i]!.limit) retryAfterMs = Math.max(retryAfterMs, w.resetMs);
    });
    if (retryAfterMs > 0) this.releaseSync(rules.map((r) => r.key));
    return { allowed: retryAfterMs === 0, retryAfterMs };
  }

  async release(keys: string[]): Promise<void> {
    this.releaseSync(keys);
  }

  releaseSync(keys: string[]): void {
    const now = this.now();
    for (const key of keys) {
      const w = this.windows.get(key);
      if (w && w.resetAt > now && w.count > 0) w.count -= 1;
    }
  }

  async peek(key: string): Promise<WindowCount> {
    const now = this.now();
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return { count: 0, resetMs: 0 };
    return { count: w.count, resetMs: w.resetAt - now };
  }

  async hold(key: string, ms: number): Promise<void> {
    const resetAt = this.now() + ms;
    const w = this.windows.get(key);
    if (!w || w.resetAt < resetAt) this.windows.set(key, { count: Math.max(1, w?.count ?? 0), resetAt });
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.windows.clear();
  }
}

// INCR and the expiry of a new window in one step, so no key can outlive its window.
const HIT_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[2 * i - 1] = count
  out[2 * i] = ttl
end
return out`;

// All keys incremented (new windows get their expiry); if any is over its limit, all are
// decremented again before the script returns: reserve-or-nothing in one atomic step.
// ARGV: windowMs of each key, then the limit of each key. Returns {allowed, retryAfterMs}.
const RESERVE_SCRIPT = `
local n = #KEYS
local retry = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  if count > tonumber(ARGV[n + i]) and ttl > retry then retry = ttl end
end
if retry > 0 then
  for _, key in ipairs(KEYS) do redis.call('DECR', key) end
  return {0, retry}
end
return {1, 0}`;

// DECR only a live window that holds something: an expired key is not resurrected without a TTL.
const RELEASE_SCRIPT = `
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 0 and redis.call('PTTL', key) > 0 then redis.call('DECR', key) end
end
return 0`;

// The key lives at least ARGV[1] ms from now: a longer life it already has is kept.
const HOLD_SCRIPT = `
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
end
return 0`;

// The Lua scripts defined below, as ioredis types custom commands (module augmentation).
declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyHit(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    parleyReserve(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    parleyRelease(numKeys: number, ...args: (string | number)[]): Result<number[], Context>;
    parleyHold(numKeys: number, ...args: (string | number)[]): Result<number, Context>;
  }
}

export class RedisCounterStore implements CounterStore {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('parleyHit', { lua: HIT_SCRIPT });
    redis.defineCommand('parleyReserve', { lua: RESERVE_SCRIPT });
    redis.defineCommand('parleyRelease', { lua: RELEASE_SCRIPT });
    redis.defineCommand('parleyHold', { lua: HOLD_SCRIPT });
  }

  async reserve(rules: LimitedHit[]): Promise<RateCheck> {
    if (rules.length === 0) return { allowed: true, retryAfterMs: 0 };
    const [allowed, retry] = await this.redis.parleyReserve(
      rules.length,
      ...rules.map((r) => r.key),
      ...rules.map((r) => r.windowMs),
      ...rules.map((r) => r.limit),
    );
    return { allowed: Number(allowed) === 1, retryAfterMs: Number(retry) };
  }

  async release(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.redis.parleyRelease(keys.length, ...keys);
  }

  async hit(hits: CounterHit[]): Promise<WindowCount[]> {
    if (hits.length === 0) return [];
    const flat = await this.redis.parleyHit(
      hits.length,
      ...hits.map((h) => h.key),
      ...hits.map((h) => h.windowMs),
    );
    return hits.map((_, i) => ({ count: Number(flat[2 * i]), resetMs: Number(flat[2 * i + 1]) }));
  }

  async peek(key: string): Promise<WindowCount> {
    const [[, count], [, ttl]] = (await this.redis.multi().get(key).pttl(key).exec()) as [
      [Error | null, string | null],
      [Error | null, number],
    ];
    const n = count === null ? 0 : Number(count);
    return { count: n, resetMs: n > 0 && ttl > 0 ? ttl : 0 };
  }

  async hold(key: string, ms: number): Promise<void> {
    await this.redis.parleyHold(1, key, Math.max(1, Math.ceil(ms)));
  }

  async close(): Promise<void> {
    // The Redis connection is owned and closed by whoever created it.
  }
}

/**
 * Redis first; while Redis fails, memory. Limits then hold per instance instead of across
 * instances, which beats refusing every request or letting everything through.
 */
export class FallbackCounterStore implements CounterStore {
  private degraded = false;

  constructor(
    private readonly primary: CounterStore,
    private readonly fallback: CounterStore,
    private readonly logger: Logger,
  ) {}

  hit(hits: CounterHit[]): Promise<WindowCount[]> {
    return this.either((store) => store.hit(hits));
  }

  reserve(rules: LimitedHit[]): Promise<RateCheck> {
    return this.either((store) => store.reserve(rules));
  }

  async release(keys: string[]): Promise<void> {
    // The reservation may have been taken in either store; releasing in both is harmless
    // for the other (it never goes below zero and a missing window is left alone).
    await this.primary.release(keys).catch((err: unknown) => this.failed(err));
    await this.fallback.release(keys);
  }

  peek(key: string): Promise<WindowCount> {
    return this.either((store) => store.peek(key));
  }

  hold(key: string, ms: number): Promise<void> {
    return this.either((store) => store.hold(key, ms));
  }

  /** The primary's answer; while it fails, the fallback's. */
  private async either<T>(call: (store: CounterStore) => Promise<T>): Promise<T> {
    try {
      const result = await call(this.primary);
      this.recovered();
      return result;
    } catch (err) {
      this.failed(err);
      return call(this.fallback);
    }
  }

  private failed(err: unknown): void {
    if (!this.degraded) {
      this.logger.warn(
        { err: { message: (err as Error).message } },
        'rate limits fall back to memory while Redis is unavailable',
      );
    }
    this.degraded = true;
  }

  private recovered(): void {
    if (this.degraded) this.logger.info('rate limits back on Redis');
    this.degraded = false;
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }
}

export interface RateCheck {
  allowed: boolean;
  retryAfterMs: number;
}

/** Counts a hit against several rules ({key, windowMs, limit}); refused when any is over. */
export async function consume(store: CounterStore, rules: LimitedHit[]): Promise<RateCheck> {
  const windows = await store.hit(rules);
  let retryAfterMs = 0;
  windows.forEach((w, i) => {
    if (w.count > rules[i]!.limit) retryAfterMs = Math.max(retryAfterMs, w.resetMs);
  });
  return { allowed: retryAfterMs === 0, retryAfterMs };
}
