import type { ChainableCommander, Redis, Result } from 'ioredis';
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
  /** `put` of one room's entries, then its `snapshot`: one round trip where the store allows. */
  enter(roomId: string, entries: PresenceEntry[], now: number): Promise<PresenceSnapshot>;
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

  async enter(roomId: string, entries: PresenceEntry[], now: number): Promise<PresenceSnapshot> {
    await this.put(entries, now);
    return this.snapshot(roomId, now);
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

// Writes a join batch's entries (ARGV[3…]: socket id, entry), then prunes and reads, in one
// atomic step: an entry refreshed between a read and a delete issued separately would
// otherwise be deleted while live. ARGV[1]: the cutoff, ARGV[2]: the key's expiry (ms). The
// present users come back as one JSON array (distinct by id, unordered): the driver decodes
// one string and Node parses it once, where 100 entries cost 100 of each (docs/performance.md).
const SNAPSHOT_SCRIPT = `
local cutoff = tonumber(ARGV[1])
if #ARGV > 2 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
local flat = redis.call('HGETALL', KEYS[1])
local seen = {}
local users = {}
local stale = {}
for i = 1, #flat, 2 do
  local ok, e = pcall(cjson.decode, flat[i + 1])
  if ok and type(e) == 'table' and type(e.ts) == 'number' and e.ts >= cutoff then
    if type(e.id) == 'string' and not seen[e.id] then
      seen[e.id] = true
      users[#users + 1] = cjson.encode({ id = e.id, name = e.name })
    end
  else
    stale[#stale + 1] = flat[i]
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
return {#stale, '[' .. table.concat(users, ',') .. ']'}`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyPresenceSnapshot(
      key: string,
      cutoff: number,
      expiryMs: number,
      ...entries: string[]
    ): Result<[number, string], Context>;
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

/** A pipeline's results, or the first command's error. */
function failedOf(results: [Error | null, unknown][] | null): [Error | null, unknown][] {
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
  return results ?? [];
}

/** The script's answer: users distinct by id, put in id order here (distinctUsers' order). */
function toSnapshot([pruned, users]: [number, string]): PresenceSnapshot {
  const list = JSON.parse(users) as PresentUser[];
  return { users: list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), pruned: Number(pruned) };
}

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
    this.queuePut(pipeline, entries, now);
    failedOf(await pipeline.exec());
  }

  private queuePut(pipeline: ChainableCommander, entries: PresenceEntry[], now: number): void {
    const keys = new Set<string>();
    for (const e of entries) {
      const key = presenceKey(e.roomId);
      keys.add(key);
      pipeline.hset(key, e.socketId, JSON.stringify({ id: e.user.id, name: e.user.name, ts: now }));
    }
    // A room nobody refreshes any more disappears as a whole, even if nobody prunes it.
    for (const key of keys) pipeline.pexpire(key, this.ttlMs * 2);
  }

  /** The writes and the snapshot in one command: a join storm's batch is one round trip. */
  async enter(roomId: string, entries: PresenceEntry[], now: number): Promise<PresenceSnapshot> {
    const elsewhere = entries.filter((e) => e.roomId !== roomId);
    if (elsewhere.length > 0) await this.put(elsewhere, now);
    const args: string[] = [];
    for (const e of entries)
      if (e.roomId === roomId)
        args.push(e.socketId, JSON.stringify({ id: e.user.id, name: e.user.name, ts: now }));
    return toSnapshot(
      await this.redis.parleyPresenceSnapshot(presenceKey(roomId), now - this.ttlMs, this.ttlMs * 2, ...args),
    );
  }

  async remove(roomId: string, socketId: string): Promise<boolean> {
    return (await this.redis.hdel(presenceKey(roomId), socketId)) > 0;
  }

  async snapshot(roomId: string, now: number): Promise<PresenceSnapshot> {
    return toSnapshot(
      await this.redis.parleyPresenceSnapshot(presenceKey(roomId), now - this.ttlMs, this.ttlMs * 2),
    );
  }

  async close(): Promise<void> {
    // The connection belongs to the services that opened it.
  }
}
