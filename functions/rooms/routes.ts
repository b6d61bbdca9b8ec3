import { createRoute, z } from '@hono/zod-openapi';
import { bodies, errors, json, jsonBody, RoomParams, sessionSecurity } from '../../core/http/openapi.ts';
import { AddMemberBody, CreateRoomBody, RoomListEntry } from '../../core/schemas.ts';

/** /api/rooms, declared. Any room route for a room the caller is not in answers 404. */

const common = { tags: ['rooms'], security: sessionSecurity };

export const create = createRoute({
  ...common,
  method: 'post',
  path: '/',
  summary: 'Create a room; the creator becomes a member',
  request: { body: jsonBody(CreateRoomBody) },
  responses: {
    201: json(bodies.room, 'The new room'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large'),
  },
});

export const list = createRoute({
  ...common,
  method: 'get',
  path: '/',
  summary: "The caller's rooms, newest activity first, with the caller's read state",
  responses: {
    200: json(
      z.object({ rooms: z.array(RoomListEntry.openapi('RoomListEntry')) }),
      'The rooms the caller is a member of: lastReadSeq, unread and lastMessage with each',
    ),
    ...errors('unauthorized'),
  },
});

export const get = createRoute({
  ...common,
  method: 'get',
  path: '/{roomId}',
  summary: 'One room of the caller',
  request: { params: RoomParams },
  responses: {
    200: json(bodies.room, 'The room'),
    ...errors('unauthorized', 'not_found'),
  },
});

export const addMember = createRoute({
  ...common,
  method: 'post',
  path: '/{roomId}/members',
  summary: 'Add a user to the room (members only)',
  request: { params: RoomParams, body: jsonBody(AddMemberBody) },
  responses: {
    201: json(bodies.member, 'Added'),
    200: json(bodies.member, 'Already a member (unchanged joinedAt)'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large', 'not_found', 'rate_limited'),
  },
});

export const members = createRoute({
  ...common,
  method: 'get',
  path: '/{roomId}/members',
  summary: "The room's members",
  request: { params: RoomParams },
  responses: {
    200: json(bodies.members, 'The members'),
    ...errors('unauthorized', 'not_found'),
  },
});

export const leave = createRoute({
  ...common,
  method: 'delete',
  path: '/{roomId}/members/me',
  summary: 'Leave the room; its sockets of the caller leave at once, on every instance',
  request: { params: RoomParams },
  responses: {
    204: { description: 'Left' },
    ...errors('unauthorized', 'not_found'),
  },
});
