import type { Redis, Result } from 'ioredis';

/**
 * Whether a user is online anywhere: one entry per connected socket, on any instance. In Redis
 * (hash `presence:user:<userId>`, field = socket id, value = the time of its last refresh, and
 * the sorted set `presence:users` of user ids scored by their newest refresh, which is how a
 * pruner finds the users a crashed instance left behind) when configured, in memory otherwise.
 * Refreshed by the realtime heartbeat and pruned by timestamp, exactly like room presence.
 *
 * Each transition is reported once, to the caller whose change made it (across instances: the
 * Redis steps are atomic scripts), so that one instance announces it.
 */
export interface OnlineUsers {
  /** Records a socket; true when it is the user's only live one (the user came online). */
  connect(userId: string, socketId: string, now: number): Promise<boolean>;
  /** Forgets a socket; true when it was the user's last live one (the user went offline). */
  disconnect(userId: string, socketId: string, now: number): Promise<boolean>;
  /** Refreshes the entries of live sockets (the heartbeat). */
  refresh(entries: { userId: string; socketId: string }[], now: number): Promise<void>;
  /** Removes entries older than the TTL; answers the users that left no live socket behind. */
  prune(now: number): Promise<string[]>;
  /** Which of these users have a live socket. */
  among(userIds: string[], now: number): Promise<Set<string>>;
}

export class MemoryOnline implements OnlineUsers {
  private readonly users = new Map<string, Map<string, number>>();

  constructor(private readonly ttlMs: number) {}

  private live(userId: string, now: number): Map<string, number> | undefined {
    const sockets = this.users.get(userId);
    if (!sockets) return undefined;
    for (const [id, ts] of sockets) if (ts < now - this.ttlMs) sockets.delete(id);
    return sockets;
  }

  async connect(userId: string, socketId: string, now: number): Promise<boolean> {
    let sockets = this.live(userId, now);
    if (!sockets) this.users.set(userId, (sockets = new Map()));
    sockets.delete(socketId);
    const first = sockets.size === 0;
    sockets.set(socketId, now);
    return first;
  }

  async disconnect(userId: string, socketId: string, now: number): Promise<boolean> {
    const sockets = this.users.get(userId);
    if (!sockets) return false;
    sockets.delete(socketId);
    this.live(userId, now);
    if (sockets.size > 0) return false;
    this.users.delete(userId);
    return true;
  }

  async refresh(entries: { userId: string; socketId: string }[], now: number): Promise<void> {
    for (const { userId, socketId } of entries) {
      let sockets = this.users.get(userId);
      if (!sockets) this.users.set(userId, (sockets = new Map()));
      sockets.set(socketId, now);
    }
  }

  async prune(now: number): Promise<string[]> {
    const gone: string[] = [];
    for (const [userId, sockets] of this.users) {
      if (sockets.size === 0) continue;
      this.live(userId, now);
      if (sockets.size === 0) {
        this.users.delete(userId);
        gone.push(userId);
      }
    }
    return gone;
  }

  async among(userIds: string[], now: number): Promise<Set<string>> {
    const online = new Set<string>();
    for (const id of userIds) {
      const sockets = this.users.get(id);
      if (sockets && [...sockets.values()].some((ts) => ts >= now - this.ttlMs)) online.add(id);
    }
    return online;
  }
}

// KEYS: the user's hash, the users set. ARGV: socket id, now, cutoff, user id, key ttl ms.
// Stale entries go first, so a socket of a crashed instance does not hide a real arrival.
const CONNECT_SCRIPT = `
local flat = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) < tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], flat[i])
  elseif flat[i] ~= ARGV[1] then live = live + 1 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
if live == 0 then return 1 end
return 0`;

// KEYS: the user's hash, the users set. ARGV: socket id (or '' to only prune), cutoff, user id.
// Returns 1 when this call delisted the user (no live entry left): each online period ends
// once, for the one caller whose ZREM removed it, whichever instance it runs on.
const DEPART_SCRIPT = `
if ARGV[1] ~= '' then redis.call('HDEL', KEYS[1], ARGV[1]) end
local flat = redis.call('HGETALL', KEYS[1])
local newest = nil
for i = 1, #flat, 2 do
  local ts = tonumber(flat[i + 1])
  if ts < tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], flat[i])
  elseif newest == nil or ts > newest then newest = ts end
end
if newest ~= nil then
  redis.call('ZADD', KEYS[2], newest, ARGV[3])
  return 0
end
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[3])`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    parleyOnlineConnect(
      userKey: string,
      usersKey: string,
      socketId: string,
      now: number,
      cutoff: number,
      userId: string,
      keyTtlMs: number,
    ): Result<number, Context>;
    parleyOnlineDepart(
      userKey: string,
      usersKey: string,
      socketId: string,
      cutoff: number,
      userId: string,
    ): Result<number, Context>;
  }
}

const onlineKey = (userId: string) => `presence:user:${userId}`;
const ONLINE_USERS_KEY = 'presence:users';
/** Most stale users one prune looks at; the next heartbeat takes the rest. */
const PRUNE_BATCH = 500;

export class RedisOnline implements OnlineUsers {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand('parleyOnlineConnect', { numberOfKeys: 2, lua: CONNECT_SCRIPT });
    redis.defineCommand('parleyOnlineDepart', { numberOfKeys: 2, lua: DEPART_SCRIPT });
  }

  async connect(userId: string, socketId: string, now: number): Promise<boolean> {
    const first = await this.redis.parleyOnlineConnect(
      onlineKey(userId),
      ONLINE_USERS_KEY,
      socketId,
      now,
      now - this.ttlMs,
      userId,
      this.ttlMs * 2,
    );
    return first === 1;
  }

  async disconnect(userId: string, socketId: string, now: number): Promise<boolean> {
    const last = await this.redis.parleyOnlineDepart(
      onlineKey(userId),
      ONLINE_USERS_KEY,
      socketId,
      now - this.ttlMs,
      userId,
    );
    return last === 1;
  }

  async refresh(entries: { userId: string; socketId: string }[], now: number): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { userId, socketId } of entries) {
      pipeline.hset(onlineKey(userId), socketId, now);
      pipeline.pexpire(onlineKey(userId), this.ttlMs * 2);
      pipeline.zadd(ONLINE_USERS_KEY, now, userId);
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async prune(now: number): Promise<string[]> {
    const cutoff = now - this.ttlMs;
    // Users whose newest refresh is older than the TTL: only their entries can be stale... or
    // a user whose hash expired on its own (nobody refreshed it), which the script reports too.
    const stale = await this.redis.zrangebyscore(
      ONLINE_USERS_KEY,
      '-inf',
      `(${cutoff}`,
      'LIMIT',
      0,
      PRUNE_BATCH,
    );
    const gone: string[] = [];
    for (const userId of stale) {
      if (
        (await this.redis.parleyOnlineDepart(onlineKey(userId), ONLINE_USERS_KEY, '', cutoff, userId)) === 1
      )
        gone.push(userId);
    }
    return gone;
  }

  async among(userIds: string[], now: number): Promise<Set<string>> {
    const online = new Set<string>();
    if (userIds.length === 0) return online;
    const pipeline = this.redis.pipeline();
    for (const id of userIds) pipeline.hvals(onlineKey(id));
    const results = (await pipeline.exec()) ?? [];
    const cutoff = now - this.ttlMs;
    results.forEach(([err, values], i) => {
      if (err) throw err;
      if ((values as string[]).some((ts) => Number(ts) >= cutoff)) online.add(userIds[i]!);
    });
    return online;
  }
}
