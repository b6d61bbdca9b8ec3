import type { Ack, AckResult } from '../core/events.ts';
import type { ReadPayload } from '../core/schemas.ts';

export interface ReadReporterDeps {
  /** Sends `read` and resolves with its ack (e.g. `socket.timeout(ms).emitWithAck('read', p)`). */
  emit(payload: ReadPayload): Promise<Ack<AckResult<'read'>>>;
  /** The server's marker after a `read` was acknowledged. */
  onRead?(roomId: string, lastReadSeq: number): void;
  /** At most one `read` per room in this window (default 500 ms): the newest seq goes out. */
  intervalMs?: number;
}

interface RoomState {
  /** The highest seq acknowledged (or sent and still unanswered). */
  sent: number;
  /** The highest seq seen and not sent yet. */
  wanted: number;
  lastSentAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Tells the server what the user has seen: `seen(roomId, seq)` as messages become visible
 * (the caller decides what visible means: on screen, tab in the foreground), throttled to
 * one `read` per room per interval carrying the newest seq, never a seq already sent.
 * A `read` that failed (no answer, offline) is sent again on the next `seen` or `retry()`.
 */
export class ReadReporter {
  private readonly rooms = new Map<string, RoomState>();
  private readonly intervalMs: number;
  private destroyed = false;

  constructor(private readonly deps: ReadReporterDeps) {
    this.intervalMs = deps.intervalMs ?? 500;
  }

  seen(roomId: string, seq: number): void {
    if (this.destroyed || seq < 1) return;
    const s = this.state(roomId);
    if (seq <= s.sent || seq <= s.wanted) return;
    s.wanted = seq;
    this.schedule(roomId, s);
  }

  /** Sends every pending marker again (after a reconnect). */
  retry(): void {
    for (const [roomId, s] of this.rooms) if (s.wanted > s.sent) this.schedule(roomId, s);
  }

  destroy(): void {
    this.destroyed = true;
    for (const s of this.rooms.values()) clearTimeout(s.timer);
    this.rooms.clear();
  }

  private state(roomId: string): RoomState {
    let s = this.rooms.get(roomId);
    if (!s) {
      s = { sent: 0, wanted: 0, lastSentAt: -Infinity, timer: undefined };
      this.rooms.set(roomId, s);
    }
    return s;
  }

  private schedule(roomId: string, s: RoomState): void {
    if (s.timer) return;
    const wait = Math.max(0, s.lastSentAt + this.intervalMs - Date.now());
    if (wait === 0) {
      void this.send(roomId, s);
      return;
    }
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.send(roomId, s);
    }, wait);
  }

  private async send(roomId: string, s: RoomState): Promise<void> {
    const seq = s.wanted;
    if (this.destroyed || seq <= s.sent) return;
    const previous = s.sent;
    s.sent = seq;
    s.lastSentAt = Date.now();
    let ack: Ack<AckResult<'read'>>;
    try {
      ack = await this.deps.emit({ roomId, seq });
    } catch {
      ack = { ok: false, error: { code: 'unavailable', message: 'no answer' } };
    }
    if (this.destroyed) return;
    if (ack.ok) {
      this.deps.onRead?.(roomId, ack.lastReadSeq);
      // Newer messages seen while this one was on its way go out next.
      if (s.wanted > s.sent) this.schedule(roomId, s);
      return;
    }
    // Not taken: send it again later (retry(), or the next seen()); a rate limit says when.
    if (s.sent === seq) s.sent = previous;
    if (ack.error.retryAfterMs !== undefined) {
      s.lastSentAt = Date.now() + ack.error.retryAfterMs - this.intervalMs;
      this.schedule(roomId, s);
    }
  }
}
