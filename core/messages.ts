import type { Database, Prisma } from './db/database.ts';
import { AppError } from './errors.ts';
import { newId } from './ids.ts';
import { requireMember } from './rooms.ts';
import type { HistoryQuery, Message, MessageAttachment } from './schemas.ts';

/** A message as stored: the attachment without its URL, which is signed when sent out. */
export interface StoredMessage extends Omit<Message, 'attachment'> {
  attachment: (Omit<MessageAttachment, 'url'> & { key: string }) | null;
}

/** Makes a fresh signed GET URL for an attachment's object. */
export type AttachmentUrlSigner = (attachment: { key: string; mime: string; filename: string }) => Promise<string>;

export async function toWireMessages(messages: StoredMessage[], sign: AttachmentUrlSigner): Promise<Message[]> {
  return Promise.all(messages.map((m) => toWireMessage(m, sign)));
}

export async function toWireMessage(m: StoredMessage, sign: AttachmentUrlSigner): Promise<Message> {
  if (!m.attachment) return { ...m, attachment: null };
  const { key: _key, ...rest } = m.attachment;
  return { ...m, attachment: { ...rest, url: await sign(m.attachment) } };
}

const messageInclude = {
  attachment: { select: { id: true, key: true, mime: true, bytes: true, filename: true } },
} as const;

type MessageRow = Prisma.MessageGetPayload<{ include: typeof messageInclude }>;

function fromRow(r: MessageRow): StoredMessage {
  return {
    id: r.id,
    roomId: r.roomId,
    seq: r.seq,
    userId: r.userId,
    name: r.name,
    text: r.text,
    ts: Number(r.ts),
    clientMsgId: r.clientMsgId,
    attachment: r.attachment,
  };
}

export interface Page {
  messages: StoredMessage[];
  hasMore: boolean;
}

/**
 * A page of a room's history by keyset on (room_id, seq) or (room_id, ts, seq): an index
 * scan in either direction, never a sort or an OFFSET.
 */
export async function readHistory(
  db: Database,
  roomId: string,
  query: Omit<HistoryQuery, 'roomId'>,
): Promise<Page> {
  const take = query.limit + 1;
  let rows: MessageRow[];
  if (query.afterSeq !== undefined) {
    rows = await db.prisma.message.findMany({
      where: { roomId, seq: { gt: query.afterSeq } },
      orderBy: { seq: 'asc' },
      take,
      include: messageInclude,
    });
  } else if (query.beforeTs !== undefined) {
    rows = await db.prisma.message.findMany({
      where: { roomId, ts: { lt: BigInt(query.beforeTs) } },
      orderBy: [{ ts: 'desc' }, { seq: 'desc' }],
      take,
      include: messageInclude,
    });
  } else {
    rows = await db.prisma.message.findMany({
      where: { roomId, ...(query.beforeSeq !== undefined ? { seq: { lt: query.beforeSeq } } : {}) },
      orderBy: { seq: 'desc' },
      take,
      include: messageInclude,
    });
  }
  const hasMore = rows.length > query.limit;
  const page = rows.slice(0, query.limit).map(fromRow);
  if (query.afterSeq === undefined) page.reverse();
  return { messages: page, hasMore };
}

/** History for a member; not_found for anyone else. */
export async function readHistoryForMember(db: Database, userId: string, query: HistoryQuery): Promise<Page> {
  // Both queries at once, one round trip less per page (see docs/performance.md); a
  // non-member's page is read but never returned, and the answer is the same not_found.
  const [, page] = await Promise.all([
    requireMember(db, query.roomId, userId),
    readHistory(db, query.roomId, query),
  ]);
  return page;
}

export interface Draft {
  userId: string;
  name: string;
  text: string;
  clientMsgId: string | null;
  attachmentId: string | null;
}

export type AppendResult =
  | { ok: true; message: StoredMessage; duplicate: boolean }
  | { ok: false; error: AppError };

interface RoomLock {
  last_seq: number;
  last_ts: bigint | number | string;
}

interface ExistingRow {
  id: string;
  seq: number;
  user_id: string;
  name: string;
  text: string;
  /** Text: a bigint survives JSON exactly that way. */
  ts: string;
  client_msg_id: string | null;
  attachment_id: string | null;
}

interface AttachmentRow {
  id: string;
  user_id: string;
  key: string;
  mime: string;
  bytes: number;
  filename: string;
}

// Prisma's defaults (2 s to get a connection, 5 s to finish) turn a busy pool into `internal`
// errors; the statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) still bounds each query.
const TRANSACTION_LIMITS = { maxWait: 10_000, timeout: 30_000 };

const dedupeKey = (userId: string, clientMsgId: string) => `${userId}\u0000${clientMsgId}`;

/**
 * Commits a batch of messages to one room in one transaction, and returns one result per
 * draft in order. The room row is locked first, so seqs are assigned gap-free and in
 * commit order, and a concurrent duplicate (same user and clientMsgId) always sees the
 * original. Duplicates, non-members and invalid attachments take no seq.
 */
export async function appendMessages(
  db: Database,
  roomId: string,
  drafts: Draft[],
  now: () => number = Date.now,
): Promise<AppendResult[]> {
  if (drafts.length === 0) return [];
  return db.prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRawUnsafe<RoomLock[]>(
      'SELECT last_seq, last_ts FROM rooms WHERE id = $1 FOR UPDATE',
      roomId,
    );
    const room = locked[0];
    const forbidden = () => ({ ok: false as const, error: new AppError('forbidden', 'Not a member of this room') });
    if (!room) return drafts.map(forbidden);

    // Membership and earlier sends with the same clientMsgIds in one round trip, read after
    // the lock so a concurrent duplicate that committed while we waited is seen.
    const userIds = [...new Set(drafts.map((d) => d.userId))];
    const withIds = drafts.filter((d) => d.clientMsgId !== null);
    const [state] = await tx.$queryRawUnsafe<{ members: string; existing: string }[]>(
      `SELECT
         (SELECT coalesce(json_agg(rm.user_id), '[]'::json)::text
            FROM room_members rm
           WHERE rm.room_id = $1 AND rm.user_id = ANY($2::text[])) AS members,
         (SELECT coalesce(json_agg(json_build_object(
                   'id', m.id, 'seq', m.seq, 'user_id', m.user_id, 'name', m.name, 'text', m.text,
                   'ts', m.ts::text, 'client_msg_id', m.client_msg_id, 'attachment_id', m.attachment_id)), '[]'::json)::text
            FROM messages m
            JOIN unnest($3::text[], $4::text[]) AS k(user_id, client_msg_id)
              ON m.user_id = k.user_id AND m.client_msg_id = k.client_msg_id
           WHERE m.room_id = $1) AS existing`,
      roomId,
      userIds,
      withIds.map((d) => d.userId),
      withIds.map((d) => d.clientMsgId),
    );
    const members = new Set(JSON.parse(state!.members) as string[]);
    const rows = JSON.parse(state!.existing) as ExistingRow[];
    const existing = new Map<string, StoredMessage>();
    if (rows.length > 0) {
      const attachments = await loadAttachments(tx, rows.map((r) => r.attachment_id).filter((a): a is string => a !== null));
      for (const r of rows) {
        existing.set(dedupeKey(r.user_id, r.client_msg_id!), {
          id: r.id,
          roomId,
          seq: r.seq,
          userId: r.user_id,
          name: r.name,
          text: r.text,
          ts: Number(r.ts),
          clientMsgId: r.client_msg_id,
          attachment: r.attachment_id ? toStoredAttachment(attachments.get(r.attachment_id)!) : null,
        });
      }
    }

    const wanted = drafts.map((d) => d.attachmentId).filter((a): a is string => a !== null);
    const usable = new Map<string, AttachmentRow>();
    if (wanted.length > 0) {
      const rows = await tx.$queryRawUnsafe<AttachmentRow[]>(
        `SELECT a.id, a.user_id, a.key, a.mime, a.bytes, a.filename
           FROM attachments a
          WHERE a.id = ANY($1::text[]) AND a.room_id = $2 AND a.completed_at IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.attachment_id = a.id)
          FOR UPDATE`,
        wanted,
        roomId,
      );
      for (const r of rows) usable.set(r.id, r);
    }

    let seq = room.last_seq;
    // One timestamp for the batch, never before the room's last: ts is non-decreasing with seq.
    const ts = Math.max(now(), Number(room.last_ts));
    const results: AppendResult[] = [];
    const inserts: StoredMessage[] = [];
    for (const d of drafts) {
      if (!members.has(d.userId)) {
        results.push(forbidden());
        continue;
      }
      const key = d.clientMsgId !== null ? dedupeKey(d.userId, d.clientMsgId) : null;
      const original = key !== null ? existing.get(key) : undefined;
      if (original) {
        results.push({ ok: true, message: original, duplicate: true });
        continue;
      }
      let attachment: StoredMessage['attachment'] = null;
      if (d.attachmentId !== null) {
        const a = usable.get(d.attachmentId);
        if (!a || a.user_id !== d.userId) {
          results.push({
            ok: false,
            error: new AppError('attachment_invalid', 'Attachment not found, not yours, not completed or already sent'),
          });
          continue;
        }
        usable.delete(d.attachmentId); // one message per attachment, within the batch too
        attachment = toStoredAttachment(a);
      }
      seq += 1;
      const message: StoredMessage = {
        id: newId(),
        roomId,
        seq,
        userId: d.userId,
        name: d.name,
        text: d.text,
        ts,
        clientMsgId: d.clientMsgId,
        attachment,
      };
      inserts.push(message);
      if (key !== null) existing.set(key, message);
      results.push({ ok: true, message, duplicate: false });
    }

    if (inserts.length > 0) {
      // The rows and the room's new high-water mark in one statement (one round trip).
      await tx.$executeRawUnsafe(
        `WITH inserted AS (
           INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id)
           SELECT id, $1, seq, user_id, name, text, ts, client_msg_id, attachment_id
             FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[])
               AS t(id, seq, user_id, name, text, ts, client_msg_id, attachment_id)
           RETURNING 1
         )
         UPDATE rooms SET last_seq = $10, last_ts = $11 WHERE id = $1`,
        roomId,
        inserts.map((m) => m.id),
        inserts.map((m) => m.seq),
        inserts.map((m) => m.userId),
        inserts.map((m) => m.name),
        inserts.map((m) => m.text),
        inserts.map((m) => String(m.ts)),
        inserts.map((m) => m.clientMsgId),
        inserts.map((m) => m.attachment?.id ?? null),
        seq,
        BigInt(ts),
      );
    }
    return results;
  }, TRANSACTION_LIMITS);
}

async function loadAttachments(
  tx: Prisma.TransactionClient,
  ids: string[],
): Promise<Map<string, AttachmentRow>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.$queryRawUnsafe<AttachmentRow[]>(
    'SELECT id, user_id, key, mime, bytes, filename FROM attachments WHERE id = ANY($1::text[])',
    ids,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

const toStoredAttachment = (a: AttachmentRow): NonNullable<StoredMessage['attachment']> => ({
  id: a.id,
  key: a.key,
  mime: a.mime,
  bytes: Number(a.bytes),
  filename: a.filename,
});
