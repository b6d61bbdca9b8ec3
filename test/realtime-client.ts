import type { Socket as ClientSocket } from 'socket.io-client';
import { openSocket as openClientSocket, type ChatSocket } from '../client/socket.ts';
import type {
  ActivityEvent,
  ClientToServerEvents,
  JoinResult,
  PresenceEvent,
  ReadReceiptEvent,
  ReadStateEvent,
  TypingEvent,
  UserOnlineEvent,
} from '../core/events.ts';
import type { Ack } from '../core/events.ts';
import type { Message, Room } from '../core/schemas.ts';
import type { TestAccount } from './accounts.ts';

/**
 * Socket clients that read like the domain: `await alice.join(room)`, `await bob.next('message')`.
 * Free of vitest, so benchmarks and scripts can use them too.
 */

type Inbound = {
  message: Message;
  presence: PresenceEvent;
  typing: TypingEvent;
  message_updated: Message;
  // The user's channel.
  room_added: { room: Room };
  room_removed: { roomId: string };
  room_updated: { room: Room };
  activity: ActivityEvent;
  user_online: UserOnlineEvent;
  read: ReadReceiptEvent;
  read_state: ReadStateEvent;
};
const INBOUND = [
  'message',
  'presence',
  'typing',
  'message_updated',
  'room_added',
  'room_removed',
  'room_updated',
  'activity',
  'user_online',
  'read',
  'read_state',
] as const satisfies readonly InboundEvent[];
type InboundEvent = keyof Inbound;

export interface ConnectOptions {
  /** How to authenticate: the token in `auth`, an `Authorization: Bearer` header, the cookie header, or nothing. */
  via?: 'token' | 'bearer' | 'cookie' | 'none';
  token?: string;
  origin?: string;
  transports?: ('websocket' | 'polling')[];
}

/** A real socket.io-client socket that keeps what it receives, in order, until consumed. */
export class ChatClient {
  private readonly inbox = Object.fromEntries(INBOUND.map((e) => [e, []])) as unknown as {
    [E in InboundEvent]: Inbound[E][];
  };
  private readonly waiters: {
    event: InboundEvent;
    match: (x: never) => boolean;
    resolve: (x: never) => void;
  }[] = [];
  /** Every message ever received, live or through join, by seq; the highest version wins. */
  readonly seen = new Map<string, Map<number, Message>>();

  constructor(
    readonly socket: ChatSocket,
    readonly name: string,
  ) {
    for (const event of INBOUND) {
      this.raw.on(event, (payload: Inbound[typeof event]) => this.deliver(event, payload));
    }
  }

  private deliver<E extends InboundEvent>(event: E, payload: Inbound[E]): void {
    if (event === 'message' || event === 'message_updated') this.remember([payload as Message]);
    const i = this.waiters.findIndex((w) => w.event === event && w.match(payload as never));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(payload as never);
      return;
    }
    this.inbox[event].push(payload);
  }

  remember(messages: Message[]): void {
    for (const m of messages) {
      let room = this.seen.get(m.roomId);
      if (!room) this.seen.set(m.roomId, (room = new Map()));
      const held = room.get(m.seq);
      if (!held || (held.version ?? 0) <= (m.version ?? 0)) room.set(m.seq, m);
    }
  }

  /** The next received `event` matching `match` (already received or still to come). */
  next<E extends InboundEvent>(
    event: E,
    match: (x: Inbound[E]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Inbound[E]> {
    const box = this.inbox[event];
    const i = box.findIndex(match);
    if (i >= 0) return Promise.resolve(box.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        event,
        match: match as (x: never) => boolean,
        resolve: (x: never) => {
          clearTimeout(timer);
          resolve(x);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no '${event}' event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Events of a kind received and not consumed yet. */
  pending<E extends InboundEvent>(event: E): Inbound[E][] {
    return [...(this.inbox[event] as Inbound[E][])];
  }

  /** The socket without the typed contract: for sending what a well-behaved client would not. */
  get raw(): ClientSocket {
    return this.socket as unknown as ClientSocket;
  }

  emit<E extends keyof ClientToServerEvents>(
    event: E,
    payload: unknown,
  ): Promise<Ack<Record<string, unknown>>> {
    return this.raw.timeout(10_000).emitWithAck(event, payload);
  }

  async join(room: Room | string, sinceSeq?: number, sinceVersion?: number): Promise<Ack<JoinResult>> {
    const roomId = typeof room === 'string' ? room : room.id;
    const ack = (await this.emit('join', {
      roomId,
      ...(sinceSeq === undefined ? {} : { sinceSeq }),
      ...(sinceVersion === undefined ? {} : { sinceVersion }),
    })) as Ack<JoinResult>;
    if (ack.ok) this.remember([...ack.messages, ...(ack.changes ?? [])]);
    return ack;
  }

  async joined(room: Room | string, sinceSeq?: number, sinceVersion?: number): Promise<JoinResult> {
    const ack = await this.join(room, sinceSeq, sinceVersion);
    if (!ack.ok) throw new Error(`${this.name} could not join: ${JSON.stringify(ack.error)}`);
    return ack;
  }

  async send(
    room: Room | string,
    text: string,
    extra: Record<string, unknown> = {},
  ): Promise<Ack<{ message: Message }>> {
    const roomId = typeof room === 'string' ? room : room.id;
    return (await this.emit('message', { roomId, text, ...extra })) as Ack<{ message: Message }>;
  }

  async sent(room: Room | string, text: string, extra: Record<string, unknown> = {}): Promise<Message> {
    const ack = await this.send(room, text, extra);
    if (!ack.ok) throw new Error(`${this.name} could not send: ${JSON.stringify(ack.error)}`);
    return ack.message;
  }

  /** `edit`, `delete` or `react` on a message; the ack as it came. */
  async change(
    event: 'edit' | 'delete' | 'react',
    room: Room | string,
    messageId: string,
    extra: Record<string, unknown> = {},
  ): Promise<Ack<{ message: Message }>> {
    const roomId = typeof room === 'string' ? room : room.id;
    return (await this.emit(event, { roomId, messageId, ...extra })) as Ack<{ message: Message }>;
  }

  /** The same, expecting success: the message as the server answered it. */
  async changed(
    event: 'edit' | 'delete' | 'react',
    room: Room | string,
    messageId: string,
    extra: Record<string, unknown> = {},
  ): Promise<Message> {
    const ack = await this.change(event, room, messageId, extra);
    if (!ack.ok) throw new Error(`${this.name} could not ${event}: ${JSON.stringify(ack.error)}`);
    return ack.message;
  }

  /** `read` {roomId, seq}; the ack as it came. */
  read(room: Room | string, seq: number): Promise<Ack<{ lastReadSeq?: number }>> {
    return this.emit('read', { roomId: typeof room === 'string' ? room : room.id, seq });
  }

  typing(room: Room | string, typing: boolean): Promise<Ack> {
    return this.emit('typing', { roomId: typeof room === 'string' ? room : room.id, typing });
  }

  leave(room: Room | string): Promise<Ack> {
    return this.emit('leave', { roomId: typeof room === 'string' ? room : room.id });
  }

  /** Resolves when the server ends this connection. */
  disconnected(): Promise<string> {
    if (!this.socket.connected) return Promise.resolve('already disconnected');
    return new Promise((resolve) => this.socket.once('disconnect', (reason) => resolve(reason)));
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** Opens a socket; resolves once connected, rejects with the connect_error. */
export function openSocket(
  url: string,
  opts: ConnectOptions & { cookie?: string; bearer?: string },
  name = 'client',
): Promise<ChatClient> {
  const headers: Record<string, string> = {};
  if (opts.origin) headers.origin = opts.origin;
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  const socket = openClientSocket(
    url,
    { token: opts.token, cookie: opts.cookie },
    {
      transports: opts.transports ?? ['websocket'],
      extraHeaders: headers,
      reconnection: false,
      forceNew: true,
    },
  );
  const client = new ChatClient(socket, name);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
  });
}

/** A registered user with a REST client and the ability to open sockets. */
export class TestUser {
  constructor(
    readonly api: TestAccount,
    readonly url: string,
  ) {}

  get id(): string {
    return this.api.user!.id;
  }

  get name(): string {
    return this.api.user!.username;
  }

  get token(): string {
    return this.api.jwt!;
  }

  /** A socket for this user (by token unless told otherwise), against this or another server. */
  connect(opts: ConnectOptions = {}, url = this.url): Promise<ChatClient> {
    const via = opts.via ?? 'token';
    return openSocket(
      url,
      {
        ...opts,
        token: via === 'token' ? (opts.token ?? this.token) : undefined,
        cookie: via === 'cookie' ? `sid=${this.token}` : undefined,
        bearer: via === 'bearer' ? (opts.token ?? this.token) : undefined,
      },
      this.name,
    );
  }

  async leaveRoom(room: Room): Promise<void> {
    const res = await this.api.request('DELETE', `/api/rooms/${room.id}/members/me`);
    if (res.status !== 204) throw new Error(`leave: ${res.status}`);
  }

  async logout(): Promise<void> {
    const token = this.token;
    const res = await this.api.request('POST', '/api/auth/logout', undefined, {
      authorization: `Bearer ${token}`,
    });
    if (res.status !== 204) throw new Error(`logout: ${res.status}`);
  }
}
