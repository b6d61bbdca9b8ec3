import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Message, Room } from '../core/schemas.ts';
import { readWireHistory, type AttachmentUrlSigner } from '../core/messages/messages.ts';
import { roomForJoins } from '../core/rooms/room-for-joins.ts';
import { KeyedBatcher } from './batcher.ts';
import type { ParleyServer } from './types.ts';

/** The page a join answers with, on the wire. */
export interface JoinPage {
  messages: Message[];
  hasMore: boolean;
}

type PageQuery = { afterSeq: number; limit: number } | { limit: number };

/**
 * The database reads of `join`, batched per room (KeyedBatcher): the membership of every
 * user joining a room at about the same time in one look-up, and one history page for every
 * joiner asking for the same page. A storm of 1,000 joins after a deploy costs a few
 * statements, not thousands. Joins with a different `sinceSeq` read their own pages.
 */
export class JoinReads {
  private readonly rooms: KeyedBatcher<string, Room | null>;
  private readonly pages: KeyedBatcher<PageQuery, JoinPage>;

  constructor(db: Database, sign: AttachmentUrlSigner) {
    this.rooms = new KeyedBatcher(async (roomId, userIds) => {
      const { room, members } = await roomForJoins(db, roomId, [...new Set(userIds)]);
      return userIds.map((u) => (room && members.has(u) ? room : null));
    });
    this.pages = new KeyedBatcher(async (key, queries) => {
      const roomId = key.slice(0, key.indexOf('|'));
      const shared = await readWireHistory(db, roomId, queries[0]!, sign);
      return queries.map(() => shared);
    });
  }

  /** The room for one of its members; `forbidden` for anyone else (and for no such room). */
  async room(roomId: string, userId: string): Promise<Room> {
    const room = await this.rooms.submit(roomId, userId);
    if (!room) throw new AppError('forbidden', 'Not a member of this room');
    return room;
  }

  /**
   * The page, read after the caller entered the room: every request of a batch was
   * submitted before the batch's read started.
   */
  page(roomId: string, query: PageQuery): Promise<JoinPage> {
    const key = `${roomId}|${'afterSeq' in query ? `a${query.afterSeq}` : 'n'}|${query.limit}`;
    return this.pages.submit(key, query);
  }
}

const perServer = new WeakMap<ParleyServer, JoinReads>();

/** One JoinReads per Socket.IO server, so every socket of the instance shares its batches. */
export function joinReadsOf(io: ParleyServer, db: Database, sign: AttachmentUrlSigner): JoinReads {
  let reads = perServer.get(io);
  if (!reads) perServer.set(io, (reads = new JoinReads(db, sign)));
  return reads;
}
