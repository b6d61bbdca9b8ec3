import type { Database } from '../core/db/database.ts';
import { AppError } from '../core/errors.ts';
import type { Message, Room } from '../core/schemas.ts';
import { readWireHistory, toWireMessages, type AttachmentUrlSigner } from '../core/messages/messages.ts';
import { readJoinPage } from '../core/messages/page-sql.ts';
import { roomForJoins } from '../core/rooms/room-for-joins.ts';
import { toWireRoom } from '../core/rooms/rooms.ts';
import { KeyedBatcher } from './batcher.ts';
import type { ParleyServer } from './types.ts';

/** The page a join answers with, on the wire. */
export interface JoinPage {
  messages: Message[];
  hasMore: boolean;
}

type PageQuery = { afterSeq: number; limit: number } | { limit: number };

/** A joiner's share of a combined read: the room and the page, or null for a non-member. */
type Entered = { room: Room; page: JoinPage } | null;

const pageKey = (roomId: string, query: PageQuery) =>
  `${roomId}|${'afterSeq' in query ? `a${query.afterSeq}` : 'n'}|${query.limit}`;

/**
 * The database reads of `join`, batched per room (KeyedBatcher): the membership of every
 * user joining a room at about the same time in one look-up, and one history page for every
 * joiner asking for the same page. A storm of 1,000 joins after a deploy costs a few
 * statements, not thousands. Joins with a different `sinceSeq` read their own pages.
 */
export class JoinReads {
  private readonly rooms: KeyedBatcher<string, Room | null>;
  private readonly pages: KeyedBatcher<PageQuery, JoinPage>;
  private readonly entries: KeyedBatcher<{ userId: string; query: PageQuery }, Entered>;

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
    this.entries = new KeyedBatcher(async (key, inputs) => {
      const roomId = key.slice(0, key.indexOf('|'));
      const { room, nonMembers, page } = await readJoinPage(db, roomId, inputs[0]!.query, [
        ...new Set(inputs.map((i) => i.userId)),
      ]);
      if (!room) return inputs.map(() => null);
      const shared: Entered = {
        room: toWireRoom({ ...room, createdAt: new Date(room.createdAtMs) }),
        page: {
          // Without attachments to sign, the stored shape is the wire shape (page-sql.ts).
          messages:
            page.toSign === 0 ? (page.messages as Message[]) : await toWireMessages(page.messages, sign),
          hasMore: page.hasMore,
        },
      };
      return inputs.map((i) => (nonMembers.has(i.userId) ? null : shared));
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
    return this.pages.submit(pageKey(roomId, query), query);
  }

  /**
   * The room, its membership and the page in one statement, for a joiner already in the
   * room's channel (let in by the member cache): null when the database says it is not a
   * member (the cache was behind a removal) or there is no such room, and the caller must
   * take it out again. Every request of a batch was submitted before its read started, as
   * for `page`.
   */
  entered(roomId: string, userId: string, query: PageQuery): Promise<Entered> {
    return this.entries.submit(pageKey(roomId, query), { userId, query });
  }
}

const perServer = new WeakMap<ParleyServer, JoinReads>();

/** One JoinReads per Socket.IO server, so every socket of the instance shares its batches. */
export function joinReadsOf(io: ParleyServer, db: Database, sign: AttachmentUrlSigner): JoinReads {
  let reads = perServer.get(io);
  if (!reads) perServer.set(io, (reads = new JoinReads(db, sign)));
  return reads;
}
