import { AppError } from '../core/errors.ts';
import { DeletePayload, EditPayload, ReactPayload } from '../core/schemas.ts';
import type { HandlerDeps, Listen } from './handlers.ts';
import type { ParleySocket } from './types.ts';

/** The pieces of registerHandlers that every client event goes through. */
export interface EventTools {
  listen: Listen;
  /** The socket joined the room (`not_joined`) and is a member (`forbidden`). */
  authorize: (roomId: string, checkMembership: boolean) => Promise<void>;
  limit: (event: 'message' | 'react') => Promise<void>;
}

const unavailable = () => new AppError('unavailable', 'Server is shutting down, reconnect and retry');

/**
 * `edit`, `delete` and `react`: validate → authorize → rate-limit → commit in the room's
 * group commit (which re-checks membership, authorship and ownership under the room lock,
 * and assigns the version) → ack → `message_updated` to the room (sent by the writer once
 * the batch committed). Edits and deletes count toward the `message` limit, reactions have
 * their own.
 */
export function registerChangeHandlers(socket: ParleySocket, deps: HandlerDeps, tools: EventTools): void {
  const { writer } = deps;
  const { userId } = socket.data.session;
  const { listen, authorize, limit } = tools;

  const admit = async (roomId: string, bucket: 'message' | 'react') => {
    if (!deps.accepting()) throw unavailable();
    await authorize(roomId, false); // the commit re-checks membership inside its transaction
    await limit(bucket);
  };

  listen('edit', EditPayload, async ({ roomId, messageId, text }) => {
    await admit(roomId, 'message');
    const outcome = await writer.submitChange(roomId, { kind: 'edit', userId, messageId, text });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });

  listen('delete', DeletePayload, async ({ roomId, messageId }) => {
    await admit(roomId, 'message');
    const outcome = await writer.submitChange(roomId, { kind: 'delete', userId, messageId });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });

  listen('react', ReactPayload, async ({ roomId, messageId, emoji, on }) => {
    await admit(roomId, 'react');
    const outcome = await writer.submitChange(roomId, { kind: 'react', userId, messageId, emoji, on });
    if (!outcome.ok) throw outcome.error;
    return { message: outcome.message };
  });
}
