import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../core/db/database.ts';
import { toTsQueryText } from '../../core/search/query.ts';
import { searchMessages } from '../../core/search/search.ts';
import type { Scenario } from '../lib/context.ts';
import { userId } from '../lib/db.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import { quantile } from '../lib/stats.ts';

/**
 * `GET /api/search` over the history data set (the 1M-message room, plus every other room
 * of bench user 1: about 1.2M messages in its rooms), against the one-statement search a
 * first implementation would write (GIN, membership, sort), paired in one process. Every
 * message there reads "history message <n>: the quick brown fox jumps over the lazy dog", so:
 * a selective query (one message), a common one (every message), and the hard middle: a
 * prefix in about 11% of the messages but almost none of the recent ones (`5*`: 5, 50–59,
 * …, 500000–599999; only 10 of the newest, in the 200-message join room). Also the
 * plans of the statements Parley runs, and which step answered (core/search/search.ts).
 */

const QUERIES = [
  { key: 'selective', q: 'history 777777', what: 'one match' },
  { key: 'common', q: 'quick brown fox', what: 'every message matches' },
  { key: 'sparse-recent', q: 'history 5', what: '"5*": ~11% of the messages, almost none recent' },
] as const;

interface PlanCheck {
  query: string;
  via: string;
  statements: { sql: string; plan: string; ms: number }[];
  usesGin: boolean;
  restrictsMembership: boolean;
}

/** Runs searchMessages once with query logging, then EXPLAINs each statement Prisma sent. */
async function explainSearch(url: string, user: string, q: string): Promise<PlanCheck> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), log: [{ emit: 'event', level: 'query' }] });
  const sent: { query: string; params: string }[] = [];
  prisma.$on('query', (e) => sent.push({ query: e.query, params: e.params }));
  try {
    const page = await searchMessages(
      {
        prisma,
        kind: 'postgres',
        query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
        transaction: () => Promise.reject(new Error('not used here')),
        ping: async () => undefined,
        close: async () => undefined,
      },
      user,
      { q, limit: 20 },
    );
    const statements = [];
    for (const s of sent.filter((st) => /messages/i.test(st.query) && /to_tsquery/.test(st.query))) {
      const res = await pool.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${s.query}`,
        JSON.parse(s.params) as unknown[],
      );
      const plan = res.rows.map((r) => r['QUERY PLAN']).join('\n');
      const ms = Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? Number.NaN);
      statements.push({ sql: s.query, plan, ms });
    }
    const last = statements.at(-1)?.plan ?? '';
    return {
      query: q,
      via: page.via,
      statements,
      // The index step must use the GIN index; the window step reads by (room_id, ts) instead.
      usesGin: page.via === 'window' || /messages_search_idx/.test(last),
      restrictsMembership: statements.every((st) => /room_members/.test(st.plan)),
    };
  } finally {
    await prisma.$disconnect();
    await pool.end();
  }
}

export const search: Scenario = async (bench) => {
  const rooms = bench.profile.history.rooms;
  const large = rooms[rooms.length - 1]!;
  const label = large.count >= 1_000_000 ? `${large.count / 1_000_000}m` : `${large.count / 1000}k`;
  const { rows } = await bench.db.pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM messages m JOIN room_members rm ON rm.room_id = m.room_id WHERE rm.user_id = $1',
    [userId(1)],
  );
  const inRooms = Number(rows[0]!.n);
  const token = bench.clients[0]!.token;
  const runs = Object.fromEntries(
    QUERIES.map((x) => [
      x.key,
      { p50: [] as number[], p99: [] as number[], ref50: [] as number[], ref99: [] as number[] },
    ]),
  );
  for (let r = 0; r < bench.profile.reps; r++) {
    for (const x of r % 2 === 0 ? QUERIES : [...QUERIES].reverse()) {
      bench.log(`search: ${x.key}, rep ${r + 1}`);
      const res = await bench.historyLoader.rpc.call<{ httpMs: number[]; sqlMs: number[] }>('search', {
        baseUrl: bench.parley.url,
        token,
        pgUrl: bench.db.url,
        userId: userId(1),
        q: x.q,
        tsQuery: toTsQueryText(x.q),
        requests: bench.profile.search.requests,
        warmup: r === 0 ? 3 : 1,
      });
      const run = runs[x.key]!;
      run.p50.push(quantile(res.httpMs, 0.5));
      run.p99.push(quantile(res.httpMs, 0.99));
      run.ref50.push(quantile(res.sqlMs, 0.5));
      run.ref99.push(quantile(res.sqlMs, 0.99));
    }
  }
  const plans: PlanCheck[] = [];
  for (const x of QUERIES) plans.push(await explainSearch(bench.db.url, userId(1), x.q));

  const out: ResultEntry[] = [];
  for (const x of QUERIES) {
    const run = runs[x.key]!;
    const plan = plans.find((p) => p.query === x.q)!;
    const notes = `${x.what}; answered by the ${plan.via} step; plan: ${plan.usesGin ? 'as designed' : 'GIN NOT USED'}, ${plan.restrictsMembership ? 'membership in the query' : 'MEMBERSHIP NOT IN THE PLAN'}`;
    out.push(
      entry({
        id: `search-${label}-${x.key}-p50`,
        scenario: 'search-1m',
        metric: `GET /api/search "${x.q}", page of 20, ${inRooms.toLocaleString('en-US')} messages in the caller's rooms, p50`,
        unit: 'ms',
        parleyRuns: run.p50,
        referenceName: 'one-statement GIN + sort SQL via pg',
        referenceRuns: run.ref50,
        // The point of the two steps: a common word must not cost what the naive plan costs.
        ...(x.key === 'common'
          ? { target: { op: '<=' as const, value: 0.1, text: '≤ 0.1× one-statement SQL' } }
          : {}),
        notes,
        extra: { plan },
      }),
      entry({
        id: `search-${label}-${x.key}-p99`,
        scenario: 'search-1m',
        metric: `GET /api/search "${x.q}", page of 20, p99`,
        unit: 'ms',
        parleyRuns: run.p99,
        referenceName: 'one-statement GIN + sort SQL via pg',
        referenceRuns: run.ref99,
      }),
    );
  }
  return out;
};
