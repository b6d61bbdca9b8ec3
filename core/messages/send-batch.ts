import type { SqlTx } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { AppendResult, Draft } from './messages.ts';
import { MESSAGE_ROW_JSON, parseMessageRows } from './row-json.ts';
import { fromRow, type StoredMessage } from './rows.ts';

/**
 * The hot path of the group commit: plain sends (no attachment, no reply) to MANY rooms in ONE
 * statement, one round trip, without an interactive transaction. Everything else (changes,
 * attachments, replies) goes through the room's own commit (batch.ts: a read and a guarded
 * write, or its transaction), which enforces the same rules; this statement keeps every one of
 * them for the sends it takes.
 */

/** A send the cross-room statement can take: no attachment, no reply. */
export interface PlainSend {
  roomId: string;
  userId: string;
  name: string;
  text: string;
  clientMsgId: string | null;
}

export const isPlainSend = (d: Draft): boolean => d.attachmentId === null && !d.replyToId;

/**
 * `retry`: the statement did not take this send's room (locked by another transaction, or
 * changed since the statement's snapshot): nothing of that room was written, and its sends
 * must go through the room's own transaction, which waits for the lock (batch.ts).
 */
export type SendResult = AppendResult | 'retry';

interface Row {
  ord: number;
  status: 'new' | 'stored' | 'again' | 'forbidden' | 'retry';
  first_ord: number;
  seq: number | null;
  version: number | null;
  ts: string | null;
  original: string | null;
}

/**
 * How it keeps the per-room rules of commitBatch in one statement (READ COMMITTED):
 * - The rooms are locked in id order, FOR UPDATE SKIP LOCKED: the statement never waits for a
 *   room (no deadlock, no convoy behind another instance's transaction); a room it cannot lock
 *   now is `retry`. The lock reads the room's latest row (seq, ts and version are current).
 * - The other reads of a statement see its snapshot, taken before the lock. A room whose
 *   `last_version` (raised by every write to its messages) differs between the lock and the
 *   snapshot was written in between: the snapshot may miss a duplicate, so the room is `retry`.
 * - Membership rows are locked FOR KEY SHARE after their room: a member removed after the
 *   snapshot (under the room lock, rooms.ts) is then not found, as a read after the lock would.
 * - Duplicates by (room, user, clientMsgId): against stored rows (answered with the original
 *   as it is now), and within the batch (answered with the first).
 * - Seq and version per room in operation order from the room's last ones; ts = max(now,
 *   room.last_ts) for the whole batch of a room; the rooms' high-water marks raised.
 * Refused sends, duplicates and `retry` take neither seq nor version.
 */
const statement = (ops: string, rooms: string) => `
WITH ops AS MATERIALIZED (
  ${ops}
), locked AS MATERIALIZED (
  SELECT r.id, r.last_seq, r.last_ts, r.last_version
    FROM rooms r
   WHERE ${rooms}
   ORDER BY r.id
     FOR UPDATE SKIP LOCKED
), fresh AS MATERIALIZED (
  SELECT l.id, l.last_seq, l.last_version, greatest(l.last_ts, $8::bigint) AS ts
    FROM locked l
    JOIN rooms s ON s.id = l.id
   WHERE s.last_version = l.last_version
), members AS MATERIALIZED (
  SELECT rm.room_id, rm.user_id
    FROM room_members rm
   WHERE rm.room_id IN (SELECT f.id FROM fresh f)
     AND (rm.room_id, rm.user_id) IN (SELECT o.room_id, o.user_id FROM ops o)
     FOR KEY SHARE OF rm
), judged AS MATERIALIZED (
  SELECT o.ord, o.room_id, o.user_id, o.name, o.text, o.client_msg_id, o.id,
         f.last_seq, f.last_version, f.ts, m.id AS original_id,
         min(o.ord) OVER same_key AS first_ord,
         CASE
           WHEN f.id IS NULL THEN
             CASE WHEN EXISTS (SELECT 1 FROM rooms s WHERE s.id = o.room_id) THEN 'retry' ELSE 'forbidden' END
           WHEN mb.user_id IS NULL THEN 'forbidden'
           WHEN m.id IS NOT NULL THEN 'stored'
           WHEN o.client_msg_id IS NOT NULL AND o.ord > min(o.ord) OVER same_key THEN 'again'
           ELSE 'new'
         END AS status
    FROM ops o
    LEFT JOIN fresh f ON f.id = o.room_id
    LEFT JOIN members mb ON mb.room_id = o.room_id AND mb.user_id = o.user_id
    LEFT JOIN messages m
           ON f.id IS NOT NULL AND m.room_id = o.room_id AND m.user_id = o.user_id
          AND m.client_msg_id = o.client_msg_id
  WINDOW same_key AS (PARTITION BY o.room_id, o.user_id, o.client_msg_id)
), numbered AS MATERIALIZED (
  SELECT j.ord, j.room_id, j.user_id, j.name, j.text, j.client_msg_id, j.id, j.ts,
         (j.last_seq + row_number() OVER in_room)::int AS seq,
         (j.last_version + row_number() OVER in_room)::int AS version
    FROM judged j
   WHERE j.status = 'new'
  WINDOW in_room AS (PARTITION BY j.room_id ORDER BY j.ord)
), inserted AS (
  INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, version)
  SELECT n.id, n.room_id, n.seq, n.user_id, n.name, n.text, n.ts, n.client_msg_id, n.version
    FROM numbered n
  RETURNING 1
), raised AS (
  UPDATE rooms r
     SET last_seq = t.seq, last_version = t.version, last_ts = t.ts
    FROM (SELECT n.room_id, max(n.seq) AS seq, max(n.version) AS version, max(n.ts) AS ts
            FROM numbered n GROUP BY n.room_id) t
   WHERE r.id = t.room_id
  RETURNING 1
)
SELECT j.ord, j.status, j.first_ord, n.seq, n.version, j.ts::text AS ts,
       CASE WHEN j.status = 'stored' THEN
         (SELECT ${MESSAGE_ROW_JSON.text}::text FROM messages m WHERE m.id = j.original_id)
       END AS original
  FROM judged j
  LEFT JOIN numbered n ON n.ord = j.ord
 ORDER BY j.ord`;

/** Any number of sends: one array per column ($1-$6), the rooms' ids ($7), now ($8). */
const BATCH_STATEMENT = statement(
  `SELECT o.ord::int AS ord, o.room_id, o.user_id, o.name, o.text, o.client_msg_id, o.id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         WITH ORDINALITY AS o(room_id, user_id, name, text, client_msg_id, id, ord)`,
  'r.id = ANY($7::text[])',
);

/**
 * One send (the usual case at light load), the same statement with one value per column.
 * Why a second text: Postgres plans a prepared statement afresh at each execution (a
 * "custom plan", ~0.6 ms for this one, more than running it) for as long as its generic plan
 * looks costlier, and with array parameters it always does (it cannot see their lengths and
 * assumes several elements each, for a plan that serves one). With scalars the generic plan
 * costs what a custom one does, so after its fifth execution the server keeps it: 2.4 → 1.6 ms
 * a send, serially at light load (docs/performance.md).
 */
const SINGLE_STATEMENT = statement(
  `SELECT 1 AS ord, $1::text AS room_id, $2::text AS user_id, $3::text AS name, $4::text AS text,
         $5::text AS client_msg_id, $6::text AS id`,
  'r.id = $7::text',
);

const forbidden = (): AppendResult => ({
  ok: false,
  error: new AppError('forbidden', 'Not a member of this room'),
});

/**
 * Commits plain sends to any number of rooms in one statement (see `statement` for the rules);
 * one result per send, in order. Sends of one room take seqs in the order given. Atomic: when
 * it throws, nothing was written.
 */
export async function commitSends(
  db: SqlTx,
  sends: PlainSend[],
  now: () => number = Date.now,
): Promise<SendResult[]> {
  if (sends.length === 0) return [];
  const ids = sends.map(() => newId());
  const one = sends.length === 1 ? sends[0]! : undefined;
  // Each prepared once per connection (see SINGLE_STATEMENT for why there are two).
  const rows = one
    ? await db.query<Row>(
        SINGLE_STATEMENT,
        [one.roomId, one.userId, one.name, one.text, one.clientMsgId, ids[0], one.roomId, Math.trunc(now())],
        { name: 'parley_commit_send' },
      )
    : await db.query<Row>(
        BATCH_STATEMENT,
        [
          sends.map((s) => s.roomId),
          sends.map((s) => s.userId),
          sends.map((s) => s.name),
          sends.map((s) => s.text),
          sends.map((s) => s.clientMsgId),
          ids,
          [...new Set(sends.map((s) => s.roomId))],
          Math.trunc(now()),
        ],
        { name: 'parley_commit_sends' },
      );
  const results: SendResult[] = new Array<SendResult>(sends.length);
  const created: (StoredMessage | undefined)[] = new Array<StoredMessage | undefined>(sends.length);
  for (const r of rows) {
    const i = Number(r.ord) - 1;
    const s = sends[i]!;
    switch (r.status) {
      case 'new': {
        const message: StoredMessage = {
          id: ids[i]!,
          roomId: s.roomId,
          seq: Number(r.seq),
          userId: s.userId,
          name: s.name,
          text: s.text,
          ts: Number(r.ts),
          clientMsgId: s.clientMsgId,
          attachment: null,
          version: Number(r.version),
          editedAt: null,
          deletedAt: null,
          replyTo: null,
          reactions: [],
        };
        created[i] = message;
        results[i] = { ok: true, message, duplicate: false };
        break;
      }
      case 'stored':
        results[i] = { ok: true, message: fromRow(parseMessageRows(`[${r.original}]`)[0]!), duplicate: true };
        break;
      case 'forbidden':
        results[i] = forbidden();
        break;
      case 'retry':
        results[i] = 'retry';
        break;
      case 'again':
        // Filled below: the first send with this key comes earlier in the rows (ORDER BY ord).
        break;
    }
  }
  for (const r of rows) {
    if (r.status !== 'again') continue;
    const original = created[Number(r.first_ord) - 1];
    if (!original) throw new Error('cross-room commit: a duplicate within the batch lost its original');
    results[Number(r.ord) - 1] = { ok: true, message: original, duplicate: true };
  }
  if (rows.length !== sends.length || Array.from(results).some((r) => r === undefined))
    throw new Error(`cross-room commit: ${rows.length} outcomes for ${sends.length} sends`);
  return results;
}
