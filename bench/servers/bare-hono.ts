import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';
import { KEYSET } from '../load/keyset.ts';

/**
 * The floor of HTTP + SQL for a history page: the same Hono and @hono/node-server as Parley,
 * one route, no auth, no validation beyond reading three integers, no middleware, and the raw
 * keyset statement of the raw-SQL reference (bench/load/keyset.ts) on a pg pool. It answers
 * the wire shape Parley answers (`{messages: Message[], hasMore}`, fields the statement does
 * not read filled with what an untouched message holds), so both send about the same bytes.
 */

const port = Number(process.env.PORT ?? 0);
const pool = new pg.Pool({ connectionString: process.env.BARE_HONO_DATABASE_URL, max: 10 });
pool.on('error', () => undefined);

interface KeysetRow {
  id: string;
  room_id: string;
  seq: number;
  user_id: string;
  name: string;
  text: string;
  ts: string;
  client_msg_id: string | null;
  attachment_id: string | null;
}

const app = new Hono();
app.get('/api/messages', async (c) => {
  const roomId = c.req.query('roomId') ?? '';
  const beforeSeq = Number(c.req.query('beforeSeq') ?? 2 ** 31 - 1);
  const limit = Number(c.req.query('limit') ?? 50);
  const { rows } = await pool.query<KeysetRow>(KEYSET, [roomId, beforeSeq, limit + 1]);
  const page = rows.slice(0, limit).reverse();
  return c.json({
    messages: page.map((r) => ({
      id: r.id,
      roomId: r.room_id,
      seq: r.seq,
      userId: r.user_id,
      name: r.name,
      text: r.text,
      ts: Number(r.ts),
      clientMsgId: r.client_msg_id,
      attachment: null,
      version: r.seq,
      editedAt: null,
      deletedAt: null,
      replyTo: null,
      reactions: [],
    })),
    hasMore: rows.length > limit,
  });
});

const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  process.send?.({ ready: true, port: info.port });
});

const shutdown = () => {
  server.close(() => void pool.end().finally(() => process.exit(0)));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
