import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { readMarkerFlushSeconds, readMarkerMoves, readMarkerWrites } from '../core/metrics.ts';
import {
  readMarkerState,
  writeMarkers,
  type MarkerWrite,
  type MovedMarker,
} from '../core/rooms/read-markers.ts';
import { roomChannel, userChannel, type ParleyServer } from './types.ts';

export interface ReadMarkersOptions {
  db: Database;
  logger: Logger;
  /** Receives every flush's moved markers, after they are stored. */
  onMoved: (moved: MovedMarker[]) => void;
  /** How often pending markers are written: each (member, room) at most once per interval. */
  intervalMs?: number;
  /** Most markers in one statement. */
  maxBatch?: number;
}

const FINAL_FLUSH_ATTEMPTS = 3;

const key = (roomId: string, userId: string) => `${roomId}\u0000${userId}`;

/**
 * The read-marker coalescer. Markers are hot writes (every visible message on every device
 * moves one), so they are kept in memory per (member, room) and written in one statement for
 * all of them once per interval (writeMarkers: max, clamped, never back), and once more at
 * shutdown. A marker acked to a client is in memory before the ack goes out and is written
 * by a flush: by the next one, or by the final one of a graceful shutdown (close waits for
 * reads in flight first). A crash loses at most one interval of movement; the stored marker
 * then lags, it never moves back.
 */
export class ReadMarkers {
  private pending = new Map<string, MarkerWrite>();
  /** The batch being written: still consulted, so an ack never answers less than an earlier one. */
  private writing = new Map<string, MarkerWrite>();
  private readonly inflight = new Set<Promise<unknown>>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private flushingNow = false;
  private completedFlushes = 0;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBatch: number;

  constructor(private readonly opts: ReadMarkersOptions) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.maxBatch = opts.maxBatch ?? 5_000;
  }

  start(): void {
    this.timer = setInterval(() => {
      // A flush still running (a slow database) is not queued behind: its successor would
      // write the same pairs again within the interval.
      if (!this.flushingNow) void this.flush();
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * A `read` from a user: the marker becomes max(marker, min(seq, room.lastSeq)). Resolves
   * to the marker as it now is (the ack); `forbidden` for a non-member.
   */
  read(roomId: string, userId: string, seq: number): Promise<number> {
    if (this.closed) return Promise.reject(unavailable());
    const op = (async () => {
      for (;;) {
        // A flush that ends while the look-up runs takes markers out of memory that the
        // look-up's snapshot may predate: look again, or an ack could answer less than an
        // earlier one did.
        const flushes = this.completedFlushes;
        const state = await readMarkerState(this.opts.db, roomId, userId);
        if (!state) throw new AppError('forbidden', 'Not a member of this room');
        if (this.closed) throw unavailable();
        if (flushes !== this.completedFlushes) continue;
        const target = Math.min(seq, state.lastSeq);
        const held = Math.max(state.lastReadSeq, this.held(roomId, userId));
        if (target <= held) return held;
        this.note(roomId, userId, target);
        return target;
      }
    })();
    this.inflight.add(op);
    const settled = () => this.inflight.delete(op);
    op.then(settled, settled);
    return op;
  }

  /** A marker known to be valid (the sender's own message): no look-up, written with the next flush. */
  note(roomId: string, userId: string, seq: number): void {
    const k = key(roomId, userId);
    const pending = this.pending.get(k);
    if (pending && pending.seq >= seq) return;
    this.pending.set(k, { roomId, userId, seq });
    readMarkerMoves.inc();
  }

  private held(roomId: string, userId: string): number {
    const k = key(roomId, userId);
    return Math.max(this.pending.get(k)?.seq ?? 0, this.writing.get(k)?.seq ?? 0);
  }

  /** Writes every pending marker (after any flush already running). */
  flush(): Promise<void> {
    const next = this.chain.then(() => this.writeOnce());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async writeOnce(): Promise<void> {
    if (this.pending.size === 0) return;
    this.flushingNow = true;
    this.writing = this.pending;
    this.pending = new Map();
    const started = performance.now();
    try {
      const batch = [...this.writing.values()];
      for (let i = 0; i < batch.length; i += this.maxBatch) {
        const moved = await writeMarkers(this.opts.db, batch.slice(i, i + this.maxBatch));
        readMarkerWrites.inc(moved.length);
        if (moved.length === 0) continue;
        try {
          this.opts.onMoved(moved);
        } catch (err) {
          this.opts.logger.error({ err }, 'announcing moved read markers failed');
        }
      }
      readMarkerFlushSeconds.observe((performance.now() - started) / 1000);
    } catch (err) {
      // Kept for the next flush (a marker written twice is harmless: the write is a max).
      for (const [k, w] of this.writing) {
        const later = this.pending.get(k);
        if (!later || later.seq < w.seq) this.pending.set(k, w);
      }
      throw err;
    } finally {
      this.writing = new Map();
      this.completedFlushes += 1;
      this.flushingNow = false;
    }
  }

  /** Refuses new reads, waits for those in flight, then writes everything pending. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.inflight]);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.flush();
        return;
      } catch (err) {
        if (attempt >= FINAL_FLUSH_ATTEMPTS) {
          this.opts.logger.error(
            { err, markers: this.pending.size },
            'read markers could not be written at shutdown',
          );
          return;
        }
        this.opts.logger.warn({ err, attempt }, 'final read-marker flush failed; retrying');
        await sleep(200 * attempt);
      }
    }
  }
}

const unavailable = () => new AppError('unavailable', 'Server is shutting down, reconnect and retry');

/**
 * What a flush tells clients: a receipt to the sockets that joined the room, and the
 * member's own read state to every socket of theirs (their user channel reaches every
 * instance through the adapter). One of each per member and room per flush, so at most one
 * a second, and always the latest value.
 */
export const announceMarkers =
  (io: ParleyServer) =>
  (moved: MovedMarker[]): void => {
    for (const m of moved) {
      io.to(roomChannel(m.roomId)).emit('read', {
        roomId: m.roomId,
        userId: m.userId,
        lastReadSeq: m.lastReadSeq,
      });
      io.to(userChannel(m.userId)).emit('read_state', {
        roomId: m.roomId,
        lastReadSeq: m.lastReadSeq,
        unread: m.unread,
      });
    }
  };
