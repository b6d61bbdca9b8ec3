import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import type { OnlineUsers } from '../core/redis/online.ts';
import { KeyedBatcher } from './batcher.ts';
import { userChannel, type ParleyServer, type ParleySocket } from './types.ts';

/**
 * Users per room-mates look-up: a connection storm (every client after a deploy) asks for
 * thousands of users at once, and one statement per user held the pool for seconds, long
 * enough for announcements to time out waiting for a connection. Bounded, because each user
 * brings all of their room-mates (a user in a room of 5,000 brings 5,000 rows).
 */
const MATES_BATCH = 50;
/** Look-ups that may run at once (users are spread over them), leaving the pool to the rest. */
const MATES_LANES = 4;

/**
 * Online anywhere, as the sockets see it: each socket is an entry of the shared store from
 * its handshake to its disconnect, refreshed by a heartbeat and pruned when its instance
 * stops refreshing it (a crash). When a user comes online (first socket anywhere) or goes
 * offline (last one), the instance whose change made the transition — the store reports it
 * to exactly one caller — tells the users who share a room with them: `user_online`, one
 * emit to the set of their user channels, through the adapter to every instance.
 */
export class OnlinePresence {
  private timer: ReturnType<typeof setInterval> | undefined;
  private ticking = false;
  private degraded = false;
  /** Announcements per user, in order: an arrival's `true` never overtakes the `false` after it. */
  private readonly announcing = new Map<string, Promise<void>>();
  /** Shut down: what is still queued is dropped (abandon). */
  private abandoned = false;
  /** Room-mates of the users being announced, for everyone asking at about the same time. */
  private readonly mates: KeyedBatcher<string, string[]>;

  constructor(
    private readonly io: ParleyServer,
    private readonly store: OnlineUsers,
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly heartbeatMs: number,
  ) {
    this.mates = new KeyedBatcher((_key, userIds) => roomMatesOfMany(this.db, userIds), MATES_BATCH);
  }

  start(): void {
    const timer = setInterval(() => void this.tick(), this.heartbeatMs);
    timer.unref();
    this.timer = timer;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Resolves once the store knows (the announcement, if any, follows on its own). */
  async connected(socket: ParleySocket): Promise<void> {
    const { userId } = socket.data.session;
    try {
      if (await this.store.connect(userId, socket.id, this.now())) void this.announce(userId, true);
      this.healthy();
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * Resolves once the store knows; the announcement follows on its own, in order after the
   * arrival's (a slow database must not hold a disconnect's clean-up, which shutdown waits for).
   */
  async disconnected(socket: ParleySocket): Promise<void> {
    const { userId } = socket.data.session;
    try {
      if (await this.store.disconnect(userId, socket.id, this.now())) void this.announce(userId, false);
    } catch (err) {
      this.failed(err);
    }
  }

  /** Refreshes this instance's sockets, then prunes the entries nobody refreshes any more. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const entries = [...this.io.of('/').sockets.values()]
        .filter((s) => s.data.session)
        .map((s) => ({ userId: s.data.session.userId, socketId: s.id }));
      await this.store.refresh(entries, this.now());
      // Not awaited one by one: after another instance's crash, thousands of users' room-mates
      // queries would hold up this instance's own refresh (announce keeps each user's order).
      for (const userId of await this.store.prune(this.now())) void this.announce(userId, false);
      this.healthy();
    } catch (err) {
      this.failed(err);
    } finally {
      this.ticking = false;
    }
  }

  /** Waits for the announcements in flight, at most `maxMs` (shutdown). */
  async idle(maxMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.announcing.values()]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs))),
    ]);
    clearTimeout(timer);
  }

  /**
   * Shutdown, once `idle` has waited what it may: the announcements still queued are dropped
   * with one log line, not one warning each when the database closes under them (a graceful
   * stop with a thousand departures wrote a thousand lines).
   */
  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.announcing.size > 0)
      this.logger.warn({ users: this.announcing.size }, 'user_online announcements dropped at shutdown');
  }

  private announce(userId: string, online: boolean): Promise<void> {
    const previous = this.announcing.get(userId) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.abandoned) return;
      try {
        const lane = String(userId.charCodeAt(userId.length - 1) % MATES_LANES);
        const mates = await this.mates.submit(lane, userId);
        if (mates.length > 0) this.io.to(mates.map(userChannel)).emit('user_online', { userId, online });
      } catch (err) {
        if (this.abandoned) return;
        this.logger.warn({ err: { message: (err as Error).message }, userId }, 'user_online not announced');
      }
    });
    this.announcing.set(userId, next);
    void next.finally(() => {
      if (this.announcing.get(userId) === next) this.announcing.delete(userId);
    });
    return next;
  }

  private failed(err: unknown): void {
    if (!this.degraded) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'online store unavailable');
    }
    this.degraded = true;
  }

  private healthy(): void {
    if (this.degraded) this.logger.info('online store back');
    this.degraded = false;
  }
}

/** The users who share a room with each of `userIds` (each user's list excludes the user). */
async function roomMatesOfMany(db: Database, userIds: string[]): Promise<string[][]> {
  const rows = await db.query<{ of: string; mate: string }>(
    `SELECT DISTINCT mine.user_id AS "of", other.user_id AS mate
       FROM room_members mine
       JOIN room_members other ON other.room_id = mine.room_id
      WHERE mine.user_id = ANY($1::text[]) AND other.user_id <> mine.user_id`,
    [[...new Set(userIds)]],
  );
  const byUser = new Map<string, string[]>();
  for (const { of, mate } of rows) {
    let list = byUser.get(of);
    if (!list) byUser.set(of, (list = []));
    list.push(mate);
  }
  return userIds.map((id) => byUser.get(id) ?? []);
}
