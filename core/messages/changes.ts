import { AppError, invalid, notFound } from '../errors.ts';
import type { MessageRow } from './rows.ts';

/**
 * Edits, deletes and reactions, applied in memory to the locked room's message rows by the
 * batch commit (core/messages/batch.ts), which then writes every change in one statement.
 * Each real change takes the room's next version; a no-op (same text, a second delete, a
 * reaction already there or already gone) takes none and answers the message as it is.
 */

export type Change =
  | { kind: 'edit'; userId: string; messageId: string; text: string }
  | { kind: 'delete'; userId: string; messageId: string }
  | { kind: 'react'; userId: string; messageId: string; emoji: string; on: boolean };

/** At most this many distinct emoji on one message (the contract's limit). */
const MAX_DISTINCT_EMOJI = 20;

export interface ChangeState {
  /** The batch's target messages, by id; mutated in place as changes apply. */
  rows: Map<string, MessageRow>;
  /** The room's owner (its creator until roles land): may delete any message. */
  ownerId: string | null;
  /** The batch's timestamp (ms), for editedAt and deletedAt. */
  ts: number;
  nextVersion: () => number;
  /** The first version this batch can take: reactions at or above it are new. */
  firstVersion: number;
  /** Ids of the messages that changed in this batch. */
  changed: Set<string>;
  /** Attachments of messages deleted in this batch. */
  discarded: { id: string; key: string }[];
}

const gone = () => notFound('Message not found');

/** Applies one change; `ok` means it was accepted (changed or a no-op). */
export function applyChange(
  state: ChangeState,
  c: Change,
): { ok: true; changed: boolean } | { ok: false; error: AppError } {
  const row = state.rows.get(c.messageId);
  if (c.kind === 'delete') {
    if (!row) return { ok: false, error: gone() };
    if (row.userId !== c.userId && state.ownerId !== c.userId) {
      return {
        ok: false,
        error: new AppError('forbidden', "Only the author or the room's owner can delete this message"),
      };
    }
    if (row.deletedAt !== null) return { ok: true, changed: false }; // the same tombstone again
    if (row.attachment) state.discarded.push({ id: row.attachment.id, key: row.attachment.key });
    row.text = '';
    row.attachment = null;
    row.attachmentId = null;
    row.reactions = [];
    row.deletedAt = BigInt(state.ts);
    return touched(state, row);
  }
  if (!row || row.deletedAt !== null) return { ok: false, error: gone() };
  if (c.kind === 'edit') {
    if (row.userId !== c.userId)
      return { ok: false, error: new AppError('forbidden', 'Only the author can edit this message') };
    if (c.text.length === 0 && row.attachmentId === null)
      return { ok: false, error: invalid('text must not be empty without an attachment') };
    if (c.text === row.text) return { ok: true, changed: false };
    row.text = c.text;
    row.editedAt = BigInt(state.ts);
    return touched(state, row);
  }
  const mine = row.reactions.findIndex((r) => r.userId === c.userId && r.emoji === c.emoji);
  if (!c.on) {
    if (mine < 0) return { ok: true, changed: false };
    row.reactions.splice(mine, 1);
    return touched(state, row);
  }
  if (mine >= 0) return { ok: true, changed: false };
  const emoji = new Set(row.reactions.map((r) => r.emoji));
  if (!emoji.has(c.emoji) && emoji.size >= MAX_DISTINCT_EMOJI) {
    return {
      ok: false,
      error: new AppError('conflict', `A message has at most ${MAX_DISTINCT_EMOJI} different emoji`),
    };
  }
  const version = state.nextVersion();
  // An emoji keeps its place while anyone still reacts with it.
  const emojiSince = row.reactions.find((r) => r.emoji === c.emoji)?.emojiSince ?? version;
  row.reactions.push({ userId: c.userId, emoji: c.emoji, version, emojiSince });
  row.version = version;
  state.changed.add(row.id);
  return { ok: true, changed: true };
}

function touched(state: ChangeState, row: MessageRow): { ok: true; changed: true } {
  row.version = state.nextVersion();
  state.changed.add(row.id);
  return { ok: true, changed: true };
}

const reactionKey = (r: { userId: string; emoji: string }) => `${r.userId}\u0000${r.emoji}`;

/** The reactions each row has before the batch: the writes are the difference from them. */
export function snapshotReactions(rows: Iterable<MessageRow>): Map<string, Set<string>> {
  return new Map([...rows].map((r) => [r.id, new Set(r.reactions.map(reactionKey))]));
}

export interface ChangeWrites {
  messages: {
    id: string;
    text: string;
    version: number;
    editedAt: string | null;
    deletedAt: string | null;
    attachmentId: string | null;
  }[];
  removedReactions: { messageId: string; userId: string; emoji: string }[];
  addedReactions: { messageId: string; userId: string; emoji: string; version: number; emojiSince: number }[];
}

/** The rows to write for the changed messages, compared with their state before the batch. */
export function changeWrites(state: ChangeState, before: Map<string, Set<string>>): ChangeWrites {
  const writes: ChangeWrites = { messages: [], removedReactions: [], addedReactions: [] };
  for (const id of state.changed) {
    const row = state.rows.get(id)!;
    writes.messages.push({
      id,
      text: row.text,
      version: row.version,
      editedAt: row.editedAt === null ? null : String(row.editedAt),
      deletedAt: row.deletedAt === null ? null : String(row.deletedAt),
      attachmentId: row.attachmentId,
    });
    const had = before.get(id) ?? new Set<string>();
    const has = new Set<string>();
    for (const r of row.reactions) {
      has.add(reactionKey(r));
      // Added in this batch (one removed and added again takes its new version: an upsert).
      if (r.version >= state.firstVersion) {
        writes.addedReactions.push({
          messageId: id,
          userId: r.userId,
          emoji: r.emoji,
          version: r.version,
          emojiSince: r.emojiSince,
        });
      }
    }
    for (const key of had) {
      if (has.has(key)) continue;
      const [userId, emoji] = key.split('\u0000') as [string, string];
      writes.removedReactions.push({ messageId: id, userId, emoji });
    }
  }
  return writes;
}
