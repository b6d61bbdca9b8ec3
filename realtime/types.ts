import type { Server, Socket } from 'socket.io';
import type { Session } from '../core/sessions/sessions.ts';
import type { ActivityEvent, ClientToServerEvents, ServerToClientEvents } from '../core/events.ts';

/** What the server keeps on each socket (local only: never sent between instances). */
interface SocketData {
  session: Session;
  /** Rooms this socket has joined and may send to. */
  joined: Set<string>;
  /** Rooms where this socket last said it is typing (created on its first `typing`: most never do). */
  typing?: Set<string>;
}

/** Between instances (Redis adapter's server-side emits). */
interface InterServerEvents {
  /** A committed batch of new messages in a room: each instance tells its own sockets (activity.ts). */
  activity: (roomId: string, events: ActivityEvent[]) => void;
}

export type ParleyServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type ParleySocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Socket.IO room names: a chat room, every socket of a user. */
export const roomChannel = (roomId: string) => `room:${roomId}`;
export const userChannel = (userId: string) => `user:${userId}`;
