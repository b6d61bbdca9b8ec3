import type { Logger } from '../core/logger.ts';
import { presencePruned } from '../core/metrics.ts';
import { distinctUsers, type Presence, type PresenceEntry } from '../core/presence.ts';
import type { PresentUser } from '../core/schemas.ts';
import { roomChannel, type ParleyServer, type ParleySocket } from './types.ts';

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
  private readonly chains = new Map<string, Promise<void>>();

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
  }

  /**
   * One presence change per room at a time on this instance, so that two changes (a tab
   * closing while another leaves) cannot both see the user gone and announce it twice.
   */
  private serialized<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(roomId) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(roomId, tail);
    void tail.then(() => {
      if (this.chains.get(roomId) === tail) this.chains.delete(roomId);
    });
    return run;
  }

  /** Records a socket in a room; returns who is present, and tells the room if that changed. */
  entered(socket: ParleySocket, roomId: string): Promise<PresentUser[]> {
    return this.serialized(roomId, () => this.enter(socket, roomId));
  }

  /** Forgets a socket in a room (leave, removal, disconnect) and tells the room if its user is gone. */
  left(socketId: string, user: PresentUser, roomId: string): Promise<void> {
    return this.serialized(roomId, () => this.leave(socketId, user, roomId));
  }

  private async enter(socket: ParleySocket, roomId: string): Promise<PresentUser[]> {
    const user = userOf(socket);
    try {
      const before = await this.store.snapshot(roomId, this.now());
      await this.store.put([{ roomId, socketId: socket.id, user }], this.now());
      const after = await this.store.snapshot(roomId, this.now());
      if (before.pruned + after.pruned > 0 || !before.users.some((u) => u.id === user.id)) {
        this.announce(roomId, after.users);
      }
      return after.users;
    } catch (err) {
      this.failed(err);
      const users = this.localUsers(roomId);
      this.announce(roomId, users);
      return users;
    }
  }

  private async leave(socketId: string, user: PresentUser, roomId: string): Promise<void> {
    try {
      const removed = await this.store.remove(roomId, socketId);
      const after = await this.store.snapshot(roomId, this.now());
      if ((removed || after.pruned > 0) && !after.users.some((u) => u.id === user.id)) {
        this.announce(roomId, after.users);
      }
    } catch (err) {
      this.failed(err);
      this.announce(roomId, this.localUsers(roomId));
    }
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
        for (const roomId of socket.data.joined) entries.push({ roomId, socketId: socket.id, user });
      }
      await this.store.put(entries, this.now());
      const recovering = this.degraded;
      for (const roomId of this.localRooms()) {
        const snap = await this.store.snapshot(roomId, this.now());
        if (snap.pruned > 0) presencePruned.inc(snap.pruned);
        // After an outage other instances' users reappear: everyone gets the full picture.
        if (snap.pruned > 0 || recovering) this.announce(roomId, snap.users);
      }
      this.healthy();
    } catch (err) {
      this.failed(err);
    } finally {
      this.ticking = false;
    }
  }

  private announce(roomId: string, users: PresentUser[]): void {
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
