import type { Redis } from 'ioredis';
import { type EventBus, MemoryBus, RedisBus } from './redis/bus.ts';
import type { Config } from './config.ts';
import {
  type CounterStore,
  FallbackCounterStore,
  MemoryCounterStore,
  RedisCounterStore,
} from './redis/counters.ts';
import { openDatabase, type Database } from './db/database.ts';
import { isDatabaseUnavailable } from './errors.ts';
import type { Logger } from './logger.ts';
import { MemoryPresence, RedisPresence, type Presence } from './redis/presence.ts';
import { closeRedis, connectRedis, redisReady } from './redis/connection.ts';
import { databaseUnreachable, redisUnreachable } from './startup-error.ts';
import { openObjectStore, type ObjectStore } from './storage/index.ts';

/**
 * Everything a tier needs from the outside world, chosen in this one place from config:
 * real Postgres/Redis/S3 when configured, embedded PGlite/memory/local S3 otherwise.
 */
export interface Services {
  config: Config;
  logger: Logger;
  db: Database;
  counters: CounterStore;
  bus: EventBus;
  storage: ObjectStore;
  /** Who is in which room: a Redis hash per room with REDIS_URL, memory otherwise. */
  presence: Presence;
  /** The shared command connection, when REDIS_URL is set. */
  redis: Redis | undefined;
  /** Resolves when every dependency answers; rejects naming the first that does not. */
  checkReady(): Promise<void>;
  close(): Promise<void>;
}

/** Unreachable, refused, or not let in (authentication 28xxx, no such database 3D000). */
const cannotConnect = (err: unknown): boolean => {
  const code = (err as { code?: unknown })?.code;
  return isDatabaseUnavailable(err) || (typeof code === 'string' && /^(28|3D)/.test(code));
};

export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const db = await openDatabase(config, logger).catch((err: unknown) => {
    throw config.database.url && cannotConnect(err) ? databaseUnreachable(config.database.url, err) : err;
  });
  let redis: Redis | undefined;
  let counters: CounterStore;
  let bus: EventBus;
  let presence: Presence;
  if (config.redis.url) {
    redis = connectRedis(config, logger, 'commands');
    try {
      await redisReady(redis);
    } catch (err) {
      await Promise.all([closeRedis(redis), db.close()]);
      throw redisUnreachable(config.redis.url, err);
    }
    counters = new FallbackCounterStore(new RedisCounterStore(redis), new MemoryCounterStore(), logger);
    // Opened on the first subscribe (realtime only): it queues its SUBSCRIBE until connected,
    // and re-subscribes after reconnects.
    bus = new RedisBus(
      redis,
      () => connectRedis(config, logger, 'bus', { enableOfflineQueue: true, maxRetriesPerRequest: null }),
      config.redis.keyPrefix,
      logger,
    );
    presence = new RedisPresence(redis, config.presence.ttlMs);
  } else {
    counters = new MemoryCounterStore();
    bus = new MemoryBus();
    presence = new MemoryPresence(config.presence.ttlMs);
  }
  const storage = await openObjectStore(config, logger);

  return {
    config,
    logger,
    db,
    counters,
    bus,
    storage,
    presence,
    redis,
    async checkReady() {
      await db.ping();
      if (redis) await redis.ping();
    },
    async close() {
      await bus.close();
      await counters.close();
      await presence.close();
      await storage.close();
      if (redis) await closeRedis(redis);
      await db.close();
    },
  };
}
