import { join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../core/db/database.ts';
import { readHistory } from '../../core/messages/messages.ts';
import { BENCH_DIR, startChild, type Child } from '../lib/children.ts';
import type { Scenario } from '../lib/context.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import { quantile } from '../lib/stats.ts';

/**
 * History pages of 50 through GET /api/messages against the same keyset page by raw SQL and
 * through a bare Hono route running that SQL (bench/servers/bare-hono.ts: the floor of
 * HTTP + SQL), in a room of 100k and one of 1M+ messages, plus the plan of the SQL Parley
 * actually runs.
 */

/** The bare Hono reference, as a child process like the servers under test. */
async function startBareHono(pgUrl: string): Promise<{ child: Child; url: string }> {
  const child = startChild({
    name: 'bare-hono',
    entry: join(BENCH_DIR, 'servers/bare-hono.ts'),
    agent: true,
    env: { PORT: '0', NODE_ENV: 'production', BARE_HONO_DATABASE_URL: pgUrl },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.process.on('message', (m: { ready?: boolean; port?: number }) => {
      if (m?.ready && m.port) resolve(m.port);
    });
    child.process.once('exit', (code) => reject(new Error(`bare Hono exited (${code}) before listening`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface PlanCheck {
  roomId: string;
  sql: string;
  plan: string;
  indexScan: boolean;
  sort: boolean;
}

/**
 * The part of a plan that reads the page from `messages`: the subtree under its LIMIT when
 * there is one (a sort of one message's few reactions elsewhere in the plan is no sort of the
 * page), else the whole plan.
 */
function pageSubtree(lines: string[]): string {
  const start = lines.findIndex((l) => /^\s*(->\s+)?Limit\b/.test(l));
  if (start < 0) return lines.join('\n');
  const indent = (l: string) => l.length - l.trimStart().length;
  const end = lines.findIndex((l, i) => i > start && indent(l) <= indent(lines[start]!));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** Runs readHistory once, recording the statements it sends, then EXPLAINs exactly those. */
async function explainParleyHistory(url: string, roomId: string, beforeSeq: number): Promise<PlanCheck[]> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), log: [{ emit: 'event', level: 'query' }] });
  const statements: { query: string; params: unknown[] }[] = [];
  prisma.$on('query', (e) => statements.push({ query: e.query, params: JSON.parse(e.params) as unknown[] }));
  try {
    await readHistory(
      {
        prisma,
        kind: 'postgres',
        query: async <T>(sql: string, params?: unknown[]) => {
          statements.push({ query: sql, params: params ?? [] });
          return (await pool.query(sql, params)).rows as T[];
        },
        transaction: () => Promise.reject(new Error('not used here')),
        ping: async () => undefined,
        close: async () => undefined,
      },
      roomId,
      {
        beforeSeq,
        limit: 50,
      },
    );
    const out: PlanCheck[] = [];
    for (const s of statements.filter((st) => /FROM\s+"?\w*"?\.?"?messages"?/i.test(st.query))) {
      const res = await pool.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${s.query}`,
        s.params,
      );
      const lines = res.rows.map((r) => r['QUERY PLAN']);
      const plan = lines.join('\n');
      const pageScan = pageSubtree(lines);
      out.push({
        roomId,
        sql: s.query,
        plan,
        indexScan: /Index (Only )?Scan/.test(pageScan),
        sort: /\bSort\b/.test(pageScan),
      });
    }
    return out;
  } finally {
    await prisma.$disconnect();
    await pool.end();
  }
}

export const history: Scenario = async (bench) => {
  const out: ResultEntry[] = [];
  const rooms = bench.profile.history.rooms;
  type Sides = { parley: number[]; sql: number[]; bare: number[] };
  const p50: Record<string, Sides> = {};
  const p99: Record<string, Sides> = {};
  for (const { roomId } of rooms) {
    p50[roomId] = { parley: [], sql: [], bare: [] };
    p99[roomId] = { parley: [], sql: [], bare: [] };
  }
  const token = bench.clients[0]!.token;
  const bare = await startBareHono(bench.db.url);
  try {
    for (let r = 0; r < bench.profile.reps; r++) {
      for (const { roomId, count } of r % 2 === 0 ? rooms : [...rooms].reverse()) {
        bench.log(`history: ${roomId}, rep ${r + 1}`);
        const profile = bench.cpuProfileDir !== undefined && r === bench.profile.reps - 1;
        if (profile) await bench.parley.child.rpc.call('profileStart');
        const res = await bench.historyLoader.rpc.call<{
          httpMs: number[];
          sqlMs: number[];
          bareMs: number[];
        }>('history', {
          baseUrl: bench.parley.url,
          bareUrl: bare.url,
          token,
          pgUrl: bench.db.url,
          roomId,
          lastSeq: count,
          requests: bench.profile.history.requests,
          limit: 50,
          warmup: r === 0 ? 20 : 5,
        });
        if (profile) {
          const file = join(bench.cpuProfileDir!, `history-${roomId}.cpuprofile`);
          bench.log(
            `CPU profile of Parley: ${await bench.parley.child.rpc.call<string>('profileStop', { file })}`,
          );
        }
        p50[roomId]!.parley.push(quantile(res.httpMs, 0.5));
        p50[roomId]!.sql.push(quantile(res.sqlMs, 0.5));
        p99[roomId]!.parley.push(quantile(res.httpMs, 0.99));
        p99[roomId]!.sql.push(quantile(res.sqlMs, 0.99));
        p50[roomId]!.bare.push(quantile(res.bareMs, 0.5));
        p99[roomId]!.bare.push(quantile(res.bareMs, 0.99));
      }
    }
  } finally {
    await bare.child.stop();
  }
  const plans: PlanCheck[] = [];
  for (const { roomId, count } of rooms)
    plans.push(...(await explainParleyHistory(bench.db.url, roomId, Math.floor(count / 2))));
  const planOk = plans.length > 0 && plans.every((p) => p.indexScan && !p.sort);

  const label = (count: number) => (count >= 1_000_000 ? `${count / 1_000_000}m` : `${count / 1000}k`);
  for (const { roomId, count } of rooms) {
    out.push(
      entry({
        id: `history-${label(count)}-p50`,
        scenario: 'history',
        metric: `GET /api/messages page of 50, ${count.toLocaleString('en-US')} messages, p50`,
        unit: 'ms',
        parleyRuns: p50[roomId]!.parley,
        referenceName: 'raw keyset SQL via pg',
        referenceRuns: p50[roomId]!.sql,
        target: { op: '<=', value: 2, text: '≤ 2× raw SQL' },
        notes: `plan: ${planOk ? 'index scan, no sort' : 'NOT an index scan without sort, see extra.plans'}`,
        extra: { plans: plans.filter((p) => p.roomId === roomId) },
      }),
      entry({
        id: `history-${label(count)}-vs-hono-p50`,
        scenario: 'history',
        metric: `GET /api/messages page of 50, ${count.toLocaleString('en-US')} messages, p50, against the floor of HTTP + SQL`,
        unit: 'ms',
        parleyRuns: p50[roomId]!.parley,
        referenceName: 'bare Hono route (no auth) running the raw keyset SQL',
        referenceRuns: p50[roomId]!.bare,
        target: { op: '<=', value: 1.3, text: '≤ 1.3× bare Hono + SQL' },
        extra: { bareHonoP99: p99[roomId]!.bare },
      }),
      entry({
        id: `history-${label(count)}-p99`,
        scenario: 'history',
        metric: `GET /api/messages page of 50, ${count.toLocaleString('en-US')} messages, p99`,
        unit: 'ms',
        parleyRuns: p99[roomId]!.parley,
        referenceName: 'raw keyset SQL via pg',
        referenceRuns: p99[roomId]!.sql,
      }),
    );
  }
  const small = rooms[0]!;
  const large = rooms[rooms.length - 1]!;
  out.push(
    entry({
      id: `history-scaling-p50`,
      scenario: 'history',
      metric: `GET /api/messages p50 at ${large.count.toLocaleString('en-US')} vs ${small.count.toLocaleString('en-US')} messages`,
      unit: 'ms',
      parleyRuns: p50[large.roomId]!.parley,
      referenceName: `Parley at ${label(small.count)}`,
      referenceRuns: p50[small.roomId]!.parley,
      target: { op: '<=', value: 1.2, text: '≤ 1.2× p50 at 100k' },
    }),
  );
  return out;
};
