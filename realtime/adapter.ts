import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis, RedisOptions } from 'ioredis';
import type { Config } from '../core/config.ts';
import type { ParleyServer } from './types.ts';

/** Opens a Redis connection for the Socket.IO adapter, in the given role. */
export type ConnectRedis = (role: string, options: RedisOptions) => Redis;

/**
 * Puts Socket.IO on the Redis adapter, so broadcasts reach every instance; returns the two
 * connections it opened (the caller closes them after Socket.IO).
 */
export function useRedisAdapter(
  io: ParleyServer,
  config: Pick<Config, 'redis'>,
  connectRedis: ConnectRedis,
): Redis[] {
  // Fail fast while Redis is away: broadcasts then reach local sockets only, and clients
  // elsewhere catch up by seq; queued publishes would be delivered late and out of order.
  // Auto-pipelined: the publishes of one turn (a batch's messages, its `activity`, a flush's
  // receipts) leave in one write, in order, instead of a system call each.
  const pub = connectRedis('adapter-pub', { enableOfflineQueue: false, enableAutoPipelining: true });
  const sub = connectRedis('adapter-sub', { enableOfflineQueue: true, maxRetriesPerRequest: null });
  swallowPublishFailures(pub);
  io.adapter(createAdapter(pub, sub, { key: `${config.redis.keyPrefix}socket.io` }));
  return [pub, sub];
}

/**
 * The Redis adapter publishes without handling a rejected publish; with Redis away that
 * would be an unhandled rejection per broadcast. Local delivery is unaffected either way.
 */
function swallowPublishFailures(client: Redis): void {
  const publish = client.publish.bind(client);
  client.publish = ((...args: Parameters<typeof publish>) => {
    const result = publish(...args);
    result.catch(() => undefined);
    return result;
  }) as typeof client.publish;
}
