import pg from 'pg';
import { serveRpc } from '../lib/rpc.ts';

/**
 * The raw-SQL reference for persisted throughput: single-row INSERTs into the same
 * messages table (same indexes), one commit each, from a pool of 4 connections kept busy
 * closed-loop. What any chat server gets by writing each message as it comes.
 */

export interface InsertArgs {
  url: string;
  poolSize: number;
  durationMs: number;
  roomId: string;
  userId: string;
  name: string;
  textChars: number;
  /** Continue the room's seq from here (the harness knows what earlier runs inserted). */
  startSeq: number;
  /** Unset: closed loop, every connection always busy (capacity). Set: this many a second (latency at light load). */
  ratePerSecond?: number;
}

const now = () => performance.now();

serveRpc({
  insert: async (args: InsertArgs) => {
    const pool = new pg.Pool({ connectionString: args.url, max: args.poolSize });
    const text = 'x'.repeat(args.textChars);
    let seq = args.startSeq;
    let count = 0;
    const latencyMs: number[] = [];
    // Connect first, so the timed window measures inserts, not connection set-up.
    const clients = await Promise.all(Array.from({ length: args.poolSize }, () => pool.connect()));
    for (const c of clients) c.release();
    const insertOne = async () => {
      const s = ++seq;
      const t0 = now();
      await pool.query(
        `INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $3)`,
        [`${args.roomId}:${s}`, args.roomId, s, args.userId, args.name, text, Date.now(), `raw-${s}`],
      );
      latencyMs.push(now() - t0);
      count++;
    };
    const started = now();
    const deadline = started + args.durationMs;
    if (args.ratePerSecond === undefined) {
      const worker = async () => {
        while (now() < deadline) await insertOne();
      };
      await Promise.all(Array.from({ length: args.poolSize }, worker));
    } else {
      const rate = args.ratePerSecond;
      const inFlight = new Set<Promise<void>>();
      let issued = 0;
      while (now() < deadline) {
        const due = Math.floor(((now() - started) * rate) / 1000);
        while (issued < due) {
          issued++;
          const p = insertOne().finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(inFlight);
    }
    const ms = now() - started;
    await pool.end();
    return { count, ms, latencyMs, lastSeq: seq };
  },
});
