import { purgeAttachments } from '../core/uploads/attachment-purge.ts';
import type { Database } from '../core/db/database.ts';
import type { Logger } from '../core/logger.ts';
import type { AttachmentUrlSigner } from '../core/messages/messages.ts';
import type { Message } from '../core/schemas.ts';
import type { ObjectStore } from '../core/storage/index.ts';
import { ActivityFanout } from './activity.ts';
import type { RoomMembers } from './room-members.ts';
import { roomChannel, type ParleyServer } from './types.ts';
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
  /** Other instances share the adapter (Redis): `activity` is announced to them too. */
  clustered?: boolean;
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
  const activity = new ActivityFanout(io, deps.members, logger, deps.clustered ?? false);
  const writer = new MessageWriter({
    db,
    logger,
    sign: deps.sign,
    now: deps.now,
    maxConcurrent: deps.maxConcurrent,
    onCommitted: (roomId, messages) => {
      for (const m of messages) io.to(roomChannel(roomId)).emit('message', m);
      activity.announce(roomId, messages);
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
  return {
    writer,
    async idle() {
      await writer.idle();
      await Promise.all([...purges]);
    },
  };
}
