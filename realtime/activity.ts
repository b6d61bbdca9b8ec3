import type { ActivityEvent } from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import type { Message } from '../core/schemas.ts';
import type { RoomMembers } from './room-members.ts';
import { roomChannel, userChannel, type ParleyServer, type ParleySocket } from './types.ts';

/**
 * `activity`: each new message, to the members' sockets that have not joined its room, on
 * every instance. Each instance works out its own recipients from its member cache (kept
 * true by the bus's membership events, like the sender's) and its own sockets; the other
 * instances hear of a committed batch through one small server-side emit (room id, seq,
 * user id and time of each message) instead of a broadcast addressed to every member's user
 * channel. That broadcast cost a set of 100–1,000 room names per message, encoded and
 * published to Redis, decoded again by every instance (its sender too), and walked channel by
 * channel even when every member had joined the room and nobody was to receive it.
 */
export class ActivityFanout {
  constructor(
    private readonly io: ParleyServer,
    private readonly members: RoomMembers,
    private readonly logger: Logger,
    /** Other instances share the adapter (Redis): tell them too. */
    private readonly clustered: boolean,
  ) {
    if (clustered) io.on('activity', (roomId, events) => this.deliver(roomId, events));
  }

  /** A committed batch of one room's new messages. */
  announce(roomId: string, messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const events = messages.map((m): ActivityEvent => ({ roomId, seq: m.seq, userId: m.userId, ts: m.ts }));
    if (this.clustered) this.io.serverSideEmit('activity', roomId, events);
    this.deliver(roomId, events);
  }

  /** To this instance's recipients; the members come from the cache (no query on a hit). */
  private deliver(roomId: string, events: ActivityEvent[]): void {
    // No socket here: nobody to tell, and no reason to load the room's members.
    if (this.io.of('/').sockets.size === 0) return;
    const cached = this.members.cached(roomId);
    if (cached) return this.emit(roomId, cached, events);
    this.members
      .get(roomId)
      .then((members) => this.emit(roomId, members, events))
      .catch((err: unknown) =>
        this.logger.warn({ err: { message: (err as Error).message }, roomId }, 'activity not announced'),
      );
  }

  private emit(roomId: string, members: ReadonlySet<string>, events: ActivityEvent[]): void {
    const targets = localRecipients(this.io, roomId, members);
    if (targets.length === 0) return;
    for (const event of events) this.io.local.to(targets).emit('activity', event);
  }
}

/**
 * This instance's sockets of `members` that are not in the room's channel: walks whichever
 * is smaller, the local sockets or the members' user channels.
 */
function localRecipients(io: ParleyServer, roomId: string, members: ReadonlySet<string>): string[] {
  const nsp = io.of('/');
  const rooms = nsp.adapter.rooms;
  const joined = rooms.get(roomChannel(roomId));
  const out: string[] = [];
  // Every local socket has joined the room (the busy room's usual case): nobody to tell,
  // without walking 100-1,000 sockets per message to find that out.
  if (joined && joined.size >= nsp.sockets.size) return out;
  if (nsp.sockets.size <= members.size) {
    for (const [id, socket] of nsp.sockets as Map<string, ParleySocket>) {
      if (!joined?.has(id) && members.has(socket.data.session.userId)) out.push(id);
    }
    return out;
  }
  for (const userId of members) {
    const sockets = rooms.get(userChannel(userId));
    if (sockets) for (const id of sockets) if (!joined?.has(id)) out.push(id);
  }
  return out;
}
