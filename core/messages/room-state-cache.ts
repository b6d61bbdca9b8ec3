import { excerpt, type MessageRow, type StoredMessage } from './rows.ts';

/** A room's high-water marks and owner: as a batch read them, or as its last commit left them. */
export interface RoomMarks {
  lastSeq: number;
  lastTs: number;
  lastVersion: number;
  ownerId: string | null;
}

/** What a change-only batch decides on, taken from the cache instead of a read. */
export interface CachedState {
  marks: RoomMarks;
  members: Set<string>;
  rows: Map<string, MessageRow>;
}

interface Entry {
  marks: RoomMarks;
  /** Users known to be members (only ever positive: a refusal is always read). */
  members: Set<string>;
  /** Messages as committed, least recently used first. */
  rows: Map<string, MessageRow>;
}

/** What a successful commit of a room tells the cache (see `RoomStateCache.committed`). */
export interface Commit {
  readVersion: number;
  marks: RoomMarks;
  members: Iterable<string>;
  refused?: Iterable<string>;
  rows: Iterable<MessageRow>;
  changed?: Iterable<string>;
}

export interface RoomStateCacheOptions {
  /** Most message rows held per room. */
  rowsPerRoom?: number;
  /** Most message rows held in all (a message's text is at most 4,000 code points). */
  maxRows?: number;
  /** Most members remembered per room. */
  membersPerRoom?: number;
  /** Batches of changes of a room read first, not taken from the cache, once another writer was seen in it. */
  sharedBatches?: number;
}

/** Most rooms remembered as written by another writer (rooms that go quiet must not pile up). */
const MAX_SHARED_ROOMS = 1_024;

/**
 * What this process's writer last committed to each room: its marks, the members that acted,
 * and the recent messages as they are now. A batch of changes (edits, deletes, reactions)
 * whose users and messages are all here is decided from it and written in one statement, the
 * guarded write (batch-sql.ts), which applies only if the room's `last_version`, owner and
 * those memberships are still what the cache says: a stale entry (another instance wrote to
 * the room, a member was removed) costs one refused write and a fresh read, never a wrong
 * write. That holds because every write to a room's messages or reactions raises its
 * `last_version` (batch.ts, send-batch.ts); nothing else changes a message row.
 *
 * An entry is taken out while a commit of its room runs and put back only once the commit
 * succeeded, so a failed or refused write leaves nothing half-applied behind.
 */
export class RoomStateCache {
  private readonly entries = new Map<string, Entry>();
  private readonly rowsPerRoom: number;
  private readonly maxRows: number;
  private readonly membersPerRoom: number;
  private readonly sharedBatches: number;
  /** Rooms another writer was seen in: how many more of their batches skip the cache. */
  private readonly shared = new Map<string, number>();
  private rowCount = 0;

  constructor(options: RoomStateCacheOptions = {}) {
    this.rowsPerRoom = options.rowsPerRoom ?? 256;
    this.maxRows = options.maxRows ?? 2_048;
    this.membersPerRoom = options.membersPerRoom ?? 256;
    this.sharedBatches = options.sharedBatches ?? 16;
  }

  /** Rows held in all (for tests and metrics). */
  get size(): number {
    return this.rowCount;
  }

  /**
   * Takes the room's entry out when it covers every user and message named, else leaves it.
   * The caller commits and then calls `committed` (or nothing: the entry is then gone).
   */
  take(roomId: string, userIds: string[], messageIds: string[]): CachedState | undefined {
    const entry = this.entries.get(roomId);
    if (!entry) return undefined;
    if (!userIds.every((u) => entry.members.has(u)) || !messageIds.every((id) => entry.rows.has(id)))
      return undefined;
    this.drop(roomId);
    return entry;
  }

  /**
   * Whether the room's next batch should skip the cache: another writer was seen in the room
   * lately (a stale entry, or sends that did not follow the cached version). Where instances
   * take turns writing to a room, each entry would be stale by its next change, and trying it
   * costs a refused write before the read: such a room is read first for its next batches, as
   * without the cache. Counts the batch down.
   */
  skips(roomId: string): boolean {
    const left = this.shared.get(roomId);
    if (left === undefined) return false;
    if (left > 1) this.shared.set(roomId, left - 1);
    else this.shared.delete(roomId);
    return true;
  }

  /** Another writer wrote to the room since its entry: the entry goes, and the room is shared a while. */
  writtenElsewhere(roomId: string): void {
    this.drop(roomId);
    this.shared.delete(roomId);
    this.shared.set(roomId, this.sharedBatches);
    if (this.shared.size > MAX_SHARED_ROOMS) this.shared.delete(this.shared.keys().next().value!);
  }

  /** Forgets the room. */
  drop(roomId: string): void {
    const entry = this.entries.get(roomId);
    if (!entry) return;
    this.rowCount -= entry.rows.size;
    this.entries.delete(roomId);
  }

  /**
   * A commit of the room succeeded. It was decided on the room as of `readVersion` (its
   * `last_version` then) and left it with `marks`; `members` are users it found to be
   * members, `refused` users it found not to be, `rows` messages as they are after it (those
   * it changed or read), `changed` the ids it changed (replies to them get the parent's new
   * excerpt). `base` is the entry it was decided on, when it came from `take`. Rows already
   * held are kept only if they were as of `readVersion`: else someone wrote in between.
   */
  committed(roomId: string, commit: Commit, base?: CachedState): void {
    const previous = base ?? this.entries.get(roomId);
    this.drop(roomId);
    const current = previous !== undefined && previous.marks.lastVersion === commit.readVersion;
    const entry: Entry = {
      marks: commit.marks,
      members: previous?.members ?? new Set(),
      rows: current ? previous.rows : new Map(),
    };
    // Copied first: a commit decided on this entry passes its own member set.
    const members = [...commit.members];
    for (const u of commit.refused ?? []) entry.members.delete(u);
    for (const u of members) {
      entry.members.delete(u);
      entry.members.add(u);
    }
    while (entry.members.size > this.membersPerRoom)
      entry.members.delete(entry.members.values().next().value!);
    for (const row of commit.rows) {
      entry.rows.delete(row.id);
      entry.rows.set(row.id, row);
    }
    for (const id of commit.changed ?? []) {
      const parent = entry.rows.get(id);
      if (parent) refreshExcerpts(entry.rows, parent);
    }
    while (entry.rows.size > this.rowsPerRoom) entry.rows.delete(entry.rows.keys().next().value!);
    this.entries.set(roomId, entry);
    this.rowCount += entry.rows.size;
    // Least recently committed rooms go first; the room just committed stays.
    for (const [other, e] of this.entries) {
      if (this.rowCount <= this.maxRows || other === roomId) break;
      this.rowCount -= e.rows.size;
      this.entries.delete(other);
    }
  }

  /**
   * New messages committed by a cross-room statement to the room (in seq order; plain sends:
   * no reply, no attachment). They extend the entry only when they took the versions right
   * after the cached one; otherwise someone else wrote to the room and the entry is dropped.
   */
  appended(roomId: string, messages: readonly PlainSent[]): void {
    const entry = this.entries.get(roomId);
    // Most rooms that get sends are not cached: nothing to build for them.
    if (!entry || messages.length === 0) return;
    if (messages[0]!.version !== entry.marks.lastVersion + 1) return this.writtenElsewhere(roomId);
    const last = messages.at(-1)!;
    this.committed(roomId, {
      readVersion: entry.marks.lastVersion,
      marks: { ...entry.marks, lastSeq: last.seq, lastTs: last.ts, lastVersion: last.version },
      members: messages.map((m) => m.userId),
      rows: messages.map(plainSendRow),
    });
  }
}

/** A cached reply shows its parent's excerpt as the parent is now. */
function refreshExcerpts(rows: Map<string, MessageRow>, parent: MessageRow): void {
  for (const row of rows.values()) {
    if (row.replyToId !== parent.id || !row.replyTo) continue;
    row.replyTo = {
      ...row.replyTo,
      text: excerpt(parent).text,
      deletedAt: parent.deletedAt,
    };
  }
}

/** What a new plain send's row is made of (a stored message or its wire form: the same fields). */
type PlainSent = Pick<
  StoredMessage,
  'id' | 'roomId' | 'seq' | 'userId' | 'name' | 'text' | 'ts' | 'clientMsgId' | 'version'
>;

/** A new plain send (no reply, no attachment, no reactions yet) as a cached row. */
const plainSendRow = (m: PlainSent): MessageRow => ({
  id: m.id,
  roomId: m.roomId,
  seq: m.seq,
  userId: m.userId,
  name: m.name,
  text: m.text,
  ts: BigInt(m.ts),
  clientMsgId: m.clientMsgId,
  attachmentId: null,
  version: m.version,
  editedAt: null,
  deletedAt: null,
  replyToId: null,
  attachment: null,
  reactions: [],
  replyTo: null,
});
