import type { Redis, Result } from 'ioredis';
import type { PresentUser } from '../schemas.ts';
import { MemoryOnline, RedisOnline, type OnlineUsers } from './online.ts';

/**
 * Who is in which room, per socket. In Redis (hash `presence:room:<roomId>`, field = socket
 * id, value = `{id, name, ts}`) when configured, so every instance sees every socket; in
 * memory otherwise. Entries carry the time of their last refresh: an entry older than the
 * TTL belongs to a socket whose instance stopped refreshing it (crashed) and is pruned.
 */

export interface PresenceEntry {
  roomId: string;
  socketId: string;
  user: PresentUser;
}

export interface PresenceSnapshot {
  /** Present users, one entry per user however many sockets, ordered by id. */
  users: PresentUser[];
  /** Stale entries removed while taking the snapshot. */
  pruned: number;
}

export interface Presence {
  /** Adds or refreshes entries (join and heartbeat), stamped `now`. */
  put(entries: PresenceEntry[], now: number): Promise<void>;
  /** Removes a socket from a room; true when an entry was there. */
  remove(roomId: string, socketId: string): Promise<boolean>;
  /** Prunes entries older than the TTL, then returns who is present. */
  snapshot(roomId: string, now: number): Promise<PresenceSnapshot>;
  /**
   * Records `set` (a room's users, as a comparable string) as the room's last announced set
   * and answers whether it must be announced: false when it equals the last set announced by
   * any instance, unless `force`. Shared, so that instances do not repeat each other.
   */
  claimAnnouncement(roomId: string, set: string, force: boolean): Promise<boolean>;
  /** Who is online anywhere (any socket on any instance), in the same store with the same TTL. */
  readonly online: OnlineUsers;
  close(): Promise<void>;
}

/** How long a room's last announced set is remembered without any change. */
const ANNOUNCED_TTL_MS = 24 * 3_600_000;

interface StoredEntry {
  id: string;
  name: string;
  ts: number;
}

/** Distinct users by id, in a stable order, so equal sets compare equal. */
export function distinctUsers(entries: Iterable<PresentUser>): PresentUser[] {
  const byId = new Map<string, PresentUser>();
  for (const e of entries) if (!byId.has(e.id)) byId.set(e.id, { id: e.id, name: e.name });
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export class MemoryPresence implements Presence {
  private readonly rooms = new Map<string, Map<string, StoredEntry>>();
  private readonly announced = new Map<string, string>();
  readonly online: OnlineUsers;

  constructor(private readonly ttlMs: number) {
    this.online = new MemoryOnline(ttlMs);
  }

  async put(entries: PresenceEntry[], now: number): Promise<void> {
    for (const e of entries) {
      let room = this.rooms.get(e.roomId);
      if (!room) this.rooms.set(e.roomId, (room = new Map()));
      room.set(e.socketId, { id: e.user.id, name: e.user.name, ts: now });
    }
  }

  async remove(roomId: string, socketId: string): Promise<boolean> {
    const room = this.rooms.get(roomId);
    const had = room?.delete(socketId) ?? false;
    if (room && room.size === 0) this.rooms.delete(roomId);
    return had;
  }

  async snapshot(roomId: string, now: number): Promise<PresenceSnapshot> {
    const room = this.rooms.get(roomId);
    if (!room) return { users: [], pruned: 0 };
    let pruned = 0;
    for (const [socketId, e] of room) {
      if (e.ts < now - this.ttlMs) {
        room.delete(socketId);
        pruned += 1;
      }
    }
    if (room.size === 0) this.rooms.delete(roomId);
    return { users: distinctUsers(room.values()), pruned };
  }

  async claimAnnouncement(roomId: string, set: string, force: boolean): Promise<boolean> {
    if (!force && this.announced.get(roomId) === set) return false;
    if (set === '') this.announced.delete(roomId);
    else this.announced.set(roomId, set);
    return true;
  }

  async close(): Promise<void> {
    this.rooms.clear();
    this.announced.clear();
  }
}

// Prune and read in one atomic step: an entry refreshed between a read and a delete issued
// separately would otherwise be deleted while live.
const SNAPSHOT_SCRIPT = `
local cutoff = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
local live = {}
local stale = {}
for i = 1, #flat, 2 do
  local ok, e = pcall(cjson.decode, flat[i + 1])
  if ok and type(e) == 'table' and type(e.ts) == 'number' and e.ts >= cutoff then
    live[#live + 1] = flat[i + 1]
  else
    stale[#stale + 1] = flat[i]
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
return {#stale, live}`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyPresenceSnapshot(key: string, cutoff: number): Result<[number, string[]], Context>;
  }
}

// Compare-and-set of a room's last announced set, in one step across instances.
// ARGV: the set, force (1/0), ttl ms. Returns 1 when the set is to be announced.
const CLAIM_SCRIPT = `
if ARGV[2] ~= '1' and redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyPresenceClaim(key: string, set: string, force: string, ttlMs: number): Result<number, Context>;
  }
}

export const presenceKey = (roomId: string) => `presence:room:${roomId}`;
const announcedKey = (roomId: string) => `presence:announced:${roomId}`;

export class RedisPresence implements Presence {
  readonly online: OnlineUsers;

  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    this.online = new RedisOnline(redis, ttlMs);
    redis.defineCommand('parleyPresenceSnapshot', { numberOfKeys: 1, lua: SNAPSHOT_SCRIPT });
    redis.defineCommand('parleyPresenceClaim', { numberOfKeys: 1, lua: CLAIM_SCRIPT });
  }

  async claimAnnouncement(roomId: string, set: string, force: boolean): Promise<boolean> {
    return (
      (await this.redis.parleyPresenceClaim(
        announcedKey(roomId),
        set,
        force ? '1' : '0',
        ANNOUNCED_TTL_MS,
      )) === 1
    );
  }

  async put(entries: PresenceEntry[], now: number): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    const keys = new Set<string>();
    for (const e of entries) {
      const key = presenceKey(e.roomId);
      keys.add(key);
      pipeline.hset(key, e.socketId, JSON.stringify({ id: e.user.id, name: e.user.name, ts: now }));
    }
    // A room nobody refreshes any more disappears as a whole, even if nobody prunes it.
    for (const key of keys) pipeline.pexpire(key, this.ttlMs * 2);
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async remove(roomId: string, socketId: string): Promise<boolean> {
    return (await this.redis.hdel(presenceKey(roomId), socketId)) > 0;
  }

  async snapshot(roomId: string, now: number): Promise<PresenceSnapshot> {
    const [pruned, live] = await this.redis.parleyPresenceSnapshot(presenceKey(roomId), now - this.ttlMs);
    const entries: StoredEntry[] = [];
    for (const raw of live) {
      try {
        entries.push(JSON.parse(raw) as StoredEntry);
      } catch {
        // the script only returns entries it could decode
      }
    }
    return { users: distinctUsers(entries), pruned: Number(pruned) };
  }

  async close(): Promise<void> {
    // The connection belongs to the services that opened it.
  }
}
