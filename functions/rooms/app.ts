import type { Context } from 'hono';
import { limitBody } from '../../core/http/app.ts';
import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import type { AppEnv } from '../../core/http/types.ts';
import type { BusEvent } from '../../core/redis/bus.ts';
import {
  addMember,
  createRoom,
  getRoomForMember,
  leaveRoom,
  listMembers,
  openDirectRoom,
  removeMember,
  renameRoom,
  type Departure,
  type OnlineLookup,
} from '../../core/rooms/rooms.ts';
import { listRoomEntries } from '../../core/rooms/room-list.ts';
import type { Services } from '../../core/services.ts';
import { usernameLookupThrottle } from '../../core/users/username-lookup-throttle.ts';
import { findUserByUsername } from '../../core/users/users.ts';
import * as routes from './routes.ts';

export type RoomsDeps = Pick<Services, 'config' | 'db' | 'bus' | 'counters' | 'presence'>;

/** /api/rooms: a room is private to its members; to anyone else it does not exist (404). */
export function roomsRoutes(deps: RoomsDeps) {
  const { config, db, bus } = deps;
  const lookups = usernameLookupThrottle(deps.counters, config.limits);
  // The presence store the realtime tier keeps (Redis when configured): online anywhere.
  const online: OnlineLookup = (ids) => deps.presence.online.among(ids, Date.now());

  /**
   * The realtime tier acts on these on every instance (sockets leave, user channels hear of
   * it). If an event is lost, the membership check at every send still refuses a former
   * member, and the reconciliation takes their sockets out of the room within a heartbeat.
   */
  const publish = async (c: Context<AppEnv>, events: BusEvent[]) => {
    for (const event of events) {
      await bus
        .publish(event)
        .catch((err: unknown) =>
          c.get('log').error({ err, type: event.type }, 'could not publish a bus event'),
        );
    }
  };
  const departed = (c: Context<AppEnv>, roomId: string, userId: string, departure: Departure) =>
    publish(c, [
      { type: 'member.left', roomId, userId },
      ...(departure.ownerChanged
        ? [
            {
              type: 'room.updated' as const,
              room: departure.ownerChanged.room,
              userIds: departure.ownerChanged.memberIds,
            },
          ]
        : []),
    ]);
  const caller = (c: Context<AppEnv>) => ({
    userId: c.get('session').userId,
    address: c.get('clientAddress'),
  });

  const app = apiRouter();
  app.use(requireSession(config.auth, db), limitBody);
  return (
    app
      .openapi(routes.create, async (c) => {
        const { userId } = c.get('session');
        const room = await createRoom(db, userId, c.req.valid('json').name);
        await publish(c, [{ type: 'member.joined', room, userId }]);
        return c.json({ room }, 201);
      })
      .openapi(routes.list, async (c) =>
        c.json({ rooms: await listRoomEntries(db, c.get('session').userId) }, 200),
      )
      .openapi(routes.openDirect, async (c) => {
        const { userId, name } = c.get('session');
        const { room, created, added } = await openDirectRoom(
          db,
          { userId, username: name },
          c.req.valid('json').username,
          (username) => lookups.lookup(caller(c), () => findUserByUsername(db, username)),
        );
        await publish(
          c,
          added.map((id) => ({ type: 'member.joined', room, userId: id })),
        );
        return c.json({ room }, created ? 201 : 200);
      })
      .openapi(routes.get, async (c) =>
        c.json({ room: await getRoomForMember(db, c.req.param('roomId'), c.get('session').userId) }, 200),
      )
      .openapi(routes.rename, async (c) => {
        const { room, memberIds } = await renameRoom(
          db,
          c.req.param('roomId'),
          c.get('session').userId,
          c.req.valid('json').name,
        );
        await publish(c, [{ type: 'room.updated', room, userIds: memberIds }]);
        return c.json({ room }, 200);
      })
      .openapi(routes.addMember, async (c) => {
        const who = caller(c);
        const { member, created, room } = await addMember(
          db,
          c.req.param('roomId'),
          who.userId,
          c.req.valid('json').username,
          { findUser: (name) => lookups.lookup(who, () => findUserByUsername(db, name)), online },
        );
        if (created) await publish(c, [{ type: 'member.joined', room, userId: member.userId }]);
        return c.json({ member }, created ? 201 : 200);
      })
      .openapi(routes.members, async (c) =>
        c.json(
          { members: await listMembers(db, c.req.param('roomId'), c.get('session').userId, online) },
          200,
        ),
      )
      // Before removeMember: `me` is the caller, whatever a user id could look like.
      .openapi(routes.leave, async (c) => {
        const roomId = c.req.param('roomId');
        const { userId } = c.get('session');
        await departed(c, roomId, userId, await leaveRoom(db, roomId, userId));
        return c.body(null, 204);
      })
      .openapi(routes.removeMember, async (c) => {
        const { roomId, userId } = c.req.param();
        const departure = await removeMember(db, roomId, c.get('session').userId, userId);
        await departed(c, roomId, userId, departure);
        return c.body(null, 204);
      })
  );
}
