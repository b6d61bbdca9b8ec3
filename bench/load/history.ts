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

serveRpc({
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
