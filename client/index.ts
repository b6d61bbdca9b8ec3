import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import { RestClient } from './rest.ts';
import { openSocket, type ChatSocket } from './socket.ts';

/**
 * The Parley client library: the typed REST client (`hc<AppType>`), the typed Socket.IO
 * connection, and the delivery logic every client needs (outbox with clientMsgId retries,
 * gap-free timeline with catch-up by seq, connection state). No DOM: it runs in browsers,
 * Node and React Native. See client/README.md.
 */
export class ParleyClient extends RestClient {
  /** Opens the realtime connection with this client's session (token, or the cookie it holds). */
  connect(options: Partial<ManagerOptions & SocketOptions> = {}): ChatSocket {
    return openSocket(this.baseUrl, { token: this.token, cookie: this.cookie }, options);
  }
}

export {
  ApiError,
  RestClient,
  type FetchLike,
  type HistoryCursor,
  type RawResponse,
  type RestOptions,
  type SearchOptions,
} from './rest.ts';
export { openSocket, type ChatSocket, type SocketAuth } from './socket.ts';
export { Connection, type ConnectionState, type NetworkSignal } from './connection.ts';
export { Outbox, newClientMsgId, type OutboxDeps, type PendingMessage } from './outbox.ts';
export { RoomSync, type RoomSyncDeps } from './room-sync.ts';
export { ActionError, MessageActions, type MessageActionsDeps } from './message-actions.ts';
export { Timeline } from './timeline.ts';
export { RoomList, type RoomListDeps } from './room-list.ts';
export { ReadReporter, type ReadReporterDeps } from './read-reporter.ts';
export { ReadReceipts, type Reader } from './read-receipts.ts';
export type {
  Ack,
  AckResult,
  ClientEventName,
  ClientToServerEvents,
  ClientEvents,
  JoinResult,
  ActivityEvent,
  PresenceEvent,
  ReadReceiptEvent,
  ReadStateEvent,
  ServerToClientEvents,
  TypingEvent,
} from '../core/events.ts';
export type {
  Attachment,
  HistoryPage,
  Member,
  Message,
  MessageAttachment,
  PresentUser,
  Room,
  RoomListEntry,
  LastMessage,
  SearchPage,
  TokenBody,
  UploadTarget,
  User,
} from '../core/schemas.ts';
