import type { CounterStore } from '../core/redis/counters.ts';
import type { Logger } from '../core/logger.ts';

/**
 * Reconnect cool-down: once a connection of a user is closed for flooding (event-budget.ts),
 * that user's new handshakes are refused for a while, so a flooder that comes straight back
 * does not cost a handshake, a session check, a join with its history read, presence
 * arrivals and departures and a clean-up every second (docs/reliability.md §9). The user's
 * sockets that are already open stay; new ones from any of its devices are refused until the
 * cool-down ends (docs/api.md).
 *
 * Each repeat within ESCALATION_WINDOW_MS doubles the cool-down, up to MAX_ESCALATION times
 * the configured one. Kept in the shared counter store (Redis when configured) so that a
 * flooder cannot dodge it on another instance, and in a local map too, so that this
 * instance refuses its own flooder's return without a round trip (and before the store's
 * write has landed).
 */
const ESCALATION_WINDOW_MS = 10 * 60_000;
const MAX_ESCALATION = 16;

const cooldownKey = (userId: string) => `reconnect-cooldown:${userId}`;
const strikesKey = (userId: string) => `reconnect-strikes:${userId}`;

export class ReconnectCooldown {
  /** Users in a cool-down imposed or seen by this instance: when it ends. */
  private readonly local = new Map<string, number>();
  /** Users whose refusal in the current cool-down has been logged at info (the rest: debug). */
  private readonly logged = new Set<string>();

  constructor(
    private readonly counters: CounterStore,
    /** 0: off. */
    private readonly baseMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** A connection of `userId` was closed for flooding: refuse its returns from now on. */
  readonly impose = (userId: string): void => {
    if (this.baseMs <= 0) return;
    this.logged.delete(userId);
    this.note(userId, this.baseMs);
    void this.counters
      .hit([{ key: strikesKey(userId), windowMs: ESCALATION_WINDOW_MS }])
      .then(async ([strikes]) => {
        const ms = this.baseMs * Math.min(MAX_ESCALATION, 2 ** Math.min(30, (strikes?.count ?? 1) - 1));
        this.note(userId, ms);
        await this.counters.hold(cooldownKey(userId), ms);
        this.logger.info({ userId, cooldownMs: ms, strikes: strikes?.count }, 'reconnect cool-down imposed');
      })
      .catch((err: unknown) =>
        this.logger.warn(
          { err: { message: (err as Error).message }, userId },
          'reconnect cool-down not shared',
        ),
      );
  };

  /**
   * Milliseconds until `userId` may connect again; 0: now. From the local map when it knows
   * (no I/O), else one read of the shared store (none at all while the cool-down is off).
   */
  async remainingMs(userId: string): Promise<number> {
    if (this.baseMs <= 0) return 0;
    const now = this.now();
    const until = this.local.get(userId);
    if (until !== undefined) {
      if (until > now) return until - now;
      this.local.delete(userId);
      this.logged.delete(userId);
    }
    try {
      const { count, resetMs } = await this.counters.peek(cooldownKey(userId));
      if (count === 0 || resetMs <= 0) return 0;
      this.note(userId, resetMs);
      return resetMs;
    } catch {
      // The store's own fallback already keeps limits in memory; anything else admits.
      return 0;
    }
  }

  /** True for the first refusal of a user's cool-down on this instance: log sampling. */
  firstRefusal(userId: string): boolean {
    if (this.logged.has(userId)) return false;
    this.logged.add(userId);
    return true;
  }

  private note(userId: string, ms: number): void {
    const until = this.now() + ms;
    if ((this.local.get(userId) ?? 0) < until) this.local.set(userId, until);
    // Bounded by the users cut within the longest cool-down; swept on the way.
    if (this.local.size > 1_000) {
      const now = this.now();
      for (const [u, t] of this.local) {
        if (t > now) continue;
        this.local.delete(u);
        this.logged.delete(u);
      }
    }
  }
}
