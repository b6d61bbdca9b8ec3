import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Database } from '../core/db/database.ts';
import { createLogger } from '../core/logger.ts';
import { MemoryOnline } from '../core/redis/online.ts';
import { OnlinePresence } from './online-presence.ts';
import type { ParleyServer, ParleySocket } from './types.ts';

/** A logger whose lines (parsed JSON) land in `lines`. */
function capturingLogger() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

describe('OnlinePresence at shutdown', () => {
  it('drops the announcements still queued with one line, not a warning per user as the database closes', async () => {
    const { logger, lines } = capturingLogger();
    // A database that does not answer until it is closed, then fails everything asked.
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    const db = {
      query: async () => {
        await closed;
        throw new Error('Cannot use a pool after calling end on the pool');
      },
    } as unknown as Database;
    const io = {
      to: () => ({ emit: () => true }),
      of: () => ({ sockets: new Map() }),
    } as unknown as ParleyServer;
    const online = new OnlinePresence(io, new MemoryOnline(60_000), db, logger, () => Date.now(), 60_000);
    const sockets = Array.from(
      { length: 50 },
      (_, i) => ({ id: `s${i}`, data: { session: { userId: `u${i}` } } }) as unknown as ParleySocket,
    );
    for (const s of sockets) await online.connected(s);
    for (const s of sockets) await online.disconnected(s);
    await online.idle(50);
    online.abandon();
    close();
    // Every queued announcement has run its course (dropped, or failed as the pool closed).
    await online.idle(5_000);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings.map((l) => l.msg)).toEqual(['user_online announcements dropped at shutdown']);
    expect(warnings[0]!.users).toBeGreaterThan(0);
  });
});
