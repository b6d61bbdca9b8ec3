import type { Database } from '../db/database.ts';
import { notFound, type AppError } from '../errors.ts';
import { commitBatch } from './batch.ts';
import { readPage, type PageQuery, type PageRead } from './page-sql.ts';
import type { StoredMessage } from './rows.ts';
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
 * A page of a room's history by keyset on (room_id, seq), (room_id, ts, seq) or
 * (room_id, version): an index scan in either direction, never a sort or an OFFSET, with its
 * attachments, reactions and reply parents, in one statement (page-sql.ts).
 */
export async function readHistory(db: Database, roomId: string, query: PageQuery): Promise<Page> {
  const { messages, hasMore } = await readPage(db, roomId, query);
  return { messages, hasMore };
}

/** A page as the contract's messages, URLs signed only where there are attachments. */
export async function readWireHistory(
  db: Database,
  roomId: string,
  query: PageQuery,
  sign: AttachmentUrlSigner,
): Promise<{ messages: Message[]; hasMore: boolean }> {
  const page = await readPage(db, roomId, query);
  return { messages: await wireMessagesOf(page, sign), hasMore: page.hasMore };
}

async function wireMessagesOf(page: PageRead, sign: AttachmentUrlSigner): Promise<Message[]> {
  // Without attachments to sign, the stored shape is the wire shape (page-sql.ts).
  return page.toSign === 0 ? (page.messages as Message[]) : toWireMessages(page.messages, sign);
}

/**
 * History for a member, as the contract sends it; not_found for anyone else. One statement:
 * the membership and the page together (a non-member's page is not read), see
 * docs/performance.md.
 */
export async function readHistoryForMember(
  db: Database,
  userId: string,
  query: HistoryQuery,
  sign: AttachmentUrlSigner,
): Promise<{ messages: Message[]; hasMore: boolean }> {
  const { roomId, ...rest } = query;
  const page = await readPage(db, roomId, rest, userId);
  if (!page.member) throw notFound('Room not found');
  return { messages: await wireMessagesOf(page, sign), hasMore: page.hasMore };
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
 * `sinceSeq`, or below the first seq of the returned page without it) changed after that
 * version, ascending version: an index scan on (room_id, version), in one statement with the
 * rows' relations.
 */
export async function readJoinChanges(
  db: Database,
  roomId: string,
  firstSeqOfPage: number | undefined,
  opts: { sinceSeq: number | undefined; sinceVersion: number | undefined; limit: number },
  sign: AttachmentUrlSigner,
): Promise<{ messages: Message[]; hasMore: boolean }> {
  if (opts.sinceVersion === undefined) return { messages: [], hasMore: false };
  const throughSeq = opts.sinceSeq ?? (firstSeqOfPage ?? 1) - 1;
  if (throughSeq < 1) return { messages: [], hasMore: false };
  return readWireHistory(
    db,
    roomId,
    { changedAfter: opts.sinceVersion, throughSeq, limit: opts.limit },
    sign,
  );
}
