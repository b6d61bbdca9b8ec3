import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

/**
 * A Redis connection that fails fast while Redis is away (no offline queue), so callers can
 * fall back instead of piling up work, and reconnects by itself forever.
 */
export function connectRedis(
  config: Pick<Config, 'redis'>,
  logger: Logger,
  role: string,
  extra: RedisOptions = {},
): Redis {
  if (!config.redis.url) throw new Error('connectRedis called without REDIS_URL');
  const client = new Redis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000),
    lazyConnect: false,
    ...extra,
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) logger.warn({ role, err: { message: err.message } }, 'redis connection error');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ role }, 'redis connection restored');
    down = false;
  });
  return client;
}

/** Resolves once the client is ready (or rejects after the timeout): used at start-up and by /readyz. */
export async function redisReady(client: Redis, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}

/** Closes a client without waiting on a dead server. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1_000))]);
  } catch {
    // quit on a broken connection throws; disconnect below ends it regardless
  }
  client.disconnect();
}
