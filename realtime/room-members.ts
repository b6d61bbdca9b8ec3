import type { Database } from '../core/db/database.ts';
import { roomMemberIds } from '../core/rooms/rooms.ts';

export interface RoomMembersOptions {
  /** Most rooms kept; the least recently used go first. */
  maxRooms?: number;
  /**
   * How long a room's members are trusted without a reload: bounds the damage of a bus event
   * this instance never heard (Redis away at that moment).
   */
  ttlMs?: number;
  now?: () => number;
}

interface Entry {
  members: Set<string>;
  loadedAt: number;
}

/**
 * Who the members of a room are, for the message hot path (`activity` goes to every member's
 * user channel): kept in memory per room, bounded (LRU), kept true by the bus's membership
 * events, loaded from the database on a miss (one query per room however many ask at once).
 */
export class RoomMembers {
  private readonly rooms = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Set<string>>>();
  /** Bumped by every membership event of a room: a load that raced one is not cached. */
  private readonly generation = new Map<string, number>();
  private readonly maxRooms: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Database,
    opts: RoomMembersOptions = {},
  ) {
    this.maxRooms = opts.maxRooms ?? 10_000;
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** The members if cached (synchronously: no promise on the hot path), else undefined. */
  cached(roomId: string): ReadonlySet<string> | undefined {
    const entry = this.rooms.get(roomId);
    if (!entry) return undefined;
    if (entry.loadedAt < this.now() - this.ttlMs) {
      this.rooms.delete(roomId);
      return undefined;
    }
    // Most recently used last: Map iteration order is insertion order.
    this.rooms.delete(roomId);
    this.rooms.set(roomId, entry);
    return entry.members;
  }

  /** The members, from the cache or the database. */
  async get(roomId: string): Promise<ReadonlySet<string>> {
    const hit = this.cached(roomId);
    if (hit) return hit;
    let load = this.loading.get(roomId);
    if (!load) {
      const generation = this.generation.get(roomId) ?? 0;
      load = roomMemberIds(this.db, roomId)
        .then((ids) => {
          const members = new Set(ids);
          if ((this.generation.get(roomId) ?? 0) === generation) this.store(roomId, members);
          return members;
        })
        .finally(() => {
          this.loading.delete(roomId);
          this.generation.delete(roomId);
        });
      this.loading.set(roomId, load);
    }
    return load;
  }

  joined(roomId: string, userId: string): void {
    this.changed(roomId);
    this.rooms.get(roomId)?.members.add(userId);
  }

  left(roomId: string, userId: string): void {
    this.changed(roomId);
    this.rooms.get(roomId)?.members.delete(userId);
  }

  get size(): number {
    return this.rooms.size;
  }

  private changed(roomId: string): void {
    // Only rooms being loaded need a generation (the load may have read before this change).
    if (this.loading.has(roomId)) this.generation.set(roomId, (this.generation.get(roomId) ?? 0) + 1);
  }

  private store(roomId: string, members: Set<string>): void {
    this.rooms.delete(roomId);
    this.rooms.set(roomId, { members, loadedAt: this.now() });
    while (this.rooms.size > this.maxRooms) {
      const oldest = this.rooms.keys().next().value as string;
      this.rooms.delete(oldest);
    }
  }
}
