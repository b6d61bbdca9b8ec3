import { AppError } from '../core/errors.ts';
import { DeletePayload, EditPayload, ReactPayload } from '../core/schemas.ts';
import type { HandlerDeps, Listen } from './handlers.ts';
import type { ParleySocket } from './types.ts';

/** The pieces of createHandlers that every client event goes through. */
export interface EventTools {
  listen: Listen;
  /** The socket joined the room (`not_joined`) and is a member (`forbidden`). */
  authorize: (socket: ParleySocket, roomId: string, checkMembership: boolean) => Promise<void>;
  limit: (socket: ParleySocket, event: 'message' | 'react') => Promise<void>;
}

const unavailable = () => new AppError('unavailable', 'Server is shutting down, reconnect and retry');

/**
 * `edit`, `delete` and `react`: validate → authorize → rate-limit → commit in the room's
 * group commit (which re-checks membership, authorship and ownership under the room lock,
 * and assigns the version) → ack → `message_updated` to the room (sent by the writer once
 * the batch committed). Edits and deletes count toward the `message` limit, reactions have
 * their own.
 */
export function registerChangeHandlers(deps: HandlerDeps, tools: EventTools): void {
  const { writer } = deps;
  const { listen, authorize, limit } = tools;

  /** The socket's user, once it may change the room. */
  const admit = async (socket: ParleySocket, roomId: string, bucket: 'message' | 'react') => {
    if (!deps.accepting()) throw unavailable();
    await authorize(socket, roomId, false); // the commit re-checks membership inside its transaction
    await limit(socket, bucket);
    return socket.data.session.userId;
  };

  listen('edit', EditPayload, async ({ roomId, messageId, text }, socket) => {
    const userId = await admit(socket, roomId, 'message');
    const outcome = await writer.submitChange(roomId, { kind: 'edit', userId, messageId, text });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });

  listen('delete', DeletePayload, async ({ roomId, messageId }, socket) => {
    const userId = await admit(socket, roomId, 'message');
    const outcome = await writer.submitChange(roomId, { kind: 'delete', userId, messageId });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });

  listen('react', ReactPayload, async ({ roomId, messageId, emoji, on }, socket) => {
    const userId = await admit(socket, roomId, 'react');
    const outcome = await writer.submitChange(roomId, { kind: 'react', userId, messageId, emoji, on });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });
}
