import pg from 'pg';
import { serveRpc } from '../lib/rpc.ts';

/**
 * History pages through Parley's REST API and the same page by raw keyset SQL, requested
 * alternately (A B B A …) from one process, so both see the same machine at the same time.
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
}

const KEYSET = `SELECT id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id
                  FROM messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`;

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

serveRpc({
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
    const headers = { authorization: `Bearer ${args.token}` };
    // Pages spread over the whole history, old and new, not one hot page.
    const cursor = () => args.limit + 2 + Math.floor(Math.random() * (args.lastSeq - args.limit - 1));
    const viaHttp = async (beforeSeq: number) => {
      const t0 = now();
      const res = await fetch(
        `${args.baseUrl}/api/messages?roomId=${args.roomId}&beforeSeq=${beforeSeq}&limit=${args.limit}`,
        {
          headers,
        },
      );
      const body = (await res.json()) as { messages?: unknown[] };
      const ms = now() - t0;
      if (res.status !== 200 || body.messages?.length !== args.limit) {
        throw new Error(`history page: status ${res.status}, ${body.messages?.length} messages`);
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
    try {
      for (let i = 0; i < args.warmup; i++) {
        await viaHttp(cursor());
        await viaSql(cursor());
      }
      for (let i = 0; i < args.requests; i++) {
        const c = cursor();
        if (i % 2 === 0) {
          httpMs.push(await viaHttp(c));
          sqlMs.push(await viaSql(c));
        } else {
          sqlMs.push(await viaSql(c));
          httpMs.push(await viaHttp(c));
        }
      }
    } finally {
      await client.end();
    }
    return { httpMs, sqlMs };
  },
});
