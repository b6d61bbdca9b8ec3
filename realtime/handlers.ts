import type { z } from 'zod';
import type { Config } from '../core/config.ts';
import { consume, type CounterStore } from '../core/redis/counters.ts';
import type { Database } from '../core/db/database.ts';
import { AppError, invalid, rateLimited, toPublicError } from '../core/errors.ts';
import type {
  Ack,
  AckCallback,
  AckResult,
  ClientEventName,
  ClientToServerEvents,
  JoinResult,
} from '../core/events.ts';
import type { Logger } from '../core/logger.ts';
import { readJoinChanges, type AttachmentUrlSigner } from '../core/messages/messages.ts';
import { messageAck, rateLimitRefusals, socketEvents } from '../core/metrics.ts';
import { isMember } from '../core/rooms/rooms.ts';
import {
  JoinPayload,
  LeavePayload,
  MessagePayload,
  TypingPayload,
  type PresentUser,
  type Room,
} from '../core/schemas.ts';
import { registerChangeHandlers } from './lifecycle-handlers.ts';
import { registerReadHandlers } from './read-handlers.ts';
import type { ReadMarkers } from './read-markers.ts';
import { joinReadsOf, type JoinPage } from './join-reads.ts';
import type { RoomMembers } from './room-members.ts';
import type { RoomPresence } from './room-presence.ts';
import { joinedRooms, markJoined, roomChannel, type ParleyServer, type ParleySocket } from './types.ts';
import type { MessageWriter } from './writer.ts';

export interface HandlerDeps {
  io: ParleyServer;
  config: Config;
  logger: Logger;
  db: Database;
  counters: CounterStore;
  writer: MessageWriter;
  presence: RoomPresence;
  sign: AttachmentUrlSigner;
  /** The read-marker coalescer. */
  markers: ReadMarkers;
  /** The members of each room (bus-kept cache): `typing` checks membership here. */
  members: RoomMembers;
  /** False once shutdown has begun: new work is refused as `unavailable`. */
  accepting: () => boolean;
}

/** The payload of a client event, as the published contract types it. */
type PayloadOf<E extends ClientEventName> = Parameters<ClientToServerEvents[E]>[0];
/** A client event's handler: its validated payload in, exactly what its ack carries out. */
export type EventHandler<E extends ClientEventName> = (
  payload: PayloadOf<E>,
  socket: ParleySocket,
) => Promise<AckResult<E>>;
/** Registers a client event: its payload schema and its handler, typed from the contract. */
export type Listen = <E extends ClientEventName>(
  event: E,
  schema: z.ZodType<PayloadOf<E>>,
  handler: EventHandler<E>,
) => void;

const JOIN_PAGE = 50;
const CATCH_UP_PAGE = 100;

const unavailable = () => new AppError('unavailable', 'Server is shutting down, reconnect and retry');

/**
 * The client events. Each reads validate → authorize → rate-limit → persist → ack →
 * broadcast; whatever is thrown becomes an error ack (`internal` for the unexpected, which is
 * logged and never described to the client), and nothing a client sends can crash the process.
 *
 * Built once per server: the listeners are shared by every socket (EventEmitter calls them
 * with the socket as `this`), so a connection costs its listener slots, not a closure per event
 * and per helper (~3 KB a socket at 15 closures, their contexts and names).
 * Returns what attaches them to a socket.
 */
export function createHandlers(deps: HandlerDeps): (socket: ParleySocket) => void {
  const { io, config, db, counters, writer, presence, sign } = deps;
  const joins = joinReadsOf(io, db, sign);
  const listeners: [ClientEventName, (this: ParleySocket, ...args: unknown[]) => void][] = [];

  /**
   * Typed from the event contract: `schema` must parse into the event's payload and `handler`
   * must resolve to exactly what its ack carries, so a wrong ack does not compile. The
   * listener itself takes what a client really sends (anything, with or without an ack).
   */
  const listen = <E extends ClientEventName>(
    event: E,
    schema: z.ZodType<PayloadOf<E>>,
    handler: EventHandler<E>,
  ): void => {
    listeners.push([
      event,
      function (this: ParleySocket, ...args: unknown[]) {
        void dispatch(this, deps.logger, event, schema, handler, args);
      },
    ]);
  };

  /** Membership comes before join state: a non-member hears `forbidden` whether joined or not. */
  const authorize = async (socket: ParleySocket, roomId: string, checkMembership: boolean): Promise<void> => {
    const { userId } = socket.data.session;
    if (!joinedRooms(socket).has(roomId)) {
      // Cut while this event waited for its rate-limit round trip (a flooder's last allowed
      // events): the socket has left every room and its ack goes nowhere, so no query.
      if (socket.disconnected) throw new AppError('not_joined', 'Join the room first');
      throw (await isMember(db, roomId, userId))
        ? new AppError('not_joined', 'Join the room first')
        : new AppError('forbidden', 'Not a member of this room');
    }
    // From the member cache (the bus keeps it true, as for `activity`; a removal also takes
    // the socket out of `joined` above): one load per room, then no query per event.
    if (checkMembership && !(await deps.members.get(roomId)).has(userId)) {
      throw new AppError('forbidden', 'Not a member of this room');
    }
  };

  // Per user, across its sockets (and instances): one Redis round trip (a script). The
  // per-socket limits were already spent in memory before the event got here (event-budget.ts).
  const limit = async (socket: ParleySocket, event: 'message' | 'typing' | 'react'): Promise<void> => {
    const { userId } = socket.data.session;
    const rules = config.limits[event];
    const check = await consume(
      counters,
      rules.map((r) => ({
        key: `ratelimit:user:${userId}:${event}:${r.windowMs}`,
        windowMs: r.windowMs,
        limit: r.limit * config.limits.userMultiplier,
      })),
    );
    if (!check.allowed) {
      rateLimitRefusals.inc({ event });
      throw rateLimited(check.retryAfterMs);
    }
  };

  listen('join', JoinPayload, async ({ roomId, sinceSeq, sinceVersion }, socket): Promise<JoinResult> => {
    const session = socket.data.session;
    if (!deps.accepting()) throw unavailable();
    const query =
      sinceSeq !== undefined ? { afterSeq: sinceSeq, limit: CATCH_UP_PAGE } : { limit: JOIN_PAGE };
    let room: Room;
    let users: PresentUser[];
    let page: JoinPage;
    let early: ReturnType<typeof readJoinChanges> | undefined;
    const catchUpAfter = (firstSeqOfPage: number | undefined) =>
      readJoinChanges(db, roomId, firstSeqOfPage, { sinceSeq, sinceVersion, limit: CATCH_UP_PAGE }, sign);
    // With sinceSeq the changes do not depend on the page: read beside it, once in the room.
    // (Caught here so a join abandoned below leaves no unhandled rejection; awaiting it still
    // throws.)
    const readEarly = () => {
      early = sinceSeq !== undefined ? catchUpAfter(undefined) : undefined;
      early?.catch(() => undefined);
    };
    if (deps.members.cached(roomId)?.has(session.userId)) {
      // A member by the member cache (the bus keeps it true; typing trusts it too): into the
      // room at once, then the room, the membership and the page in one statement beside
      // presence (join-reads.ts), one round trip where the other path takes two. The
      // database has the last word: a member it no longer knows (the cache was behind a
      // removal) is taken out again and refused, and a removal committed after the
      // statement's snapshot reaches this socket through the bus, as it is already joined.
      await socket.join(roomChannel(roomId));
      markJoined(socket, roomId);
      readEarly();
      const [present, entered] = await Promise.all([
        presence.entered(socket, roomId),
        joins.entered(roomId, session.userId, query),
      ]);
      if (!entered || socket.disconnected) {
        await socketLeaves(io, socket, roomId, presence);
        throw entered ? unavailable() : new AppError('forbidden', 'Not a member of this room');
      }
      ({ room, page } = entered);
      users = present;
    } else {
      // Not cached (or not a member by it): the database decides before the socket enters.
      // Membership and the page are read in batches per room (join-reads.ts): a join storm
      // costs a few statements, not a few per joiner.
      room = await joins.room(roomId, session.userId);
      // A member: the room's members are loaded into the cache for the next joins (once per
      // room; non-members load nothing), beside the page and within this join, so no load
      // outlives the join that caused it.
      const warm = deps.members.get(roomId).then(
        () => undefined,
        () => undefined,
      );
      // Gone while its membership was read: its clean-up has run, so joining now would leave a
      // dead socket in the room (the adapter does not check).
      if (socket.disconnected) throw unavailable();
      // In the room before history is read: a message committed meanwhile arrives live (perhaps
      // also in the page; clients dedupe by seq), never in neither.
      await socket.join(roomChannel(roomId));
      markJoined(socket, roomId);
      readEarly();
      // Presence (Redis) and the page (Postgres) at once: both only need the socket in the room.
      [users, page] = await Promise.all([presence.entered(socket, roomId), joins.page(roomId, query), warm]);
      if (socket.disconnected) {
        // Gone while presence and the page were read: undo what its clean-up could not see.
        await socketLeaves(io, socket, roomId, presence);
        throw unavailable();
      }
    }
    const { messages } = page;
    const lastSeq = Math.max(room.lastSeq, messages.at(-1)?.seq ?? 0);
    deps.markers.sawLastSeq(roomId, lastSeq);
    const { messages: changes, hasMore: hasMoreChanges } = await (early ?? catchUpAfter(messages[0]?.seq));
    // lastVersion as read once the socket was in the room (the page's statement) or just before
    // (the room's): every change after it commits after the socket entered, so it is in this
    // answer or arrives live, and it is a safe sinceVersion for the next catch-up (a higher
    // version seen in the pages is not: a change between two reads may be in neither page).
    return {
      room: { ...room, lastSeq },
      users,
      messages,
      hasMore: page.hasMore,
      changes,
      hasMoreChanges,
    };
  });

  listen('leave', LeavePayload, async ({ roomId }, socket) => {
    await socketLeaves(io, socket, roomId, presence);
    return {};
  });

  listen('message', MessagePayload, async (p, socket) => {
    if (!deps.accepting()) throw unavailable();
    const session = socket.data.session;
    await limit(socket, 'message');
    await authorize(socket, p.roomId, false); // the commit re-checks membership inside its transaction
    stopTyping(io, socket, p.roomId);
    const outcome = await writer.submit(p.roomId, {
      userId: session.userId,
      name: session.name,
      text: p.text,
      clientMsgId: p.clientMsgId ?? null,
      attachmentId: p.attachmentId ?? null,
      replyToId: p.replyTo ?? null,
    });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });

  listen('typing', TypingPayload, async ({ roomId, typing }, socket) => {
    const session = socket.data.session;
    await limit(socket, 'typing');
    await authorize(socket, roomId, true);
    if (typing) (socket.data.typing ??= new Set()).add(roomId);
    else socket.data.typing?.delete(roomId);
    socket
      .to(roomChannel(roomId))
      .emit('typing', { roomId, userId: session.userId, name: session.name, typing });
    return {};
  });

  registerChangeHandlers(deps, { listen: listen satisfies Listen, authorize, limit });
  registerReadHandlers(deps, listen);
  return (socket) => {
    for (const [event, listener] of listeners) socket.on<ClientEventName>(event, listener);
  };
}

/** One event of one socket: validate, run, count, ack. */
async function dispatch<E extends ClientEventName>(
  socket: ParleySocket,
  logger: Logger,
  event: E,
  schema: z.ZodType<PayloadOf<E>>,
  handler: EventHandler<E>,
  args: unknown[],
): Promise<void> {
  const ack =
    typeof args[args.length - 1] === 'function' ? (args.pop() as AckCallback<AckResult<E>>) : undefined;
  const started = performance.now();
  let response: Ack<AckResult<E>>;
  let result = 'ok';
  try {
    const parsed = schema.safeParse(args[0]);
    if (!parsed.success) {
      throw invalid(
        'Invalid payload',
        parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    response = { ok: true, ...(await handler(parsed.data, socket)) };
  } catch (err) {
    const pub = toPublicError(err);
    result = pub.code;
    const context = { event, socketId: socket.id, userId: socket.data.session.userId };
    if (pub.code === 'internal') logger.error({ ...context, err }, 'socket event failed');
    // Expected while the database is away or the instance drains for a deploy: no stack.
    else if (pub.code === 'unavailable')
      logger.warn({ ...context, reason: (err as Error)?.message }, 'socket event refused: unavailable');
    response = { ok: false, error: pub.toBody() };
  }
  socketEvents.inc({ event, result });
  if (event === 'message') messageAck.observe((performance.now() - started) / 1000);
  try {
    ack?.(response);
  } catch (err) {
    logger.warn({ err, event }, 'ack failed');
  }
}

/** Ends a socket's typing in a room, telling the others. */
function stopTyping(io: ParleyServer, socket: ParleySocket, roomId: string): void {
  if (!socket.data.typing?.delete(roomId)) return;
  const { userId, name } = socket.data.session;
  io.to(roomChannel(roomId)).except(socket.id).emit('typing', { roomId, userId, name, typing: false });
}

/** Takes a socket out of a room (leave, or removal after leaving the membership). */
export async function socketLeaves(
  io: ParleyServer,
  socket: ParleySocket,
  roomId: string,
  presence: RoomPresence,
): Promise<void> {
  if (!socket.data.joined?.delete(roomId)) return;
  await socket.leave(roomChannel(roomId));
  stopTyping(io, socket, roomId);
  const { userId, name } = socket.data.session;
  await presence.left(socket.id, { id: userId, name }, roomId);
}

/** Everything a disconnected socket leaves behind in its rooms. */
export async function socketGone(
  io: ParleyServer,
  socket: ParleySocket,
  presence: RoomPresence,
): Promise<void> {
  const { userId, name } = socket.data.session;
  const rooms = [...joinedRooms(socket)];
  socket.data.joined?.clear();
  for (const roomId of rooms) {
    stopTyping(io, socket, roomId);
    await presence.left(socket.id, { id: userId, name }, roomId);
  }
}
