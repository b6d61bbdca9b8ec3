import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { readMarkerFlushSeconds, readMarkerMoves, readMarkerWrites } from '../core/metrics.ts';
import {
  readLastSeq,
  readMarkerStates,
  writeMarkers,
  type MarkerState,
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
  now?: () => number;
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
  /** Per (room, member): the marker known to be stored or pending, and when it was looked up. */
  private readonly known = new Map<string, { seq: number; at: number }>();
  /** Per room: a lastSeq it is known to have reached. */
  private readonly lastSeqs = new Map<string, number>();
  private readonly lastSeqQueries = new Map<string, Promise<number>>();
  private lookups: {
    roomId: string;
    userId: string;
    resolve: (state: MarkerState | null) => void;
    reject: (err: unknown) => void;
  }[] = [];
  private readonly knownTtlMs: number;
  private readonly now: () => number;
  private closed = false;
  private readonly intervalMs: number;
  private readonly maxBatch: number;

  constructor(private readonly opts: ReadMarkersOptions) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.maxBatch = opts.maxBatch ?? 5_000;
    // Another instance may move the marker meanwhile (the user's other device): what this
    // one knows is trusted for a few flushes, then looked up again.
    this.knownTtlMs = 5 * this.intervalMs;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => {
      // A flush still running (a slow database) is not queued behind: its successor would
      // write the same pairs again within the interval.
      if (!this.flushingNow)
        this.flush().catch((err: unknown) =>
          this.opts.logger.warn(
            { err, pending: this.pending.size },
            'read-marker flush failed; kept for the next',
          ),
        );
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * A `read` from a user: the marker becomes max(marker, min(seq, room.lastSeq)). Resolves
   * to the marker as it now is (the ack); `forbidden` for a non-member.
   *
   * `joined`: the socket has joined the room, so membership was checked at its join (a
   * removal takes the socket out of the room at once). Then, when this instance knows the
   * member's marker (looked up within the last few seconds, or moved here since) and a
   * lastSeq of at least `seq` (lastSeq only grows), the read costs no database work at all:
   * that is the hot path of a busy room, where every reader reads every message. Otherwise
   * one indexed look-up. A non-member's marker never reaches the database either way: the
   * flush only updates existing memberships.
   */
  read(roomId: string, userId: string, seq: number, joined = false): Promise<number> {
    if (this.closed) return Promise.reject(unavailable());
    const known = joined ? this.known.get(key(roomId, userId)) : undefined;
    const trusted = known !== undefined && this.now() - known.at < this.knownTtlMs;
    if (trusted && seq <= (this.lastSeqs.get(roomId) ?? 0)) {
      return Promise.resolve(this.advance(roomId, userId, known.seq, seq));
    }
    const op = (async () => {
      if (trusted) {
        // A message this instance did not commit (another instance did): one look-up of the
        // room's lastSeq however many readers ask at once.
        const { lastSeq, fresh } = await this.roomLastSeq(roomId);
        this.sawLastSeq(roomId, lastSeq);
        if (this.closed) throw unavailable();
        const k = this.known.get(key(roomId, userId));
        const bound = this.lastSeqs.get(roomId) ?? 0;
        // A look-up that began after this read arrived clamps exactly; one already running
        // may predate the message read, and only vouches for seqs up to what it found.
        if (k && (seq <= bound || fresh)) return this.advance(roomId, userId, k.seq, Math.min(seq, bound));
      }
      const state = await this.lookUp(roomId, userId);
      if (!state) throw new AppError('forbidden', 'Not a member of this room');
      if (this.closed) throw unavailable();
      this.sawLastSeq(roomId, state.lastSeq);
      // A flush that ended while the look-up ran took its markers out of memory, and the
      // look-up's snapshot may predate it: the flush left what it stored in `known`, which
      // remember() keeps the higher of, so an ack never answers less than an earlier one.
      this.remember(roomId, userId, state.lastReadSeq);
      const stored = this.known.get(key(roomId, userId))?.seq ?? state.lastReadSeq;
      return this.advance(roomId, userId, stored, Math.min(seq, state.lastSeq));
    })();
    this.inflight.add(op);
    const settled = () => this.inflight.delete(op);
    op.then(settled, settled);
    return op;
  }

  /**
   * A pair's stored marker and room lastSeq (null: not a member). Look-ups asked for in the
   * same turn of the event loop go to the database together, in one statement: a thousand
   * readers arriving at once cost one query, not a thousand queued for the pool.
   */
  private lookUp(roomId: string, userId: string): Promise<MarkerState | null> {
    return new Promise((resolve, reject) => {
      this.lookups.push({ roomId, userId, resolve, reject });
      if (this.lookups.length === 1) setImmediate(() => void this.runLookUps());
    });
  }

  private async runLookUps(): Promise<void> {
    const batch = this.lookups.splice(0, this.lookups.length);
    for (let i = 0; i < batch.length; i += this.maxBatch) {
      const part = batch.slice(i, i + this.maxBatch);
      try {
        const states = await readMarkerStates(this.opts.db, part);
        for (const l of part) l.resolve(states.get(key(l.roomId, l.userId)) ?? null);
      } catch (err) {
        for (const l of part) l.reject(err);
      }
    }
  }

  /**
   * The room's lastSeq from the database; concurrent callers share one query. `fresh`: the
   * query began with this call (after whatever the caller saw).
   */
  private async roomLastSeq(roomId: string): Promise<{ lastSeq: number; fresh: boolean }> {
    const running = this.lastSeqQueries.get(roomId);
    if (running) return { lastSeq: await running, fresh: false };
    const query = readLastSeq(this.opts.db, roomId).finally(() => this.lastSeqQueries.delete(roomId));
    this.lastSeqQueries.set(roomId, query);
    return { lastSeq: await query, fresh: true };
  }

  /** The room's lastSeq is at least this (from a join, a send or a look-up). */
  sawLastSeq(roomId: string, lastSeq: number): void {
    if (lastSeq > (this.lastSeqs.get(roomId) ?? 0)) this.lastSeqs.set(roomId, lastSeq);
  }

  /** Moves the marker to `target` if that is further than what is known; the marker as it now is. */
  private advance(roomId: string, userId: string, stored: number, target: number): number {
    const held = Math.max(stored, this.held(roomId, userId));
    if (target <= held) return held;
    this.note(roomId, userId, target);
    return target;
  }

  /** What a look-up found stored for the pair (kept if higher: a flush may have written more meanwhile). */
  private remember(roomId: string, userId: string, seq: number): void {
    const k = key(roomId, userId);
    this.known.set(k, { seq: Math.max(seq, this.known.get(k)?.seq ?? 0), at: this.now() });
  }

  /** A marker known to be valid (the sender's own message): no look-up, written with the next flush. */
  note(roomId: string, userId: string, seq: number): void {
    this.sawLastSeq(roomId, seq);
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
      const at = this.now();
      for (let i = 0; i < batch.length; i += this.maxBatch) {
        const part = batch.slice(i, i + this.maxBatch);
        const stored = await writeMarkers(this.opts.db, part);
        // What is stored now (ours, or a higher one another instance wrote) is known afresh:
        // a member who keeps reading is never looked up again. A pair missing from the answer
        // is no membership any more: forgotten, so its next read is looked up (forbidden).
        for (const w of part) this.known.delete(key(w.roomId, w.userId));
        for (const m of stored) this.known.set(key(m.roomId, m.userId), { seq: m.lastReadSeq, at });
        const moved = stored.filter((m) => m.moved);
        readMarkerWrites.inc(moved.length);
        if (moved.length === 0) continue;
        try {
          this.opts.onMoved(
            moved.map((m) => ({
              roomId: m.roomId,
              userId: m.userId,
              lastReadSeq: m.lastReadSeq,
              unread: m.unread,
            })),
          );
        } catch (err) {
          this.opts.logger.error({ err }, 'announcing moved read markers failed');
        }
      }
      this.prune();
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
      this.flushingNow = false;
    }
  }

  /** Forgets what is too old to be trusted (the caches stay as large as the recent activity). */
  private prune(): void {
    const now = this.now();
    for (const [k, v] of this.known)
      if (now - v.at >= this.knownTtlMs && !this.pending.has(k)) this.known.delete(k);
    if (this.lastSeqs.size > 100_000) this.lastSeqs.clear();
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
 * Receipt deliveries (receipts × sockets in the room) one room may cost per interval on this
 * instance. A room of 1,000 readers who all read every message would otherwise get 1,000
 * receipts a second, each to 1,000 sockets: a million deliveries a second.
 */
const RECEIPT_DELIVERIES_PER_ROOM = 20_000;

/**
 * What a flush tells clients. The member's own read state goes at once to every socket of
 * theirs (their user channel reaches every instance through the adapter). Receipts go to the
 * sockets that joined the room, one per member and room per interval at most, always the
 * latest value; a room with many sockets gets them spread out over several intervals
 * (oldest waiting first, so every member's latest arrives) within its delivery budget.
 */
export class MarkerAnnouncer {
  /** Per room, the receipts not sent yet: member → latest marker, in the order they first waited. */
  private readonly waiting = new Map<string, Map<string, number>>();
  /**
   * Per room, the deliveries spent in this interval: a flush's receipts and the interval's
   * own round share one budget, or a room would get twice its budget a second.
   */
  private readonly spent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly io: ParleyServer,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.nextInterval(), this.intervalMs);
    this.timer.unref();
  }

  /** A new interval: every room's budget is whole again, and the waiting receipts go first. */
  nextInterval(): void {
    this.spent.clear();
    this.sendReceipts();
  }

  /** A flush's moved markers. */
  readonly announce = (moved: MovedMarker[]): void => {
    for (const m of moved) {
      this.io.to(userChannel(m.userId)).emit('read_state', {
        roomId: m.roomId,
        lastReadSeq: m.lastReadSeq,
        unread: m.unread,
      });
      let room = this.waiting.get(m.roomId);
      if (!room) this.waiting.set(m.roomId, (room = new Map()));
      // An update keeps the member's place in the queue (Map order is first insertion).
      room.set(m.userId, Math.max(m.lastReadSeq, room.get(m.userId) ?? 0));
    }
    this.sendReceipts();
  };

  /** Sends what is left of each room's budget in this interval; `all`: everything (shutdown). */
  sendReceipts(all = false): void {
    for (const [roomId, room] of this.waiting) {
      const sockets = Math.max(1, this.io.of('/').adapter.rooms.get(roomChannel(roomId))?.size ?? 0);
      const spent = this.spent.get(roomId) ?? 0;
      // At least one receipt an interval, however large the room, so every member's arrives.
      const budget = all
        ? Infinity
        : spent === 0
          ? Math.max(1, Math.floor(RECEIPT_DELIVERIES_PER_ROOM / sockets))
          : Math.floor((RECEIPT_DELIVERIES_PER_ROOM - spent) / sockets);
      let sent = 0;
      for (const [userId, lastReadSeq] of room) {
        if (sent >= budget) break;
        sent += 1;
        room.delete(userId);
        this.io.to(roomChannel(roomId)).emit('read', { roomId, userId, lastReadSeq });
      }
      if (sent > 0) this.spent.set(roomId, spent + sent * sockets);
      if (room.size === 0) this.waiting.delete(roomId);
    }
  }

  /** Sends every waiting receipt (before Socket.IO closes). */
  stop(): void {
    clearInterval(this.timer);
    this.sendReceipts(true);
  }
}
