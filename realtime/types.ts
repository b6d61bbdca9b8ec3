import type { Server, Socket } from 'socket.io';
import type { Session } from '../core/sessions/sessions.ts';
import type { ActivityEvent, ClientToServerEvents, ServerToClientEvents } from '../core/events.ts';

/** What the server keeps on each socket (local only: never sent between instances). */
interface SocketData {
  session: Session;
  /**
   * Rooms this socket has joined and may send to; created on its first join (an idle socket
   * has none, and an empty Set is ~130 bytes a connection). Read it with `joinedRooms`.
   */
  joined?: Set<string>;
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

const NO_ROOMS: ReadonlySet<string> = new Set();

/** The rooms a socket has joined (none before its first join). */
export const joinedRooms = (socket: ParleySocket): ReadonlySet<string> => socket.data.joined ?? NO_ROOMS;

/** Records that a socket has joined a room (and may send to it). */
export const markJoined = (socket: ParleySocket, roomId: string): void => {
  (socket.data.joined ??= new Set()).add(roomId);
};
