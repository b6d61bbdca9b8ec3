import type { Database } from '../db/database.ts';
import type { AppError } from '../errors.ts';
import { commitBatch } from './batch.ts';
import { requireMember } from '../rooms/rooms.ts';
import { fromRow, messageInclude, type MessageRow, type StoredMessage } from './rows.ts';
import type { HistoryQuery, Message } from '../schemas.ts';

export type { StoredMessage } from './rows.ts';

/** Makes a fresh signed GET URL for an attachment's object. */
export type AttachmentUrlSigner = (attachment: {
  key: string;
  mime: string;
  filename: string;
}) => Promise<string>;

export async function toWireMessages(
  messages: StoredMessage[],
  sign: AttachmentUrlSigner,
): Promise<Message[]> {
  return Promise.all(messages.map((m) => toWireMessage(m, sign)));
}

export async function toWireMessage(m: StoredMessage, sign: AttachmentUrlSigner): Promise<Message> {
  // A tombstone never signs a URL, whatever a stale row still says.
  if (!m.attachment || m.deletedAt !== null) return { ...m, attachment: null };
  const { key: _key, ...rest } = m.attachment;
  return { ...m, attachment: { ...rest, url: await sign(m.attachment) } };
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
  if (query.changedAfter !== undefined) {
    // Every change once, in version order: an index scan on (room_id, version).
    rows = await db.prisma.message.findMany({
      where: { roomId, version: { gt: query.changedAfter } },
      orderBy: { version: 'asc' },
      take,
      include: messageInclude,
    });
  } else if (query.afterSeq !== undefined) {
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
  if (query.afterSeq === undefined && query.changedAfter === undefined) page.reverse();
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
  /** The message this one replies to (same room, not deleted), else `reply_invalid`. */
  replyToId?: string | null;
}

export type AppendResult =
  { ok: true; message: StoredMessage; duplicate: boolean } | { ok: false; error: AppError };

/**
 * Commits a batch of messages to one room in one transaction, and returns one result per
 * draft in order (see commitBatch, which also takes edits, deletes and reactions).
 */
export async function appendMessages(
  db: Database,
  roomId: string,
  drafts: Draft[],
  now: () => number = Date.now,
): Promise<AppendResult[]> {
  const { results } = await commitBatch(
    db,
    roomId,
    drafts.map((d) => ({ kind: 'send' as const, ...d })),
    now,
  );
  return results as AppendResult[];
}

/**
 * The `changes` of a join with `sinceVersion`: messages the client already holds (seq up to
 * `sinceSeq`, or below the returned page without it) changed after that version, ascending
 * version: an index scan on (room_id, version).
 */
export async function readJoinChanges(
  db: Database,
  roomId: string,
  page: Page,
  opts: { sinceSeq: number | undefined; sinceVersion: number | undefined; limit: number },
): Promise<Page> {
  if (opts.sinceVersion === undefined) return { messages: [], hasMore: false };
  const throughSeq = opts.sinceSeq ?? (page.messages[0]?.seq ?? 1) - 1;
  if (throughSeq < 1) return { messages: [], hasMore: false };
  const rows = await db.prisma.message.findMany({
    where: { roomId, seq: { lte: throughSeq }, version: { gt: opts.sinceVersion } },
    orderBy: { version: 'asc' },
    take: opts.limit + 1,
    include: messageInclude,
  });
  return { messages: rows.slice(0, opts.limit).map(fromRow), hasMore: rows.length > opts.limit };
}
