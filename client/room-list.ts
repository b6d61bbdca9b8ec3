import type { ActivityEvent, ReadStateEvent } from '../core/events.ts';
import type { Message, Room, RoomListEntry } from '../core/schemas.ts';
import type { ChatSocket } from './socket.ts';

export interface RoomListDeps {
  socket: ChatSocket;
  /** The signed-in user: their own messages never count as unread. */
  meId: string;
  /** The caller's rooms with read state (the REST client's `rooms.list`). */
  list(): Promise<RoomListEntry[]>;
  /** After every change: the rooms, newest activity first. */
  onChange(rooms: RoomListEntry[]): void;
  /** The user left or was removed (here or on another device). */
  onRemoved?(roomId: string): void;
}

/**
 * The user's rooms with their unread counts, kept live from the user's channel: `room_added`,
 * `room_removed`, `room_updated`, `activity` (a message in a room this socket has not
 * joined) and `read_state` (the marker moved on another device), plus the `message` events
 * of the rooms this socket has joined. The server's list (`GET /api/rooms`) is the truth: it
 * is read again on every connect (events missed while away) and after a room is added (its
 * exact unread count). Ordered by newest activity, like the server's list.
 *
 * Unread counts: a live message from someone else after the marker adds one; a marker
 * moved here (`markRead`) or on another device (`read_state`) sets the count. Deleted
 * messages and exact counts after a partial read come from the server's answers.
 */
export class RoomList {
  private readonly rooms = new Map<string, RoomListEntry>();
  /** Live activity time per room (an `activity` event carries no text for `lastMessage`). */
  private readonly activeAt = new Map<string, number>();
  private fetching: Promise<void> | undefined;
  private fetchAgain = false;
  /** Rooms an event touched while a list was being fetched: the event is newer than the list. */
  private touched: Set<string> | undefined;
  private removedDuringFetch = new Set<string>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private destroyed = false;

  constructor(private readonly deps: RoomListDeps) {
    const { socket } = deps;
    socket.on('connect', this.onConnect);
    socket.on('room_added', this.onRoomAdded);
    socket.on('room_removed', this.onRoomRemoved);
    socket.on('room_updated', this.onRoomUpdated);
    socket.on('activity', this.onActivity);
    socket.on('read_state', this.onReadState);
    socket.on('message', this.onMessage);
  }

  /** The rooms, newest activity first. */
  get all(): RoomListEntry[] {
    const at = (r: RoomListEntry) =>
      Math.max(r.lastMessage?.ts ?? Date.parse(r.createdAt), this.activeAt.get(r.id) ?? 0);
    // Newest activity first; ties by name, then id, so the order is stable.
    return [...this.rooms.values()].sort(
      (a, b) => at(b) - at(a) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id),
    );
  }

  get(roomId: string): RoomListEntry | undefined {
    return this.rooms.get(roomId);
  }

  /** Total unread messages across rooms (for the page title). */
  get totalUnread(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.unread;
    return n;
  }

  /** Reads the server's list (once at a time; a call during a fetch fetches again after it). */
  refresh(): Promise<void> {
    if (this.fetching) {
      this.fetchAgain = true;
      return this.fetching;
    }
    this.fetching = this.fetch().finally(() => {
      this.fetching = undefined;
      if (this.fetchAgain && !this.destroyed) {
        this.fetchAgain = false;
        void this.refresh();
      }
    });
    return this.fetching;
  }

  /** A room this client created or opened (REST answer): shown at once, before its event. */
  add(room: Room): void {
    this.upsertRoom(room);
    this.changed();
  }

  /** The user left here: gone at once (the server's `room_removed` follows). */
  remove(roomId: string): void {
    this.onRoomRemoved({ roomId });
  }

  /**
   * The marker moved on this device (the `read` ack, or before it: markers never move back).
   * `unread`: what is left after it when the caller knows it (e.g. from its timeline); by
   * default 0 once everything is read, else unchanged until the server says.
   */
  markRead(roomId: string, lastReadSeq: number, unread?: number): void {
    const r = this.rooms.get(roomId);
    if (!r || lastReadSeq < r.lastReadSeq) return;
    r.lastReadSeq = lastReadSeq;
    if (unread !== undefined) r.unread = Math.max(0, unread);
    else if (lastReadSeq >= r.lastSeq) r.unread = 0;
    this.touch(roomId);
    this.changed();
  }

  destroy(): void {
    this.destroyed = true;
    clearTimeout(this.refreshTimer);
    const { socket } = this.deps;
    socket.off('connect', this.onConnect);
    socket.off('room_added', this.onRoomAdded);
    socket.off('room_removed', this.onRoomRemoved);
    socket.off('room_updated', this.onRoomUpdated);
    socket.off('activity', this.onActivity);
    socket.off('read_state', this.onReadState);
    socket.off('message', this.onMessage);
  }

  private async fetch(): Promise<void> {
    this.touched = new Set();
    this.removedDuringFetch = new Set();
    let fetched: RoomListEntry[];
    try {
      fetched = await this.deps.list();
    } catch {
      // Offline or a hiccup: keep what we have; the next connect or event refreshes.
      this.touched = undefined;
      return;
    }
    const touched = this.touched;
    const removed = this.removedDuringFetch;
    this.touched = undefined;
    if (this.destroyed) return;
    const next = new Map<string, RoomListEntry>();
    for (const entry of fetched) {
      if (removed.has(entry.id)) continue;
      const local = this.rooms.get(entry.id);
      // An event newer than the snapshot wins; markers and seqs never move back.
      if (local && touched.has(entry.id)) {
        next.set(entry.id, {
          ...entry,
          ...local,
          lastReadSeq: Math.max(local.lastReadSeq, entry.lastReadSeq),
          lastSeq: Math.max(local.lastSeq, entry.lastSeq),
        });
      } else {
        next.set(entry.id, { ...entry });
      }
    }
    // Added by an event after the snapshot was read.
    for (const id of touched) {
      const local = this.rooms.get(id);
      if (local && !next.has(id)) next.set(id, local);
    }
    const gone = [...this.rooms.keys()].filter((id) => !next.has(id));
    this.rooms.clear();
    for (const [id, r] of next) this.rooms.set(id, r);
    for (const id of gone) this.deps.onRemoved?.(id);
    this.changed();
  }

  private touch(roomId: string): void {
    this.touched?.add(roomId);
  }

  private upsertRoom(room: Room): boolean {
    const existing = this.rooms.get(room.id);
    this.touch(room.id);
    this.removedDuringFetch.delete(room.id);
    if (existing) {
      Object.assign(existing, room, {
        lastSeq: Math.max(existing.lastSeq, room.lastSeq),
        lastVersion: Math.max(existing.lastVersion, room.lastVersion),
      });
      return false;
    }
    this.rooms.set(room.id, { ...room, lastReadSeq: 0, unread: 0, lastMessage: null });
    return true;
  }

  private changed(): void {
    if (!this.destroyed) this.deps.onChange(this.all);
  }

  /** A message (live or announced) at `seq`: a newer one moves the room up and may be unread. */
  private arrived(roomId: string, seq: number, userId: string, ts: number, m?: Message): void {
    const r = this.rooms.get(roomId);
    if (!r) {
      // A room we do not know yet (its room_added still on the way, or missed): ask the server.
      this.scheduleRefresh();
      return;
    }
    if (m && seq >= (r.lastMessage?.seq ?? 0)) {
      r.lastMessage = { seq, userId, name: m.name, text: [...m.text].slice(0, 200).join(''), ts };
    }
    if (seq <= r.lastSeq) {
      if (m) this.changed();
      return; // known already (the list, or the same message as activity and message)
    }
    if (userId === this.deps.meId) {
      // Sending moves the sender's marker; nothing after it yet.
      r.lastReadSeq = seq;
      r.unread = 0;
    } else if (seq > r.lastReadSeq) {
      r.unread++;
    }
    r.lastSeq = seq;
    this.activeAt.set(roomId, Math.max(this.activeAt.get(roomId) ?? 0, ts));
    this.touch(roomId);
    this.changed();
  }

  /** Refreshes soon (coalesced): for events whose exact effect only the server knows. */
  private scheduleRefresh(): void {
    if (this.refreshTimer || this.destroyed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, 200);
  }

  private readonly onConnect = () => void this.refresh();

  private readonly onRoomAdded = ({ room }: { room: Room }) => {
    // Its unread count and last message are the server's to say.
    if (this.upsertRoom(room)) this.scheduleRefresh();
    this.changed();
  };

  private readonly onRoomRemoved = ({ roomId }: { roomId: string }) => {
    this.removedDuringFetch.add(roomId);
    this.touched?.delete(roomId);
    if (!this.rooms.delete(roomId)) return;
    this.deps.onRemoved?.(roomId);
    this.changed();
  };

  private readonly onRoomUpdated = ({ room }: { room: Room }) => {
    if (!this.rooms.has(room.id)) {
      this.scheduleRefresh();
      return;
    }
    this.upsertRoom(room);
    this.changed();
  };

  private readonly onActivity = (e: ActivityEvent) => this.arrived(e.roomId, e.seq, e.userId, e.ts);

  private readonly onMessage = (m: Message) => this.arrived(m.roomId, m.seq, m.userId, m.ts, m);

  private readonly onReadState = (e: ReadStateEvent) => {
    const r = this.rooms.get(e.roomId);
    if (!r) return;
    if (e.lastReadSeq < r.lastReadSeq) return;
    r.lastReadSeq = e.lastReadSeq;
    r.unread = Math.max(0, e.unread);
    this.touch(e.roomId);
    this.changed();
  };
}
