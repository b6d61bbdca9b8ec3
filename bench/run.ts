import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { BENCH_DIR, ROOT_DIR, killAllChildren, startChild, type Child } from './lib/children.ts';
import { PROFILES, type Bench, type Scenario } from './lib/context.ts';
import {
  analyze,
  createBenchDatabase,
  isReachable,
  markRead,
  seedHistories,
  seedListRooms,
  seedRoom,
  seedUsers,
  type BenchDatabase,
} from './lib/db.ts';
import { formatMarkdown, formatTable, type ResultEntry } from './lib/report.ts';
import { probeRealtime, startBaseline, startParley, type ServerUnderTest } from './lib/servers.ts';
import { mintClients } from './lib/tokens.ts';
import { history } from './scenarios/history.ts';
import { search } from './scenarios/search.ts';
import { memory } from './scenarios/memory.ts';
import { changes } from './scenarios/changes.ts';
import { LIST_PREFIX, READ_ROOM, SINGLE_ROOM, readMarkers, roomsList } from './scenarios/read-state.ts';
import { broadcast, join as joinScenario, latency, throughput } from './scenarios/realtime.ts';

/**
 * `npm run bench` (quick profile) / `npm run bench -- --full`: Parley against bare
 * Socket.IO and raw SQL, in one run, interleaved. Prints a table, writes
 * bench/results/latest.json (`--markdown` also prints the table for docs/performance.md).
 */

const { values: flags } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-redis': { type: 'boolean', default: false },
    'parley-entry': { type: 'string', default: 'server/main.ts' },
    'parley-node-arg': { type: 'string', multiple: true },
    'keep-db': { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
  },
});

const SCENARIOS: Record<string, Scenario> = {
  history,
  'search-1m': search,
  broadcast,
  throughput,
  latency,
  join: joinScenario,
  memory,
  changes,
  'read-markers': readMarkers,
  'rooms-list': roomsList,
};
const profile = PROFILES[flags.full ? 'full' : 'quick'];
const selected = flags.only ? flags.only.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
for (const s of selected)
  if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}; known: ${Object.keys(SCENARIOS).join(', ')}`);

const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisCandidate = flags['no-redis']
  ? undefined
  : (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const started = Date.now();
const log = (m: string) => console.log(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`);

async function redisInfo(url: string | undefined): Promise<{ url: string; version: string } | undefined> {
  if (!url) return undefined;
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const info = await r.info('server');
    return { url, version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown' };
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

const pkgVersion = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT_DIR, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;

let db: BenchDatabase | undefined;
const servers: ServerUnderTest[] = [];
const helpers: Child[] = [];

async function cleanup() {
  await Promise.allSettled([...servers, ...helpers].map((s) => s.stop()));
  if (db && !flags['keep-db'])
    await db.drop().catch((err: unknown) => console.error('dropping the bench database failed:', err));
  killAllChildren();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  if (!(await isReachable(adminUrl))) {
    throw new Error(
      `Postgres is not reachable at ${adminUrl}. The benchmark measures Parley on real Postgres (it seeds millions of rows with SQL); set BENCH_DATABASE_URL.`,
    );
  }
  const redis = await redisInfo(redisCandidate);
  log(
    `profile ${profile.name}; Postgres ${adminUrl}; Redis ${redis ? redis.url : 'not used (in-memory)'}; scenarios ${selected.join(', ')}`,
  );

  db = await createBenchDatabase(adminUrl);
  // The last two users are the room list's: one in many rooms, one in a single room.
  const users =
    Math.max(
      ...profile.memory.sockets,
      ...profile.broadcast.map((b) => b.members),
      profile.smallRooms.rooms * profile.smallRooms.members,
      profile.busyRoomSenders,
      profile.join.sockets,
      profile.readMarkers.members,
    ) + 2;
  log(
    `seeding ${db.name}: ${users} users, rooms, ${profile.history.rooms.map((r) => r.count.toLocaleString('en-US')).join(' + ')} messages`,
  );
  await seedUsers(db.pool, users);
  for (const b of profile.broadcast)
    await seedRoom(db.pool, `b${b.members}`, 1, Math.ceil(b.members / b.tabsPerUser));
  await seedRoom(db.pool, 'busy', 1, profile.busyRoomSenders);
  await seedRoom(db.pool, 'lat', 1, profile.busyRoomSenders);
  const { rooms, members } = profile.smallRooms;
  for (let k = 1; k <= rooms; k++) await seedRoom(db.pool, `s${k}`, (k - 1) * members + 1, k * members);
  await seedRoom(db.pool, 'join', 1, profile.join.sockets);
  await seedRoom(db.pool, 'raw', 1, 1);
  await seedRoom(db.pool, 'chg', 1, 1);
  await seedRoom(db.pool, 'chg-join', 1, 1);
  for (const h of profile.history.rooms) await seedRoom(db.pool, h.roomId, 1, 1);
  await seedRoom(db.pool, READ_ROOM, 1, profile.readMarkers.members);
  await seedListRooms(db.pool, LIST_PREFIX, profile.roomsList.rooms, users);
  await seedRoom(db.pool, SINGLE_ROOM, users - 1, users - 1);
  const listHistories = Array.from({ length: profile.roomsList.rooms }, (_, k) => ({
    roomId: `${LIST_PREFIX}${k + 1}`,
    count: profile.roomsList.messagesPerRoom,
  }));
  const seedStarted = Date.now();
  await seedHistories(db.pool, [
    ...profile.history.rooms,
    { roomId: 'join', count: profile.join.messages },
    ...listHistories,
    { roomId: SINGLE_ROOM, count: profile.roomsList.messagesPerRoom },
  ]);
  await markRead(db.pool, LIST_PREFIX, users);
  await analyze(db.pool);
  log(`seeded histories in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`);
  const clients = await mintClients(1, users);

  const parleyOptions = {
    entry: flags['parley-entry'],
    databaseUrl: db.url,
    redisUrl: redis?.url,
    ...(flags['parley-node-arg'] ? { nodeArgs: flags['parley-node-arg'] } : {}),
  };
  const [parley, baseline] = await Promise.all([
    startParley(parleyOptions),
    startBaseline({ redisUrl: redis?.url }),
  ]);
  servers.push(parley, baseline);
  const parleyRealtime = await probeRealtime(parley.url, clients[0]!);
  log(
    `servers up: Parley ${parley.url} (realtime ${parleyRealtime.ok ? 'up' : `not available: ${parleyRealtime.reason}`}), baseline ${baseline.url}`,
  );

  const loaders = [0, 1].map((i) =>
    startChild({ name: `loader-${i}`, entry: join(BENCH_DIR, 'load/sockets.ts') }),
  );
  const insertLoader = startChild({ name: 'pg-insert', entry: join(BENCH_DIR, 'load/pg-insert.ts') });
  const historyLoader = startChild({ name: 'history', entry: join(BENCH_DIR, 'load/history.ts') });
  helpers.push(...loaders, insertLoader, historyLoader);

  const bench: Bench = {
    profile,
    db,
    redisUrl: redis?.url,
    parley,
    baseline,
    parleyRealtime,
    loaders,
    insertLoader,
    historyLoader,
    clients,
    startParley: () => startParley(parleyOptions),
    startBaseline: () => startBaseline({ redisUrl: redis?.url }),
    log,
    cpuProfileDir: flags['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'parley-bench-profiles-')) : undefined,
  };

  const loadBefore = loadavg();
  const entries: ResultEntry[] = [];
  const failures: Record<string, string> = {};
  // Order matters: throughput measures the baseline capacity that latency uses.
  for (const name of [
    'history',
    'search-1m',
    'broadcast',
    'throughput',
    'latency',
    'join',
    'memory',
    'changes',
    'rooms-list',
    'read-markers',
  ]) {
    if (!selected.includes(name)) continue;
    try {
      entries.push(...(await SCENARIOS[name]!(bench)));
    } catch (err) {
      failures[name] = err instanceof Error ? err.message : String(err);
      console.error(`scenario ${name} failed:`, err);
    }
  }

  const result = {
    generatedAt: new Date().toISOString(),
    profile: profile.name,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadavg(),
      shared: 'other processes ran on this machine during the run; compare ratios, not absolute figures',
    },
    versions: {
      node: process.version,
      socketIo: pkgVersion('socket.io'),
      socketIoClient: pkgVersion('socket.io-client'),
      redisAdapter: pkgVersion('@socket.io/redis-adapter'),
      pg: pkgVersion('pg'),
      prisma: pkgVersion('@prisma/client'),
      postgres: (await db.pool.query<{ server_version: string }>('SHOW server_version')).rows[0]
        ?.server_version,
      redis: redis?.version ?? null,
    },
    backends: {
      database: 'postgres',
      redis: redis
        ? 'redis (Parley: presence, rate limits, adapter; baseline: adapter)'
        : 'none (in-memory; baseline without adapter)',
      parleyEntry: flags['parley-entry'],
      parleyRealtime,
    },
    failures,
    scenarios: entries,
  };
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${formatTable(entries)}\n`);
  if (flags.markdown) console.log(`${formatMarkdown(entries)}\n`);
  const met = entries.filter((e) => e.met === true).length;
  const missed = entries.filter((e) => e.met === false).map((e) => e.id);
  const unmeasured = entries.filter((e) => e.target && e.met === null).map((e) => e.id);
  console.log(
    `targets: ${met} met, ${missed.length} missed${missed.length ? ` (${missed.join(', ')})` : ''}${unmeasured.length ? `, ${unmeasured.length} not measured (${unmeasured.join(', ')})` : ''}`,
  );
  if (Object.keys(failures).length) console.log(`failed scenarios: ${Object.keys(failures).join(', ')}`);
  console.log(`results: bench/results/latest.json (${result.durationSeconds} s)`);
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
