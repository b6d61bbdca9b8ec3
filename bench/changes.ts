import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { killAllChildren } from './lib/children.ts';
import { createBenchDatabase, isReachable, seedRoom, seedUsers } from './lib/db.ts';
import { startParley } from './lib/servers.ts';
import { quantile } from './lib/stats.ts';
import { mintClients } from './lib/tokens.ts';

/**
 * `npm run bench:changes`: what an edit or a reaction costs next to a new message, and what
 * `join {sinceVersion}` costs after many changes. Parley runs as in production (a child
 * process, real Postgres, Redis when reachable); one client on loopback.
 *
 * - ack latency p50/p99 of `message`, `edit` and `react` at light load: one op in flight,
 *   the three kinds interleaved, `--rate` ops a second in all;
 * - `join {sinceSeq, sinceVersion}` after `--changes` edits of as many distinct messages:
 *   one join (the first 100 changes) and the complete catch-up (joins until no more changes).
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
const OPS = Number(flags.ops);
const RATE = Number(flags.rate);
const CHANGES = Number(flags.changes);
const JOINS = Number(flags.joins);

type Ok = { ok: true; [k: string]: unknown };
type Ack = Ok | { ok: false; error: { code: string } };
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = flags['no-redis'] ? undefined : (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed(socket: Socket, event: string, payload: unknown): Promise<{ ms: number; ack: Ok }> {
  const t0 = performance.now();
  const ack = (await socket.timeout(10_000).emitWithAck(event, payload)) as Ack;
  const ms = performance.now() - t0;
  if (!ack.ok) throw new Error(`${event}: ${JSON.stringify(ack.error)}`);
  return { ms, ack };
}

const p = (xs: number[], q: number) => Number(quantile(xs, q).toFixed(2));
const summary = (xs: number[]) => ({ n: xs.length, p50: p(xs, 0.5), p99: p(xs, 0.99) });

async function main(): Promise<void> {
  if (!(await isReachable(adminUrl))) throw new Error(`no Postgres at ${adminUrl}`);
  const db = await createBenchDatabase(adminUrl);
  const server = await startParley({ entry: 'server/main.ts', databaseUrl: db.url, redisUrl });
  const sockets: Socket[] = [];
  try {
    await seedUsers(db.pool, 2);
    await seedRoom(db.pool, 'light', 1, 2);
    await seedRoom(db.pool, 'many', 1, 2);
    const [client] = await mintClients(1, 1);
    const socket = io(server.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { token: client!.token },
    });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    await timed(socket, 'join', { roomId: 'light' });

    // Light load: message, edit, react in turn, one in flight, RATE ops a second.
    const lat: Record<'message' | 'edit' | 'react', number[]> = { message: [], edit: [], react: [] };
    const ids: string[] = [];
    const emoji = ['👍', '🎉', '❤️', '👀'];
    const gap = 1000 / RATE;
    for (let i = 0; i < 20; i++) {
      const { ack } = await timed(socket, 'message', { roomId: 'light', text: `warm ${i}` });
      ids.push((ack.message as { id: string }).id);
    }
    for (let i = 0; i < OPS; i++) {
      const started = performance.now();
      const kind = (['message', 'edit', 'react'] as const)[i % 3]!;
      const target = ids[Math.floor(Math.random() * ids.length)]!;
      const payload =
        kind === 'message'
          ? { roomId: 'light', text: `message ${i}` }
          : kind === 'edit'
            ? { roomId: 'light', messageId: target, text: `edit ${i}` }
            : { roomId: 'light', messageId: target, emoji: emoji[i % emoji.length], on: i % 2 === 0 };
      const { ms, ack } = await timed(socket, kind, payload);
      lat[kind].push(ms);
      if (kind === 'message') ids.push((ack.message as { id: string }).id);
      await sleep(Math.max(0, gap - (performance.now() - started)));
    }

    // Catch-up after CHANGES changes to as many distinct messages the client already holds.
    await timed(socket, 'join', { roomId: 'many' });
    const many: string[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const { ack } = await timed(socket, 'message', { roomId: 'many', text: `m${i}` });
      many.push((ack.message as { id: string }).id);
    }
    const held = (await timed(socket, 'join', { roomId: 'many', sinceSeq: CHANGES })).ack as unknown as {
      room: { lastSeq: number; lastVersion: number };
    };
    const since = { sinceSeq: held.room.lastSeq, sinceVersion: held.room.lastVersion };
    for (let i = 0; i < CHANGES; i++) {
      await timed(socket, 'edit', { roomId: 'many', messageId: many[i]!, text: `edited ${i}` });
    }
    const oneJoin: number[] = [];
    const noChanges: number[] = [];
    const fullCatchUp: number[] = [];
    let pages = 0;
    let caught = 0;
    for (let r = 0; r < JOINS; r++) {
      oneJoin.push((await timed(socket, 'join', { roomId: 'many', ...since })).ms);
      noChanges.push((await timed(socket, 'join', { roomId: 'many', sinceSeq: since.sinceSeq })).ms);
      const t0 = performance.now();
      let sinceVersion = since.sinceVersion;
      let got = 0;
      let rounds = 0;
      for (;;) {
        const { ack } = await timed(socket, 'join', {
          roomId: 'many',
          sinceSeq: since.sinceSeq,
          sinceVersion,
        });
        const changes = ack.changes as { version: number }[];
        got += changes.length;
        rounds++;
        if (!ack.hasMoreChanges) break;
        sinceVersion = changes.at(-1)!.version;
      }
      fullCatchUp.push(performance.now() - t0);
      pages = rounds;
      caught = got;
    }
    if (caught !== CHANGES) throw new Error(`catch-up returned ${caught} changes, expected ${CHANGES}`);

    const result = {
      server: { redis: redisUrl ? 'configured' : 'none', database: 'postgres' },
      lightLoad: {
        opsPerSecond: RATE,
        message: summary(lat.message),
        edit: summary(lat.edit),
        react: summary(lat.react),
      },
      catchUp: {
        changes: CHANGES,
        joinWithSinceVersion: { ...summary(oneJoin), changesReturned: 100 },
        joinWithoutSinceVersion: summary(noChanges),
        completeCatchUp: { ...summary(fullCatchUp), joins: pages },
      },
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    for (const s of sockets) s.close();
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
