import type { Prisma } from '../db/database.ts';
import type { Message, MessageAttachment, ReactionSummary, ReplyExcerpt } from '../schemas.ts';

/** A message as stored: the attachment without its URL, which is signed when sent out. */
export interface StoredMessage extends Omit<Message, 'attachment'> {
  attachment: (Omit<MessageAttachment, 'url'> & { key: string }) | null;
}

/**
 * A message with what it shows: its attachment, its reactions in the order of reacting and its
 * reply parent, as MESSAGE_ROW_JSON (row-json.ts) reads them in one statement.
 */
export type MessageRow = Prisma.MessageGetPayload<{
  include: {
    attachment: { select: { id: true; key: true; mime: true; bytes: true; filename: true } };
    reactions: { select: { userId: true; emoji: true; version: true; emojiSince: true } };
    replyTo: { select: { id: true; seq: true; userId: true; name: true; text: true; deletedAt: true } };
  };
}>;

const EXCERPT_CODE_POINTS = 200;

/** The first 200 code points of a parent as it is now; "" once deleted. */
export const excerpt = (p: {
  id: string;
  seq: number;
  userId: string;
  name: string;
  text: string;
  deletedAt: bigint | null;
}): ReplyExcerpt => ({
  id: p.id,
  seq: p.seq,
  userId: p.userId,
  name: p.name,
  text: p.deletedAt !== null ? '' : [...p.text].slice(0, EXCERPT_CODE_POINTS).join(''),
});

/** Reactions in order of first use of each emoji, users in order of reacting. */
function summarizeReactions(
  rows: { userId: string; emoji: string; version: number; emojiSince: number }[],
): ReactionSummary[] {
  const byEmoji = new Map<string, ReactionSummary & { since: number }>();
  for (const r of [...rows].sort((a, b) => a.version - b.version)) {
    let s = byEmoji.get(r.emoji);
    if (!s) byEmoji.set(r.emoji, (s = { emoji: r.emoji, count: 0, userIds: [], since: r.emojiSince }));
    s.count += 1;
    s.userIds.push(r.userId);
    s.since = Math.min(s.since, r.emojiSince);
  }
  return [...byEmoji.values()].sort((a, b) => a.since - b.since).map(({ since: _since, ...s }) => s);
}

export function fromRow(r: MessageRow): StoredMessage {
  return {
    id: r.id,
    roomId: r.roomId,
    seq: r.seq,
    userId: r.userId,
    name: r.name,
    text: r.text,
    ts: Number(r.ts),
    clientMsgId: r.clientMsgId,
    attachment: r.deletedAt !== null ? null : r.attachment,
    version: r.version,
    editedAt: r.editedAt === null ? null : Number(r.editedAt),
    deletedAt: r.deletedAt === null ? null : Number(r.deletedAt),
    replyTo: r.replyTo ? excerpt(r.replyTo) : null,
    reactions: r.deletedAt !== null ? [] : summarizeReactions(r.reactions),
  };
}
