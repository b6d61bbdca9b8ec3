import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

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

export interface CounterStore {
  /** Counts one hit on each key, atomically per key, and returns the windows after it. */
  hit(hits: CounterHit[]): Promise<WindowCount[]>;
  /** The current window of a key without counting (count 0 when none). */
  peek(key: string): Promise<WindowCount>;
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

  async peek(key: string): Promise<WindowCount> {
    const now = this.now();
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return { count: 0, resetMs: 0 };
    return { count: w.count, resetMs: w.resetAt - now };
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

type HitCommand = (numKeys: number, ...args: (string | number)[]) => Promise<number[]>;

export class RedisCounterStore implements CounterStore {
  constructor(private readonly redis: Redis) {
    redis.defineCommand('parleyHit', { lua: HIT_SCRIPT });
  }

  async hit(hits: CounterHit[]): Promise<WindowCount[]> {
    if (hits.length === 0) return [];
    const run = (this.redis as unknown as { parleyHit: HitCommand }).parleyHit;
    const flat = await run.call(
      this.redis,
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

  async hit(hits: CounterHit[]): Promise<WindowCount[]> {
    try {
      const result = await this.primary.hit(hits);
      this.recovered();
      return result;
    } catch (err) {
      this.failed(err);
      return this.fallback.hit(hits);
    }
  }

  async peek(key: string): Promise<WindowCount> {
    try {
      const result = await this.primary.peek(key);
      this.recovered();
      return result;
    } catch (err) {
      this.failed(err);
      return this.fallback.peek(key);
    }
  }

  private failed(err: unknown): void {
    if (!this.degraded) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'rate limits fall back to memory while Redis is unavailable');
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
export async function consume(
  store: CounterStore,
  rules: (CounterHit & { limit: number })[],
): Promise<RateCheck> {
  const windows = await store.hit(rules);
  let retryAfterMs = 0;
  windows.forEach((w, i) => {
    if (w.count > rules[i]!.limit) retryAfterMs = Math.max(retryAfterMs, w.resetMs);
  });
  return { allowed: retryAfterMs === 0, retryAfterMs };
}
