import pg from 'pg';
import { serveRpc } from '../lib/rpc.ts';
import { KEYSET } from './keyset.ts';

/**
 * History pages through Parley's REST API, the same page by raw keyset SQL and (with
 * `bareUrl`) through the bare Hono route (bench/servers/bare-hono.ts), requested in turn
 * from one process in an order that rotates every request, so all see the same machine at
 * the same time.
 */

export interface HistoryArgs {
  baseUrl: string;
  token: string;
  pgUrl: string;
  roomId: string;
  lastSeq: number;
  requests: number;
  limit: number;
  warmup: number;
  /** The bare Hono reference's base URL: measured too when given. */
  bareUrl?: string;
}

const now = () => performance.now();

export interface SearchArgs {
  baseUrl: string;
  token: string;
  pgUrl: string;
  userId: string;
  q: string;
  tsQuery: string;
  requests: number;
  warmup: number;
}

/**
 * The search reference: the one statement a first implementation would write (GIN match,
 * membership semi-join, sort by (ts, id), a page of 20). Fast for a rare word; for a common
 * one the GIN bitmap holds every match, all fetched and sorted.
 */
const NAIVE_SEARCH = `SELECT m.id FROM messages m
  WHERE m.search @@ to_tsquery('simple', $1)
    AND m.room_id IN (SELECT rm.room_id FROM room_members rm WHERE rm.user_id = $2)
  ORDER BY m.ts DESC, m.id DESC LIMIT 21`;

export interface KeysetPagesArgs {
  pgUrl: string;
  roomId: string;
  /** The newest page (no cursor) is what a join reads; a cursor reads an older one. */
  beforeSeq?: number;
  pages: number;
  poolSize: number;
  /** Reads in flight at once (default: all of them, queued on the pool like a storm's). */
  concurrency?: number;
  limit: number;
}

/**
 * `pages` keyset page reads, `concurrency` at a time (default all at once: the join storm's
 * database floor, every joiner reading one page through the server's pool) on a pool of
 * `poolSize`, after one warm read per connection. Answers the wall time for all of them
 * and each read's latency.
 */
async function keysetPages(args: KeysetPagesArgs): Promise<{ wallMs: number; latencyMs: number[] }> {
  const pool = new pg.Pool({ connectionString: args.pgUrl, max: args.poolSize });
  const cursor = args.beforeSeq ?? 2 ** 31 - 1;
  const read = async () => {
    const res = await pool.query(KEYSET, [args.roomId, cursor, args.limit + 1]);
    if (res.rows.length === 0) throw new Error('keyset page: no rows');
  };
  try {
    await Promise.all(Array.from({ length: args.poolSize }, read));
    const latencyMs: number[] = [];
    const t0 = now();
    let left = args.pages;
    await Promise.all(
      Array.from({ length: Math.min(args.pages, args.concurrency ?? args.pages) }, async () => {
        while (left-- > 0) {
          const t = now();
          await read();
          latencyMs.push(now() - t);
        }
      }),
    );
    return { wallMs: now() - t0, latencyMs };
  } finally {
    await pool.end();
  }
}

serveRpc({
  keysetPages,
  search: async (args: SearchArgs) => {
    const client = new pg.Client({ connectionString: args.pgUrl });
    await client.connect();
    const headers = { authorization: `Bearer ${args.token}` };
    const url = `${args.baseUrl}/api/search?${new URLSearchParams({ q: args.q, limit: '20' })}`;
    const viaHttp = async () => {
      const t0 = now();
      const res = await fetch(url, { headers });
      const body = (await res.json()) as { messages?: unknown[] };
      const ms = now() - t0;
      if (res.status !== 200 || !body.messages?.length) {
        throw new Error(`search ${args.q}: status ${res.status}, ${body.messages?.length} messages`);
      }
      return { ms, count: body.messages.length };
    };
    const viaSql = async () => {
      const t0 = now();
      const res = await client.query(NAIVE_SEARCH, [args.tsQuery, args.userId]);
      const ms = now() - t0;
      if (res.rows.length === 0) throw new Error(`naive search ${args.q}: no rows`);
      return ms;
    };
    const httpMs: number[] = [];
    const sqlMs: number[] = [];
    let count = 0;
    try {
      for (let i = 0; i < args.warmup; i++) {
        await viaHttp();
        await viaSql();
      }
      for (let i = 0; i < args.requests; i++) {
        const first = i % 2 === 0 ? 'http' : 'sql';
        for (const side of first === 'http' ? ['http', 'sql'] : ['sql', 'http']) {
          if (side === 'http') {
            const r = await viaHttp();
            httpMs.push(r.ms);
            count = r.count;
          } else sqlMs.push(await viaSql());
        }
      }
    } finally {
      await client.end();
    }
    return { httpMs, sqlMs, count };
  },
  history: async (args: HistoryArgs) => {
    const client = new pg.Client({ connectionString: args.pgUrl });
    await client.connect();
    const httpMs: number[] = [];
    const sqlMs: number[] = [];
    const bareMs: number[] = [];
    const headers = { authorization: `Bearer ${args.token}` };
    // Pages spread over the whole history, old and new, not one hot page.
    const cursor = () => args.limit + 2 + Math.floor(Math.random() * (args.lastSeq - args.limit - 1));
    const viaHttp = async (baseUrl: string, beforeSeq: number) => {
      const t0 = now();
      const res = await fetch(
        `${baseUrl}/api/messages?roomId=${args.roomId}&beforeSeq=${beforeSeq}&limit=${args.limit}`,
        { headers },
      );
      const body = (await res.json()) as { messages?: unknown[] };
      const ms = now() - t0;
      if (res.status !== 200 || body.messages?.length !== args.limit) {
        throw new Error(`history page (${baseUrl}): status ${res.status}, ${body.messages?.length} messages`);
      }
      return ms;
    };
    const viaSql = async (beforeSeq: number) => {
      const t0 = now();
      const res = await client.query(KEYSET, [args.roomId, beforeSeq, args.limit + 1]);
      const ms = now() - t0;
      if (res.rows.length !== args.limit + 1) throw new Error(`keyset page: ${res.rows.length} rows`);
      return ms;
    };
    const sides: ((beforeSeq: number) => Promise<void>)[] = [
      async (c) => void httpMs.push(await viaHttp(args.baseUrl, c)),
      async (c) => void sqlMs.push(await viaSql(c)),
    ];
    if (args.bareUrl !== undefined) {
      const bareUrl = args.bareUrl;
      sides.push(async (c) => void bareMs.push(await viaHttp(bareUrl, c)));
    }
    try {
      for (let i = 0; i < args.warmup; i++) {
        await viaHttp(args.baseUrl, cursor());
        await viaSql(cursor());
        if (args.bareUrl !== undefined) await viaHttp(args.bareUrl, cursor());
      }
      for (let i = 0; i < args.requests; i++) {
        // The same page from every side, which goes first rotating (and reversing) each time.
        const c = cursor();
        const shift = i % sides.length;
        const turn = [...sides.slice(shift), ...sides.slice(0, shift)];
        if (Math.floor(i / sides.length) % 2 === 1) turn.reverse();
        for (const side of turn) await side(c);
      }
    } finally {
      await client.end();
    }
    return { httpMs, sqlMs, bareMs };
  },
});
