import { scratchDatabase, type ScratchDatabase } from './database.ts';
import { LoadClient, seed, type Seeded } from './load.ts';
import { privateRedis, type PrivateRedis } from './redis-server.ts';
import { serverProcess, type Entry, type ServerProcess } from './server-process.ts';
import { freePort } from './tcp-proxy.ts';

/**
 * Realtime instances (separate processes, as deployed) on one private Redis and one scratch
 * database, with seeded users who are all members of the seeded rooms.
 */
export interface Cluster {
  db: ScratchDatabase;
  redis: PrivateRedis;
  seeded: Seeded;
  instances: ServerProcess[];
  urls: string[];
  /** Clients spread round-robin over the instances, one per user, in room 0 unless told. */
  clients(count: number, prefix: string, roomIndex?: number): LoadClient[];
  close(): Promise<void>;
}

export interface ClusterOptions {
  name: string;
  instances?: number;
  users: number;
  rooms?: number;
  entry?: Entry;
  env?: Record<string, string>;
  expectedTrouble?: RegExp;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const db = await scratchDatabase(opts.name.replace(/\W/g, '_'));
  const redis = await privateRedis();
  const seeded = await seed(
    db.url(),
    opts.users,
    opts.rooms ?? 1,
    opts.name.replace(/\W/g, '_').slice(0, 12),
  );
  const ports = await Promise.all(Array.from({ length: opts.instances ?? 2 }, () => freePort()));
  // One at a time: two processes migrating and compiling at once only slow each other down.
  const instances: ServerProcess[] = [];
  for (const [i, port] of ports.entries()) {
    instances.push(
      await serverProcess({
        name: `${opts.name}-${String.fromCharCode(65 + i)}`,
        entry: opts.entry ?? 'realtime/main.ts',
        port,
        env: {
          DATABASE_URL: db.url(),
          REDIS_URL: redis.url,
          DATABASE_POOL_MAX: '8',
          ...opts.env,
        },
        expectedTrouble: opts.expectedTrouble,
      }),
    );
  }
  const urls = instances.map((s) => s.url);
  const made: LoadClient[] = [];
  return {
    db,
    redis,
    seeded,
    instances,
    urls,
    clients(count, prefix, roomIndex = 0) {
      const list = Array.from({ length: count }, (_, i) => {
        const u = seeded.users[i % seeded.users.length]!;
        return new LoadClient(`${prefix}${i}`, u.token, seeded.roomIds[roomIndex]!, urls, i);
      });
      made.push(...list);
      return list;
    },
    async close() {
      for (const c of made) c.close();
      await Promise.all(instances.map((s) => s.stop()));
      await redis.stop();
      await seeded.close();
      await db.drop();
    },
  };
}
