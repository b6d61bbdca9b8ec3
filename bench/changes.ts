import { parseArgs } from 'node:util';
import type { Socket } from 'socket.io-client';
import { latencySummary, measureAcks, measureCatchUp, openSocket } from './lib/changes.ts';
import { killAllChildren } from './lib/children.ts';
import { createBenchDatabase, isReachable, seedRoom, seedUsers } from './lib/db.ts';
import { startParley } from './lib/servers.ts';
import { mintClients } from './lib/tokens.ts';

/**
 * `npm run bench:changes`: what an edit or a reaction costs next to a new message, and what
 * `join {sinceVersion}` costs after many changes, in more detail than the `changes` scenario
 * of `npm run bench`. Parley runs as in production (a child process, real Postgres, Redis
 * when reachable); one client on loopback. See docs/performance.md.
 */

const { values: flags } = parseArgs({
  options: {
    ops: { type: 'string', default: '300' },
    rate: { type: 'string', default: '30' },
    changes: { type: 'string', default: '1000' },
    joins: { type: 'string', default: '20' },
    'no-redis': { type: 'boolean', default: false },
  },
});

const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = flags['no-redis'] ? undefined : (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');

async function main(): Promise<void> {
  if (!(await isReachable(adminUrl))) throw new Error(`no Postgres at ${adminUrl}`);
  const db = await createBenchDatabase(adminUrl);
  const server = await startParley({ entry: 'server/main.ts', databaseUrl: db.url, redisUrl });
  let socket: Socket | undefined;
  try {
    await seedUsers(db.pool, 1);
    await seedRoom(db.pool, 'light', 1, 1);
    await seedRoom(db.pool, 'many', 1, 1);
    const [client] = await mintClients(1, 1);
    socket = await openSocket(server.url, client!.token);
    const acks = await measureAcks(socket, 'light', Number(flags.ops), Number(flags.rate));
    const catchUp = await measureCatchUp(socket, 'many', Number(flags.changes), Number(flags.joins));
    const result = {
      server: { redis: redisUrl ? 'configured' : 'none', database: 'postgres' },
      lightLoad: {
        opsPerSecond: Number(flags.rate),
        message: latencySummary(acks.message),
        edit: latencySummary(acks.edit),
        react: latencySummary(acks.react),
      },
      catchUp: {
        changes: Number(flags.changes),
        joinWithSinceVersion: { ...latencySummary(catchUp.joinWithSinceVersion), changesReturned: 100 },
        joinWithoutSinceVersion: latencySummary(catchUp.joinWithoutSinceVersion),
        completeCatchUp: { ...latencySummary(catchUp.completeCatchUp), joins: catchUp.joinsPerCatchUp },
      },
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    socket?.close();
    await server.stop();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    killAllChildren();
    process.exit(1);
  },
);
