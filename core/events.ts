import type { ErrorBody } from './errors.ts';
import type {
  DeletePayload,
  EditPayload,
  JoinPayload,
  LeavePayload,
  Message,
  MessagePayload,
  PresentUser,
  ReactPayload,
  ReadPayload,
  Room,
  TypingPayload,
} from './schemas.ts';

/** The Socket.IO event contract, shared by the realtime server, the web client and tests. */

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };
export type AckCallback<T extends object = object> = (response: Ack<T>) => void;

export interface JoinResult {
  room: Room;
  users: PresentUser[];
  messages: Message[];
  hasMore: boolean;
  /** With `sinceVersion`: messages with seq <= sinceSeq changed since, ascending version. */
  changes: Message[];
  hasMoreChanges: boolean;
}

/** Each client event: the payload it carries and what its ack answers besides `ok: true`. */
export interface ClientEvents {
  join: { payload: JoinPayload; result: JoinResult };
  leave: { payload: LeavePayload; result: object };
  message: { payload: MessagePayload; result: { message: Message } };
  typing: { payload: TypingPayload; result: object };
  edit: { payload: EditPayload; result: { message: Message } };
  delete: { payload: DeletePayload; result: { message: Message } };
  react: { payload: ReactPayload; result: { message: Message } };
  read: { payload: ReadPayload; result: { lastReadSeq: number } };
}
export type ClientEventName = keyof ClientEvents;
/** What the ack of `E` carries besides `ok: true`. */
export type AckResult<E extends ClientEventName> = ClientEvents[E]['result'];

/** Client → server: every event takes its payload and an ack callback. */
export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: ClientEvents[E]['payload'], ack: AckCallback<AckResult<E>>) => void;
};

export interface PresenceEvent {
  roomId: string;
  users: PresentUser[];
}

export interface TypingEvent {
  roomId: string;
  userId: string;
  name: string;
  typing: boolean;
}

export interface ServerToClientEvents {
  message: (message: Message) => void;
  presence: (event: PresenceEvent) => void;
  typing: (event: TypingEvent) => void;
  /** A message after an edit, a delete or a reaction change: its whole current state. */
  message_updated: (message: Message) => void;
  /** Read receipts, to the sockets that joined the room: at most one per user and room a second. */
  read: (event: ReadReceiptEvent) => void;

  // The user's channel: every socket of the user, joined to the room or not.
  room_added: (event: { room: Room }) => void;
  room_removed: (event: { roomId: string }) => void;
  room_updated: (event: { room: Room }) => void;
  /** A new message in a room this socket has not joined. */
  activity: (event: ActivityEvent) => void;
  /** The user's own marker moved (another device or tab). */
  read_state: (event: ReadStateEvent) => void;
  /** A user who shares a room with this one came online (first socket) or went offline (last). */
  user_online: (event: UserOnlineEvent) => void;
}

export interface UserOnlineEvent {
  userId: string;
  online: boolean;
}

export interface ReadReceiptEvent {
  roomId: string;
  userId: string;
  lastReadSeq: number;
}

export interface ActivityEvent {
  roomId: string;
  seq: number;
  userId: string;
  ts: number;
}

export interface ReadStateEvent {
  roomId: string;
  lastReadSeq: number;
  unread: number;
}
