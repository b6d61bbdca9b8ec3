import { limitBody } from '../../core/http/app.ts';
import { requireSession } from '../../core/http/session.ts';
import { apiRouter } from '../../core/http/openapi.ts';
import { addMember, createRoom, getRoomForMember, leaveRoom, listMembers } from '../../core/rooms/rooms.ts';
import { listRoomEntries } from '../../core/rooms/room-list.ts';
import type { Services } from '../../core/services.ts';
import { usernameLookupThrottle } from '../../core/users/username-lookup-throttle.ts';
import { findUserByUsername } from '../../core/users/users.ts';
import * as routes from './routes.ts';

export type RoomsDeps = Pick<Services, 'config' | 'db' | 'bus' | 'counters'>;

/** /api/rooms: a room is private to its members; to anyone else it does not exist (404). */
export function roomsRoutes(deps: RoomsDeps) {
  const { config, db, bus } = deps;
  const lookups = usernameLookupThrottle(deps.counters, config.limits);
  const app = apiRouter();
  app.use(requireSession(config.auth, db), limitBody);
  return app
    .openapi(routes.create, async (c) => {
      const room = await createRoom(db, c.get('session').userId, c.req.valid('json').name);
      return c.json({ room }, 201);
    })
    .openapi(routes.list, async (c) =>
      c.json({ rooms: await listRoomEntries(db, c.get('session').userId) }, 200),
    )
    .openapi(routes.get, async (c) =>
      c.json({ room: await getRoomForMember(db, c.req.param('roomId'), c.get('session').userId) }, 200),
    )
    .openapi(routes.addMember, async (c) => {
      const caller = { userId: c.get('session').userId, address: c.get('clientAddress') };
      const { member, created } = await addMember(
        db,
        c.req.param('roomId'),
        caller.userId,
        c.req.valid('json').username,
        (name) => lookups.lookup(caller, () => findUserByUsername(db, name)),
      );
      return c.json({ member }, created ? 201 : 200);
    })
    .openapi(routes.members, async (c) =>
      c.json({ members: await listMembers(db, c.req.param('roomId'), c.get('session').userId) }, 200),
    )
    .openapi(routes.leave, async (c) => {
      const roomId = c.req.param('roomId');
      const { userId } = c.get('session');
      await leaveRoom(db, roomId, userId);
      // The realtime tier drops the leaver's sockets from the room on every instance; if the
      // event is lost, the membership check at every send still refuses them.
      await bus
        .publish({ type: 'member.left', roomId, userId })
        .catch((err: unknown) => c.get('log').error({ err }, 'could not publish member.left'));
      return c.body(null, 204);
    });
}
