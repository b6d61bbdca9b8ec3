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

export interface ClientToServerEvents {
  join: (payload: JoinPayload, ack: AckCallback<JoinResult>) => void;
  leave: (payload: LeavePayload, ack: AckCallback) => void;
  message: (payload: MessagePayload, ack: AckCallback<{ message: Message }>) => void;
  typing: (payload: TypingPayload, ack: AckCallback) => void;
  edit: (payload: EditPayload, ack: AckCallback<{ message: Message }>) => void;
  delete: (payload: DeletePayload, ack: AckCallback<{ message: Message }>) => void;
  react: (payload: ReactPayload, ack: AckCallback<{ message: Message }>) => void;
}

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
}
