import { Prisma, runSql, type Database, type SqlTx } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { applyChange, changeWrites, snapshotReactions, type Change, type ChangeState } from './changes.ts';
import { usableAttachments, writeBatch, type AttachmentRow, type BatchWrite } from './batch-sql.ts';
import type { Commit, RoomMarks, RoomStateCache } from './room-state-cache.ts';
import { roomStateCacheLookups } from '../metrics.ts';
import { MESSAGE_ROW_JSON, parseMessageRows } from './row-json.ts';
import { excerpt, fromRow, type MessageRow, type StoredMessage } from './rows.ts';
import type { AppendResult, Draft } from './messages.ts';

/** One unit of a room's group commit: a new message, or a change to an existing one. */
export type Operation = ({ kind: 'send' } & Draft) | Change;

/** A change's outcome: the message as it is after the batch, and whether this change altered it. */
type ChangeResult = { ok: true; message: StoredMessage; changed: boolean } | { ok: false; error: AppError };
type OperationResult = AppendResult | ChangeResult;

export interface BatchResult {
  /** One per operation, in order. */
  results: OperationResult[];
  /** Messages changed (not created) by the batch, as they are now, in version order. */
  updated: StoredMessage[];
  /** Attachments of messages deleted by the batch: their objects are removed after the commit. */
  discarded: { id: string; key: string }[];
}

interface ExistingRow {
  id: string;
  user_id: string;
  client_msg_id: string;
}

interface ParentRow {
  id: string;
  seq: number;
  user_id: string;
  name: string;
  text: string;
  deleted: boolean;
}

const dedupeKey = (userId: string, clientMsgId: string) => `${userId}\u0000${clientMsgId}`;
const forbidden = () => ({
  ok: false as const,
  error: new AppError('forbidden', 'Not a member of this room'),
});

/** What a batch reads before it decides: the room, memberships, duplicates, parents, targets. */
interface BatchState {
  room: RoomMarks | null;
  members: Set<string>;
  existingRows: ExistingRow[];
  parents: Map<string, ParentRow>;
  rows: Map<string, MessageRow>;
}

/**
 * The room's high-water marks and owner, the batch's users that are members, earlier sends
 * with the same clientMsgIds, the parents replied to, and the messages the changes apply to
 * (with the originals of duplicates) with their relations: one statement, one round trip.
 */
async function readState(session: SqlTx, roomId: string, ops: Operation[]): Promise<BatchState> {
  const sends = ops.filter((o): o is Operation & { kind: 'send' } => o.kind === 'send');
  const userIds = [...new Set(ops.map((o) => o.userId))];
  const withIds = sends.filter((d) => d.clientMsgId !== null);
  const parentIds = [
    ...new Set(sends.map((d) => d.replyToId).filter((id): id is string => typeof id === 'string')),
  ];
  const changeIds = [...new Set(ops.flatMap((o) => (o.kind === 'send' ? [] : [o.messageId])))];
  const [state] = await runSql<{
    room: string | null;
    members: string;
    existing: string;
    parents: string;
    rows: string;
  }>(
    session,
    Prisma.sql`WITH existing AS MATERIALIZED (
         SELECT m.id, m.user_id, m.client_msg_id
           FROM messages m
           JOIN unnest((SELECT ${withIds.map((d) => d.userId)}::text[]), (SELECT ${withIds.map((d) => d.clientMsgId)}::text[])) AS k(user_id, client_msg_id)
             ON m.user_id = k.user_id AND m.client_msg_id = k.client_msg_id
          WHERE m.room_id = ${roomId}
       )
       SELECT
         (SELECT json_build_object('lastSeq', r.last_seq, 'lastTs', r.last_ts::text,
                                   'lastVersion', r.last_version, 'ownerId', r.owner_id)::text
            FROM rooms r WHERE r.id = ${roomId}) AS room,
         (SELECT coalesce(json_agg(rm.user_id), '[]'::json)::text
            FROM room_members rm
           WHERE rm.room_id = ${roomId} AND rm.user_id = ANY((SELECT ${userIds}::text[])::text[])) AS members,
         (SELECT coalesce(json_agg(json_build_object(
                   'id', e.id, 'user_id', e.user_id, 'client_msg_id', e.client_msg_id)), '[]'::json)::text
            FROM existing e) AS existing,
         (SELECT coalesce(json_agg(json_build_object(
                   'id', m.id, 'seq', m.seq, 'user_id', m.user_id, 'name', m.name,
                   'text', left(m.text, 200), 'deleted', m.deleted_at IS NOT NULL)), '[]'::json)::text
            FROM messages m
           WHERE m.room_id = ${roomId} AND m.id = ANY((SELECT ${parentIds}::text[])::text[])) AS parents,
         (SELECT coalesce(json_agg(${MESSAGE_ROW_JSON}), '[]'::json)::text
            FROM messages m
           WHERE m.room_id = ${roomId}
             AND m.id IN (SELECT unnest((SELECT ${changeIds}::text[])) UNION ALL SELECT e.id FROM existing e)) AS rows`,
    // Prepared once per connection: planning it costs about as much as running it. Each array
    // is read through a scalar subquery, `(SELECT $n::text[])`, so that no plan sees its length:
    // a custom plan that did always looked cheaper than the generic one (which assumes about
    // 10 elements an array), and Postgres then planned afresh at every execution. The changed rows are
    // found by id (`IN (… UNION ALL …)`): `m.id = ANY(…) OR m.id IN (…)` read the whole room.
    { name: 'parley_batch_state' },
  );
  // last_ts as text: an int8 is exact as text in JSON, and epoch milliseconds are exact in a double.
  const room =
    state!.room === null ? null : (JSON.parse(state!.room) as Omit<RoomMarks, 'lastTs'> & { lastTs: string });
  return {
    room: room && { ...room, lastTs: Number(room.lastTs) },
    members: new Set(JSON.parse(state!.members) as string[]),
    existingRows: JSON.parse(state!.existing) as ExistingRow[],
    parents: new Map((JSON.parse(state!.parents) as ParentRow[]).map((p) => [p.id, p])),
    rows: new Map(parseMessageRows(state!.rows).map((r) => [r.id, r])),
  };
}

export interface CommitOptions {
  /**
   * Try the two-round-trip path first (default): read without a lock, decide, then write in
   * one statement that locks the room and writes only if nothing changed since the read
   * (see writeBatch's guard); else, or when false, the room's own transaction.
   */
  optimistic?: boolean;
  /**
   * The room's state as this process last committed it: a batch of changes only, whose users
   * and messages it holds, skips the read (one round trip: the guarded write). It is kept up
   * to date with every commit made through here.
   */
  cache?: RoomStateCache;
}

/**
 * Commits a batch of operations to one room, atomically. Seqs (new messages) and versions
 * (every change, new messages included) are assigned gap-free and in commit order, in the
 * order of the operations; a concurrent duplicate send (same user and clientMsgId) always
 * sees the original. Refused operations, duplicates and no-op changes take neither seq nor
 * version. Everything the batch writes, the room's new high-water marks included, goes in
 * one statement.
 *
 * Three ways to the same outcome:
 * - From the cache (`options.cache`, a batch of changes only, whose users and messages the
 *   cache holds as this process last committed them): decided in memory, then the guarded
 *   write below; one round trip. A write that finds the room changed costs a read and the
 *   optimistic way.
 * - Optimistic (batches without attachments): one statement reads the state, the batch is
 *   decided in memory, one statement writes it under the room's lock if the room's
 *   `last_version` (raised by every write to its messages), its owner and the members relied
 *   on are as read; no BEGIN/COMMIT. A batch that writes nothing (refusals, no-ops,
 *   duplicates) answers from the read alone. `retried` tells that the write found the room
 *   taken or changed and the batch went through the transaction instead.
 * - The room's transaction: BEGIN, the room locked FOR UPDATE, the state read after the lock,
 *   the attachments locked, the write, COMMIT.
 */
export async function commitBatch(
  db: Database,
  roomId: string,
  ops: Operation[],
  now: () => number = Date.now,
  options: CommitOptions = {},
): Promise<BatchResult & { retried?: boolean }> {
  if (ops.length === 0) return { results: [], updated: [], discarded: [] };
  // Attachments are locked by the transaction (their rows change outside the room's lock).
  const optimistic =
    (options.optimistic ?? true) && ops.every((o) => o.kind !== 'send' || o.attachmentId === null);
  const cache = options.cache;
  if (optimistic && cache) {
    const decided = await commitFromCache(db, cache, roomId, ops, now);
    if (decided) return decided;
  }
  if (optimistic) {
    const state = await readState(db, roomId, ops);
    if (!state.room) {
      cache?.drop(roomId);
      return { results: ops.map(forbidden), updated: [], discarded: [] };
    }
    const plan = decide(roomId, ops, state, new Map(), now);
    const room = state.room;
    const written =
      !plan.write ||
      (await writeBatch(db, roomId, plan.write, {
        version: room.lastVersion,
        ownerId: room.ownerId,
        members: [...new Set(ops.map((o) => o.userId).filter((u) => state.members.has(u)))],
      }));
    if (written) {
      cache?.committed(roomId, afterCommit(ops, state, plan));
      return plan.result;
    }
  }
  // A raw transaction (not Prisma's interactive one, which costs more CPU than these few
  // statements): a busy pool waits the connect timeout and then fails as `unavailable`, and
  // the statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) bounds each statement.
  const refused = { results: ops.map(forbidden), updated: [], discarded: [] };
  const done = await db.transaction(async (tx): Promise<{ result: BatchResult; commit: Commit | null }> => {
    const locked = await runSql(tx, Prisma.sql`SELECT 1 FROM rooms WHERE id = ${roomId} FOR UPDATE`);
    if (locked.length === 0) return { result: refused, commit: null };
    // Read after the lock, so a concurrent duplicate that committed meanwhile is seen.
    const state = await readState(tx, roomId, ops);
    if (!state.room) return { result: refused, commit: null };
    const sends = ops.filter((o): o is Operation & { kind: 'send' } => o.kind === 'send');
    const usable = await usableAttachments(tx, roomId, sends);
    const plan = decide(roomId, ops, state, usable, now);
    if (plan.write) await writeBatch(tx, roomId, plan.write);
    return { result: plan.result, commit: afterCommit(ops, state, plan) };
  });
  // Only once committed. A transaction that failed leaves the cache as it was: its rows were
  // its own read, not the cache's.
  if (done.commit) cache?.committed(roomId, done.commit);
  else cache?.drop(roomId);
  return optimistic ? { ...done.result, retried: true } : done.result;
}

/**
 * A batch of changes only, decided on the cached state and written by the guarded write: one
 * round trip. Undefined when the cache does not hold what the batch needs, or the write found
 * the room changed since (the entry is then gone, and the caller reads the room afresh).
 */
async function commitFromCache(
  db: Database,
  cache: RoomStateCache,
  roomId: string,
  ops: Operation[],
  now: () => number,
): Promise<BatchResult | undefined> {
  if (ops.some((o) => o.kind === 'send')) return undefined;
  const userIds = [...new Set(ops.map((o) => o.userId))];
  const messageIds = [...new Set(ops.map((o) => (o as Change).messageId))];
  if (cache.skips(roomId)) {
    roomStateCacheLookups.inc({ outcome: 'shared' });
    return undefined;
  }
  const cached = cache.take(roomId, userIds, messageIds);
  if (!cached) {
    roomStateCacheLookups.inc({ outcome: 'miss' });
    return undefined;
  }
  const { marks } = cached;
  const state: BatchState = {
    room: marks,
    members: cached.members,
    existingRows: [],
    parents: new Map(),
    rows: new Map(messageIds.map((id) => [id, cached.rows.get(id)!])),
  };
  const plan = decide(roomId, ops, state, new Map(), now);
  const written =
    !plan.write ||
    (await writeBatch(db, roomId, plan.write, {
      version: marks.lastVersion,
      ownerId: marks.ownerId,
      members: userIds,
    }));
  roomStateCacheLookups.inc({ outcome: written ? 'hit' : 'stale' });
  if (!written) {
    cache.writtenElsewhere(roomId);
    return undefined;
  }
  cache.committed(roomId, afterCommit(ops, state, plan), cached);
  return plan.result;
}

/** What a committed batch tells the room-state cache: the room as the batch left it. */
function afterCommit(ops: Operation[], state: BatchState, plan: Plan): Commit {
  const room = state.room!;
  const last = plan.write?.last;
  return {
    readVersion: room.lastVersion,
    marks: {
      lastSeq: last?.seq ?? room.lastSeq,
      lastTs: last?.ts ?? room.lastTs,
      lastVersion: last?.version ?? room.lastVersion,
      ownerId: room.ownerId,
    },
    members: state.members,
    refused: ops.map((o) => o.userId).filter((u) => !state.members.has(u)),
    rows: state.rows.values(),
    changed: plan.result.updated.map((m) => m.id),
  };
}

/** What a batch decided: its answers, and what to write (nothing for refusals and no-ops). */
interface Plan {
  result: BatchResult;
  write: BatchWrite | null;
}

/** Applies the operations, in order, to the state read; writes nothing. */
function decide(
  roomId: string,
  ops: Operation[],
  state: BatchState,
  usable: Map<string, AttachmentRow>,
  now: () => number,
): Plan {
  const room = state.room!;
  const { members, existingRows, parents, rows } = state;
  const existing = new Map<string, string | StoredMessage>(
    existingRows.map((r) => [dedupeKey(r.user_id, r.client_msg_id), r.id]),
  );
  const before = snapshotReactions(rows.values());

  let seq = room.lastSeq;
  let version = room.lastVersion;
  // One timestamp for the batch, never before the room's last: ts is non-decreasing with seq.
  const ts = Math.max(now(), room.lastTs);
  const changeState: ChangeState = {
    rows,
    ownerId: room.ownerId,
    ts,
    nextVersion: () => ++version,
    firstVersion: room.lastVersion + 1,
    changed: new Set(),
    discarded: [],
  };
  // Results that show a message's final state are filled in once every operation applied.
  const results: (OperationResult | (() => OperationResult))[] = [];
  const inserts: (StoredMessage & { replyToId: string | null })[] = [];
  for (const op of ops) {
    if (!members.has(op.userId)) {
      results.push(forbidden());
      continue;
    }
    if (op.kind !== 'send') {
      const outcome = applyChange(changeState, op);
      if (!outcome.ok) {
        results.push(outcome);
        continue;
      }
      results.push(() => ({
        ok: true,
        message: fromRow(rows.get(op.messageId)!),
        changed: outcome.changed,
      }));
      continue;
    }
    const d = op;
    const key = d.clientMsgId !== null ? dedupeKey(d.userId, d.clientMsgId) : null;
    const original = key !== null ? existing.get(key) : undefined;
    if (original !== undefined) {
      results.push(
        typeof original === 'string'
          ? () => ({ ok: true, message: fromRow(rows.get(original)!), duplicate: true })
          : { ok: true, message: original, duplicate: true },
      );
      continue;
    }
    let attachment: StoredMessage['attachment'] = null;
    if (d.attachmentId !== null) {
      const a = usable.get(d.attachmentId);
      if (!a || a.user_id !== d.userId) {
        results.push({
          ok: false,
          error: new AppError(
            'attachment_invalid',
            'Attachment not found, not yours, not completed or already sent',
          ),
        });
        continue;
      }
      usable.delete(d.attachmentId); // one message per attachment, within the batch too
      attachment = { id: a.id, key: a.key, mime: a.mime, bytes: Number(a.bytes), filename: a.filename };
    }
    let replyTo: StoredMessage['replyTo'] = null;
    if (typeof d.replyToId === 'string') {
      const p = parents.get(d.replyToId);
      if (!p || p.deleted) {
        results.push({
          ok: false,
          error: new AppError('reply_invalid', 'The message replied to is not in this room or was deleted'),
        });
        continue;
      }
      replyTo = excerpt({
        id: p.id,
        seq: p.seq,
        userId: p.user_id,
        name: p.name,
        text: p.text,
        deletedAt: null,
      });
    }
    seq += 1;
    const message = {
      id: newId(),
      roomId,
      seq,
      userId: d.userId,
      name: d.name,
      text: d.text,
      ts,
      clientMsgId: d.clientMsgId,
      attachment,
      version: ++version,
      editedAt: null,
      deletedAt: null,
      replyTo,
      reactions: [],
      replyToId: replyTo?.id ?? null,
    };
    inserts.push(message);
    if (key !== null) existing.set(key, message);
    const { replyToId: _replyToId, ...stored } = message;
    results.push({ ok: true, message: stored, duplicate: false });
  }

  const write =
    inserts.length > 0 || changeState.changed.size > 0
      ? {
          inserts,
          changes: changeWrites(changeState, before),
          discarded: changeState.discarded,
          last: { seq, ts, version },
        }
      : null;
  const updated = [...changeState.changed]
    .map((id) => rows.get(id)!)
    .sort((a, b) => a.version - b.version)
    .map(fromRow);
  return {
    result: {
      results: results.map((r) => (typeof r === 'function' ? r() : r)),
      updated,
      discarded: changeState.discarded,
    },
    write,
  };
}
