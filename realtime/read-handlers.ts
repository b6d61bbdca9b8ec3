import { AppError } from '../core/errors.ts';
import { ReadPayload } from '../core/schemas.ts';
import type { Listen } from './handlers.ts';
import type { ReadMarkers } from './read-markers.ts';
import { joinedRooms } from './types.ts';

export interface ReadHandlerDeps {
  markers: ReadMarkers;
  /** False once shutdown has begun: new work is refused as `unavailable`. */
  accepting: () => boolean;
}

/**
 * `read` `{roomId, seq}` → `{lastReadSeq}`: members only (`forbidden`), no join needed. The
 * per-connection budget (its own `read` windows) was spent before the event got here; the
 * marker moves in memory and is written by the coalescer's next flush (read-markers.ts).
 */
export function registerReadHandlers(deps: ReadHandlerDeps, listen: Listen): void {
  listen('read', ReadPayload, async ({ roomId, seq }, socket) => {
    const { userId } = socket.data.session;
    if (!deps.accepting()) throw new AppError('unavailable', 'Server is shutting down, reconnect and retry');
    const joined = joinedRooms(socket).has(roomId);
    return { lastReadSeq: await deps.markers.read(roomId, userId, seq, joined) };
  });
}
