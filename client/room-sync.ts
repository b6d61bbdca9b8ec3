import type { Ack, JoinResult } from '../core/events.ts';
import type { HistoryPage, Message } from '../core/schemas.ts';
import type { HistoryCursor } from './rest.ts';
import type { ChatSocket } from './socket.ts';
import { Timeline } from './timeline.ts';

export interface RoomSyncDeps {
  roomId: string;
  socket: ChatSocket;
  /** A history page (the REST client's `messages.history`). */
  history(roomId: string, cursor: HistoryCursor): Promise<HistoryPage>;
  /** The first load (join without sinceSeq): the room's newest page, ascending. */
  onLoaded?(messages: Message[], joined: JoinResult): void;
  /**
   * Messages at the newer end: `received` as they came (live, join, catch-up, an ack), `added`
   * the ones that extended the gap-free timeline (ascending), to show.
   */
  onNewer(received: Message[], added: Message[]): void;
  /**
   * Messages already shown whose state changed (edit, delete, reaction; live or from a
   * catch-up by version): each the newer copy, to show in place of the old one.
   */
  onUpdated?(messages: Message[]): void;
  /** Every successful join, re-joins included (present users, room). */
  onJoined?(joined: JoinResult): void;
  /** The join was refused `forbidden`: not (or no longer) a member. */
  onForbidden?(): void;
  /** Something the user should know (undefined: nothing any more). */
  onNotice?(text: string | undefined): void;
  /** After every join, once caught up: e.g. the outbox's flush. */
  afterJoin?(): Promise<void>;
  ackTimeoutMs?: number;
}

const CATCH_UP_PAGE = 100;

/**
 * One room kept in sync over an unreliable connection: join (and re-join on every connect,
 * with `sinceSeq`), live messages into a gap-free Timeline, and any hole — announced by a
 * seq further on than the next one, or by `hasMore` — filled from history with `afterSeq`
 * pages until the timeline holds everything announced. Messages that arrive before the first
 * page are kept and placed after it. Duplicates (live and in a page) are dropped by seq.
 *
 * Changes too: `message_updated` replaces a held message when its `version` is newer, and
 * every re-join sends `sinceVersion` = `lastVersion` (the `room.lastVersion` of the last
 * complete catch-up, not the highest version seen live: live events from other instances
 * may overtake each other) and applies `changes`, following `hasMoreChanges` with
 * `changedAfter` pages, so a client that was away ends exactly as the server's history.
 */
export class RoomSync {
  readonly timeline = new Timeline();
  private loaded = false;
  private isJoined = false;
  private joining: Promise<void> | undefined;
  private joinAgain = false;
  private joinRetry: ReturnType<typeof setTimeout> | undefined;
  private joinAttempts = 0;
  private early: Message[] = [];
  private catchingUp: Promise<void> | undefined;
  /** The highest seq anything announced: catch-up runs until the timeline has it. */
  private wantedSeq = 0;
  private destroyed = false;
  private held = 0;

  /** The room version up to which every change is known to be applied (see the class note). */
  get lastVersion(): number {
    return this.held;
  }

  constructor(private readonly deps: RoomSyncDeps) {
    const { socket } = deps;
    socket.on('connect', this.onConnect);
    socket.on('disconnect', this.onDisconnect);
    socket.on('message', this.onMessage);
    socket.on('message_updated', this.onMessageUpdated);
    if (socket.connected) void this.join();
  }

  /** Joined on the server now: sends may go out. */
  get joined(): boolean {
    return this.isJoined;
  }

  /** The first page is in: older pages may be asked for. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Joins (once at a time); a re-join asks only for what came after the newest seq held. */
  join(): Promise<void> {
    if (this.joining) {
      // A reconnect while a join is still catching up (pages over REST): that join's socket
      // session is gone, so join again once it is done.
      this.joinAgain = true;
      return this.joining;
    }
    this.joining = this.doJoin().finally(() => {
      this.joining = undefined;
      if (!this.joinAgain) return;
      this.joinAgain = false;
      if (!this.destroyed && !this.isJoined && this.deps.socket.connected) void this.join();
    });
    return this.joining;
  }

  /** The server says this socket is not in the room (e.g. after a restart): join again. */
  rejoin(): void {
    this.isJoined = false;
    void this.join();
  }

  /** Messages known to be committed (e.g. from a send's ack) join the timeline like live ones. */
  append(messages: Message[]): void {
    if (messages.length === 0) return;
    const { added, gap } = this.timeline.append(messages);
    for (const m of messages) this.wantedSeq = Math.max(this.wantedSeq, m.seq);
    this.deps.onNewer(messages, added);
    if (gap) void this.catchUp();
  }

  /** Newer states of messages (an ack of edit/delete/react, a live or catch-up change). */
  applyChanges(messages: Message[]): void {
    const changed: Message[] = [];
    for (const m of messages) {
      if (m.roomId !== this.deps.roomId) continue;
      const shown = this.timeline.update(m);
      if (shown) changed.push(shown, ...this.timeline.requote(shown));
    }
    if (changed.length > 0) this.deps.onUpdated?.(changed);
  }

  /** The page before the oldest held (scrolling up); returns what was new. */
  async older(limit = 50): Promise<Message[]> {
    if (!this.loaded || !this.timeline.hasOlder) return [];
    const page = await this.deps.history(this.deps.roomId, { beforeSeq: this.timeline.oldest, limit });
    return this.timeline.prepend(page.messages, page.hasMore);
  }

  /** Stops listening and leaves the room on the server. */
  destroy(): void {
    this.destroyed = true;
    clearTimeout(this.joinRetry);
    const { socket } = this.deps;
    socket.off('connect', this.onConnect);
    socket.off('disconnect', this.onDisconnect);
    socket.off('message', this.onMessage);
    socket.off('message_updated', this.onMessageUpdated);
    if (socket.connected) socket.emit('leave', { roomId: this.deps.roomId }, () => undefined);
  }

  private readonly onConnect = () => void this.join();

  private readonly onDisconnect = () => {
    this.isJoined = false;
  };

  private readonly onMessageUpdated = (m: Message) => this.applyChanges([m]);

  private readonly onMessage = (m: Message) => {
    if (m.roomId !== this.deps.roomId) return;
    if (!this.loaded) {
      this.early.push(m);
      return;
    }
    this.append([m]);
  };

  private async doJoin(): Promise<void> {
    const { roomId, socket } = this.deps;
    const payload = this.loaded
      ? { roomId, sinceSeq: this.timeline.newest, sinceVersion: this.held }
      : { roomId };
    let ack: Ack<JoinResult>;
    try {
      ack = await socket.timeout(this.deps.ackTimeoutMs ?? 10_000).emitWithAck('join', payload);
    } catch {
      // No answer in time: try again while connected (a reconnect re-joins by itself).
      this.retryJoin();
      return;
    }
    if (this.destroyed) return;
    if (!ack.ok) {
      if (ack.error.code === 'forbidden') {
        this.deps.onForbidden?.();
        return;
      }
      this.deps.onNotice?.(`Could not open the room: ${ack.error.message}. Retrying…`);
      this.retryJoin(ack.error.retryAfterMs);
      return;
    }
    this.joinAttempts = 0;
    this.isJoined = true;
    this.deps.onNotice?.(undefined);
    this.deps.onJoined?.(ack);

    if (!this.loaded) {
      const shown = this.timeline.reset(ack.messages, ack.hasMore, ack.room.lastSeq);
      this.loaded = true;
      // The page was read after room.lastVersion: it holds every change up to it.
      this.held = ack.room.lastVersion;
      this.deps.onLoaded?.(shown, ack);
      const early = this.early;
      this.early = [];
      this.append(early);
    } else {
      this.append(ack.messages);
      if (ack.hasMore) this.wantedSeq = Math.max(this.wantedSeq, this.timeline.newest + 1);
      this.applyChanges(ack.changes);
      const complete =
        !ack.hasMoreChanges || (await this.changesAfter(ack.changes.at(-1)?.version ?? this.held));
      if (this.destroyed) return;
      // Only a complete catch-up moves the cursor; otherwise the next join asks again.
      if (complete) this.held = Math.max(this.held, ack.room.lastVersion);
    }
    if (this.wantedSeq > this.timeline.newest) await this.catchUp();
    await this.deps.afterJoin?.();
  }

  private retryJoin(afterMs?: number): void {
    clearTimeout(this.joinRetry);
    if (this.destroyed || !this.deps.socket.connected) return;
    const delay = afterMs ?? Math.min(15_000, 1_000 * 2 ** this.joinAttempts++);
    this.joinRetry = setTimeout(() => {
      if (!this.isJoined && this.deps.socket.connected) void this.join();
    }, delay);
  }

  /** Pages `changedAfter` from `version` until no more; false when a page failed. */
  private async changesAfter(version: number): Promise<boolean> {
    let cursor = version;
    try {
      for (;;) {
        if (this.destroyed) return false;
        const page = await this.deps.history(this.deps.roomId, {
          changedAfter: cursor,
          limit: CATCH_UP_PAGE,
        });
        this.applyChanges(page.messages);
        const last = page.messages.at(-1);
        if (!page.hasMore || !last) return true;
        cursor = last.version;
      }
    } catch (err) {
      this.deps.onNotice?.(
        `Some changes could not be loaded: ${err instanceof Error ? err.message : 'error'}`,
      );
      return false;
    }
  }

  /** Fetches afterSeq pages until the timeline holds everything announced so far. */
  private catchUp(): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        while (!this.destroyed && this.wantedSeq > this.timeline.newest) {
          const before = this.timeline.newest;
          const page = await this.deps.history(this.deps.roomId, { afterSeq: before, limit: CATCH_UP_PAGE });
          this.append(page.messages);
          if (page.hasMore) this.wantedSeq = Math.max(this.wantedSeq, this.timeline.newest + 1);
          // Nothing new although more was announced: stop rather than spin; the next live
          // message or reconnect triggers another attempt.
          if (this.timeline.newest === before) break;
        }
      } catch (err) {
        this.deps.onNotice?.(
          `Some messages could not be loaded: ${err instanceof Error ? err.message : 'error'}`,
        );
      } finally {
        this.catchingUp = undefined;
      }
    })();
    return this.catchingUp;
  }
}
