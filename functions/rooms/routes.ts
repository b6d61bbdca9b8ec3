import { createRoute, z } from '@hono/zod-openapi';
import { bodies, errors, json, jsonBody, RoomParams, sessionSecurity } from '../../core/http/openapi.ts';
import {
  AddMemberBody,
  CreateRoomBody,
  OpenDirectBody,
  RenameRoomBody,
  RoomListEntry,
} from '../../core/schemas.ts';

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
    // 403: a direct room, which nobody can be added to.
    ...errors(
      'unauthorized',
      'invalid_request',
      'payload_too_large',
      'forbidden',
      'not_found',
      'rate_limited',
    ),
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

export const rename = createRoute({
  ...common,
  method: 'patch',
  path: '/{roomId}',
  summary: 'Rename the room (its owner only; never a direct room); the members hear room_updated',
  request: { params: RoomParams, body: jsonBody(RenameRoomBody) },
  responses: {
    200: json(bodies.room, 'The renamed room'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large', 'not_found', 'forbidden'),
  },
});

export const openDirect = createRoute({
  ...common,
  method: 'post',
  path: '/direct',
  summary: 'Open the direct room of the caller and another user (one room per pair)',
  request: { body: jsonBody(OpenDirectBody) },
  responses: {
    201: json(bodies.room, 'Created, with the two of them as its members'),
    200: json(bodies.room, 'The pair already had it (whichever of the two asked); a leaver is back in'),
    ...errors('unauthorized', 'invalid_request', 'payload_too_large', 'not_found', 'rate_limited'),
  },
});

const MemberParams = RoomParams.extend({
  userId: z.string().openapi({ description: 'The member to remove (a user id)' }),
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

export const removeMember = createRoute({
  ...common,
  method: 'delete',
  path: '/{roomId}/members/{userId}',
  summary:
    "The owner removes a member; the member's sockets leave at once, on every instance (one's own id: leave)",
  request: { params: MemberParams },
  responses: {
    204: { description: 'Removed' },
    ...errors('unauthorized', 'not_found', 'forbidden'),
  },
});
