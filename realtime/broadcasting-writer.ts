import { purgeAttachments } from '../core/uploads/attachment-purge.ts';
import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import type { AttachmentUrlSigner } from '../core/messages/messages.ts';
import type { Message } from '../core/schemas.ts';
import type { ObjectStore } from '../core/storage/index.ts';
import type { RoomMembers } from './room-members.ts';
import { roomChannel, userChannel, type ParleyServer } from './types.ts';
import { MessageWriter } from './writer.ts';

export interface WriterDeps {
  db: Database;
  logger: Logger;
  storage: Pick<ObjectStore, 'delete'>;
  sign: AttachmentUrlSigner;
  now: () => number;
  maxConcurrent: number;
  /** The members of each room, for `activity` to the members that have not joined it. */
  members: RoomMembers;
  /** Receives each committed batch's new messages (the senders' read markers move to them). */
  onSent?: (roomId: string, messages: Message[]) => void;
}

/** A writer and what shutdown waits for: its accepted operations, then its attachment purges. */
export interface BroadcastingWriter {
  writer: MessageWriter;
  idle(): Promise<void>;
}

/**
 * The group-commit writer wired to the rooms: committed messages and changes are broadcast in
 * commit order, and deleted messages' attachment objects are purged after the commit, never
 * before the ack (a failure is left to the upload sweep).
 */
export function broadcastingWriter(io: ParleyServer, deps: WriterDeps): BroadcastingWriter {
  const { db, logger, storage } = deps;
  const purges = new Set<Promise<void>>();
  const writer = new MessageWriter({
    db,
    logger,
    sign: deps.sign,
    now: deps.now,
    maxConcurrent: deps.maxConcurrent,
    onCommitted: (roomId, messages) => {
      for (const m of messages) io.to(roomChannel(roomId)).emit('message', m);
      announceActivity(roomId, messages);
      deps.onSent?.(roomId, messages);
    },
    onUpdated: (roomId, messages) => {
      for (const m of messages) io.to(roomChannel(roomId)).emit('message_updated', m);
    },
    onDiscarded: (attachments) => {
      const purge = purgeAttachments({ db, storage, logger }, attachments)
        .then(() => undefined)
        .finally(() => purges.delete(purge));
      purges.add(purge);
    },
  });
  /**
   * `activity` for each new message to the members' sockets that have not joined the room:
   * one emit per message to the set of the members' user channels, minus the room's own
   * channel, whatever the room's size; the members come from the cache (no query on a hit).
   */
  const announceActivity = (roomId: string, messages: Message[]): void => {
    const emit = (members: ReadonlySet<string>) => {
      if (members.size === 0) return;
      const channels = [...members].map(userChannel);
      for (const m of messages) {
        io.to(channels)
          .except(roomChannel(roomId))
          .emit('activity', { roomId, seq: m.seq, userId: m.userId, ts: m.ts });
      }
    };
    const cached = deps.members.cached(roomId);
    if (cached) return emit(cached);
    deps.members
      .get(roomId)
      .then(emit)
      .catch((err: unknown) =>
        logger.warn({ err: { message: (err as Error).message }, roomId }, 'activity not announced'),
      );
  };

  return {
    writer,
    async idle() {
      await writer.idle();
      await Promise.all([...purges]);
    },
  };
}
