import { vpc } from './network';

/**
 * Valkey (Redis-compatible) for cross-instance Socket.IO broadcast, presence, shared rate
 * limits and the event bus. Cluster mode off: the app uses one plain connection, not a
 * cluster client. ElastiCache here has TLS in transit and an auth token, hence rediss://.
 */
export const redis = new sst.aws.Redis('Redis', {
  vpc,
  engine: 'valkey',
  cluster: false,
  instance: 't4g.micro',
});

// `password` is only absent for a `dev` Redis, which this app does not declare.
const password = $util.output(redis.password ?? '').apply(encodeURIComponent);
export const redisUrl = $interpolate`rediss://${redis.username}:${password}@${redis.host}:${redis.port}`;
