import { Prisma, runSql, type Database } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import { applyChange, changeWrites, snapshotReactions, type Change, type ChangeState } from './changes.ts';
import { usableAttachments, writeBatch } from './batch-sql.ts';
import { readMessageRows } from './row-json.ts';
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

// Values as the drivers give them (pg: int8 as string; PGlite: int8 as number, bigint past 2^53).
interface RoomLock {
  last_seq: number;
  last_ts: bigint | number | string;
  last_version: number;
  owner_id: string | null;
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

/**
 * Commits a batch of operations to one room in one transaction. The room row is locked
 * first, so seqs (new messages) and versions (every change, new messages included) are
 * assigned gap-free and in commit order, in the order of the operations; a concurrent
 * duplicate send (same user and clientMsgId) always sees the original. Refused operations,
 * duplicates and no-op changes take neither seq nor version. Everything the batch writes,
 * the room's new high-water marks included, goes in one statement.
 */
export async function commitBatch(
  db: Database,
  roomId: string,
  ops: Operation[],
  now: () => number = Date.now,
): Promise<BatchResult> {
  if (ops.length === 0) return { results: [], updated: [], discarded: [] };
  // A raw transaction (not Prisma's interactive one, which costs more CPU than these few
  // statements): a busy pool waits the connect timeout and then fails as `unavailable`, and
  // the statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) bounds each statement.
  return db.transaction(async (tx) => {
    const locked = await runSql<RoomLock>(
      tx,
      Prisma.sql`SELECT last_seq, last_ts, last_version, owner_id FROM rooms WHERE id = ${roomId} FOR UPDATE`,
    );
    const room = locked[0];
    if (!room) return { results: ops.map(forbidden), updated: [], discarded: [] };

    const sends = ops.filter((o): o is Operation & { kind: 'send' } => o.kind === 'send');
    const changes = ops.filter((o): o is Change => o.kind !== 'send');
    // Membership, earlier sends with the same clientMsgIds and the parents replied to, in one
    // round trip, read after the lock so a concurrent duplicate that committed meanwhile is seen.
    const userIds = [...new Set(ops.map((o) => o.userId))];
    const withIds = sends.filter((d) => d.clientMsgId !== null);
    const parentIds = [
      ...new Set(sends.map((d) => d.replyToId).filter((id): id is string => typeof id === 'string')),
    ];
    const [state] = await runSql<{ members: string; existing: string; parents: string }>(
      tx,
      Prisma.sql`SELECT
         (SELECT coalesce(json_agg(rm.user_id), '[]'::json)::text
            FROM room_members rm
           WHERE rm.room_id = ${roomId} AND rm.user_id = ANY(${userIds}::text[])) AS members,
         (SELECT coalesce(json_agg(json_build_object(
                   'id', m.id, 'user_id', m.user_id, 'client_msg_id', m.client_msg_id)), '[]'::json)::text
            FROM messages m
            JOIN unnest(${withIds.map((d) => d.userId)}::text[], ${withIds.map((d) => d.clientMsgId)}::text[]) AS k(user_id, client_msg_id)
              ON m.user_id = k.user_id AND m.client_msg_id = k.client_msg_id
           WHERE m.room_id = ${roomId}) AS existing,
         (SELECT coalesce(json_agg(json_build_object(
                   'id', m.id, 'seq', m.seq, 'user_id', m.user_id, 'name', m.name,
                   'text', left(m.text, 200), 'deleted', m.deleted_at IS NOT NULL)), '[]'::json)::text
            FROM messages m
           WHERE m.room_id = ${roomId} AND m.id = ANY(${parentIds}::text[])) AS parents`,
    );
    const members = new Set(JSON.parse(state!.members) as string[]);
    const existingRows = JSON.parse(state!.existing) as ExistingRow[];
    const existing = new Map<string, string | StoredMessage>(
      existingRows.map((r) => [dedupeKey(r.user_id, r.client_msg_id), r.id]),
    );
    const parents = new Map((JSON.parse(state!.parents) as ParentRow[]).map((p) => [p.id, p]));

    // The messages changes apply to, and the originals of duplicates, with their reactions.
    const targetIds = [...new Set([...changes.map((c) => c.messageId), ...existingRows.map((r) => r.id)])];
    const rows = new Map<string, MessageRow>();
    if (targetIds.length > 0) {
      for (const r of await readMessageRows(tx, targetIds, roomId)) rows.set(r.id, r);
    }
    const before = snapshotReactions(rows.values());

    const usable = await usableAttachments(tx, roomId, sends);

    let seq = room.last_seq;
    let version = room.last_version;
    // One timestamp for the batch, never before the room's last: ts is non-decreasing with seq.
    const ts = Math.max(now(), Number(room.last_ts));
    const changeState: ChangeState = {
      rows,
      ownerId: room.owner_id,
      ts,
      nextVersion: () => ++version,
      firstVersion: room.last_version + 1,
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

    if (inserts.length > 0 || changeState.changed.size > 0) {
      await writeBatch(tx, roomId, inserts, changeWrites(changeState, before), changeState.discarded, {
        seq,
        ts,
        version,
      });
    }
    const updated = [...changeState.changed]
      .map((id) => rows.get(id)!)
      .sort((a, b) => a.version - b.version)
      .map(fromRow);
    return {
      results: results.map((r) => (typeof r === 'function' ? r() : r)),
      updated,
      discarded: changeState.discarded,
    };
  });
}
