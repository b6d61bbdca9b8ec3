import type { Logger } from '../core/logger.ts';
import { presencePruned } from '../core/metrics.ts';
import { distinctUsers, type Presence, type PresenceEntry } from '../core/redis/presence.ts';
import type { PresentUser } from '../core/schemas.ts';
import { KeyedBatcher } from './batcher.ts';
import { joinedRooms, roomChannel, type ParleyServer, type ParleySocket } from './types.ts';

/**
 * How long presence changes in one room are gathered into one announcement: 50 ms, longer
 * where one announcement is expensive. An announcement is the whole user list written to
 * every socket of the room here, so its cost grows with sockets × users (1,000 users to 1,000
 * sockets is ~40 MB to write here and as much JSON for the clients to parse); the window is
 * 1 ms per 1,000 of that product, at most 2 s. A room of 1,000 hears of arrivals up to a
 * second late, and a ramp of arrivals costs a bounded announcement bandwidth, not one
 * growing with the cube of the room.
 */
const ANNOUNCE_WINDOW_MS = 50;
const ANNOUNCE_WINDOW_MAX_MS = 2_000;
const announceWindowMs = (sockets: number, users: number) =>
  Math.min(ANNOUNCE_WINDOW_MAX_MS, Math.max(ANNOUNCE_WINDOW_MS, Math.ceil((sockets * users) / 1_000)));

/**
 * Presence as the sockets see it: keeps this instance's sockets in the shared store, tells
 * the room when its set of users changes, refreshes entries on a heartbeat and prunes those
 * a crashed instance left behind. While the store fails (Redis away) it answers from this
 * instance's own sockets, and the next successful heartbeat restores the shared view.
 */
export class RoomPresence {
  private timer: ReturnType<typeof setInterval> | undefined;
  private ticking = false;
  private degraded = false;
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly pruned = new Set<string>();
  /**
   * The last set this instance announced per room: the fallback while the shared record
   * (Presence.claimAnnouncement) cannot be reached.
   */
  private readonly announced = new Map<string, string>();
  /** The number of users in each room's last snapshot here: what an announcement would carry. */
  private readonly sizes = new Map<string, number>();
  private readonly arrivals = new KeyedBatcher<ParleySocket, PresentUser[]>((roomId, sockets) =>
    this.enterAll(roomId, sockets),
  );

  constructor(
    private readonly io: ParleyServer,
    private readonly store: Presence,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly heartbeatMs: number,
  ) {}

  start(): void {
    const timer = setInterval(() => void this.tick(), this.heartbeatMs);
    timer.unref();
    this.timer = timer;
  }

  stop(): void {
    clearInterval(this.timer);
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  /**
   * Announces every coalesced change now, waiting at most `maxMs` (shutdown: the departures of
   * this instance's sockets go out before Socket.IO closes, instead of with timers that would
   * fire after it, or never).
   */
  async flushPending(maxMs: number): Promise<void> {
    const rooms = [...this.pending.keys()];
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(rooms.map((roomId) => this.flush(roomId))),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs))),
    ]);
    clearTimeout(timer);
  }

  /**
   * Records a socket in a room and returns who is present; the room hears of the change.
   * Arrivals in one room at about the same time (a join storm) are written together, in one
   * pipeline with one snapshot for all of them (KeyedBatcher): each answer still holds its
   * own socket's user, since the snapshot is taken after every entry of the batch is in.
   */
  entered(socket: ParleySocket, roomId: string): Promise<PresentUser[]> {
    return this.arrivals.submit(roomId, socket);
  }

  private async enterAll(roomId: string, sockets: ParleySocket[]): Promise<PresentUser[][]> {
    let users: PresentUser[];
    try {
      const entries = sockets.map((socket) => ({ roomId, socketId: socket.id, user: userOf(socket) }));
      const snap = await this.store.enter(roomId, entries, this.now());
      if (snap.pruned > 0) {
        presencePruned.inc(snap.pruned);
        this.pruned.add(roomId);
      }
      users = snap.users;
    } catch (err) {
      this.failed(err);
      users = this.localUsers(roomId);
    }
    this.sizes.set(roomId, users.length);
    this.changed(roomId);
    return sockets.map(() => users);
  }

  /** Forgets a socket in a room (leave, removal, disconnect); the room hears if its user is gone. */
  async left(socketId: string, _user: PresentUser, roomId: string): Promise<void> {
    try {
      await this.store.remove(roomId, socketId);
    } catch (err) {
      this.failed(err);
    }
    this.changed(roomId);
  }

  /**
   * Announcements are coalesced per room: a burst of arrivals (a class joining, a reconnect
   * storm after a deploy) sends one `presence` per window with the set as it then is,
   * instead of one full user list per arrival to every socket, which grows with the cube
   * of the room's size. Unchanged sets are not announced again.
   */
  private changed(roomId: string): void {
    if (this.pending.has(roomId)) return;
    const timer = setTimeout(
      () => {
        this.pending.delete(roomId);
        void this.flush(roomId);
      },
      announceWindowMs(
        this.io.of('/').adapter.rooms.get(roomChannel(roomId))?.size ?? 0,
        this.sizes.get(roomId) ?? 0,
      ),
    );
    timer.unref();
    this.pending.set(roomId, timer);
  }

  private async flush(roomId: string): Promise<void> {
    // After a prune the room may hold another instance's announcement that still lists the
    // pruned sockets' users, so the set goes out even if this instance announced it before.
    let force = this.pruned.delete(roomId);
    let users: PresentUser[];
    try {
      const snap = await this.store.snapshot(roomId, this.now());
      if (snap.pruned > 0) presencePruned.inc(snap.pruned);
      force ||= snap.pruned > 0;
      users = snap.users;
    } catch (err) {
      this.failed(err);
      users = this.localUsers(roomId);
    }
    await this.announce(roomId, users, force);
  }

  /** Rooms with at least one socket of this instance in them. */
  localRooms(): string[] {
    const rooms: string[] = [];
    for (const name of this.io.of('/').adapter.rooms.keys()) {
      if (name.startsWith('room:')) rooms.push(name.slice('room:'.length));
    }
    return rooms;
  }

  /** Refresh every local entry, then prune each local room and announce what changed. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const entries: PresenceEntry[] = [];
      for (const socket of this.io.of('/').sockets.values()) {
        const user = userOf(socket);
        for (const roomId of joinedRooms(socket)) entries.push({ roomId, socketId: socket.id, user });
      }
      await this.store.put(entries, this.now());
      const recovering = this.degraded;
      for (const roomId of this.localRooms()) {
        const snap = await this.store.snapshot(roomId, this.now());
        if (snap.pruned > 0) presencePruned.inc(snap.pruned);
        // After an outage other instances' users reappear: everyone gets the full picture.
        // Forced: another instance may have announced a set that still held the pruned sockets.
        if (snap.pruned > 0 || recovering) await this.announce(roomId, snap.users, true);
      }
      this.healthy();
    } catch (err) {
      this.failed(err);
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Unchanged sets are not announced again, by this instance or another: each instance only
   * sees its own announcements, so the last one is recorded in the shared store (a join on
   * instance A of a set that B announced would otherwise repeat it to everyone).
   */
  private async announce(roomId: string, users: PresentUser[], force = false): Promise<void> {
    const key = users
      .map((u) => u.id)
      .sort()
      .join(',');
    let due: boolean;
    try {
      due = await this.store.claimAnnouncement(roomId, key, force);
    } catch (err) {
      this.failed(err);
      due = force || this.announced.get(roomId) !== key;
    }
    this.sizes.set(roomId, users.length);
    if (!due) return;
    this.announced.set(roomId, key);
    if (!this.io.of('/').adapter.rooms.has(roomChannel(roomId))) {
      this.announced.delete(roomId);
      this.sizes.delete(roomId);
    }
    this.io.to(roomChannel(roomId)).emit('presence', { roomId, users });
  }

  private localUsers(roomId: string): PresentUser[] {
    const ids = this.io.of('/').adapter.rooms.get(roomChannel(roomId)) ?? new Set<string>();
    const users: PresentUser[] = [];
    for (const id of ids) {
      const socket = this.io.of('/').sockets.get(id);
      if (socket) users.push(userOf(socket));
    }
    return distinctUsers(users);
  }

  private failed(err: unknown): void {
    if (!this.degraded) {
      this.logger.warn(
        { err: { message: (err as Error).message } },
        'presence store unavailable; using local presence',
      );
    }
    this.degraded = true;
  }

  private healthy(): void {
    if (this.degraded) this.logger.info('presence store back');
    this.degraded = false;
  }
}

const userOf = (socket: ParleySocket): PresentUser => ({
  id: socket.data.session.userId,
  name: socket.data.session.name,
});
