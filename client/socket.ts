import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
// Type-only: the event contract the server is typed from; no server code in a client bundle.
import type { ClientToServerEvents, ServerToClientEvents } from '../core/events.ts';

/** A Socket.IO socket typed by the contract: what it emits, what it hears, every ack. */
export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface SocketAuth {
  /** A session token (native clients): sent as `auth.token`, which wins over any cookie. */
  token?: string;
  /** A `sid=<jwt>` cookie header for non-browser runtimes that keep the cookie themselves. */
  cookie?: string;
}

/**
 * Opens the realtime connection. In a browser the `sid` cookie rides along (withCredentials);
 * a native app passes its token. Reconnection with backoff is Socket.IO's own; see
 * Connection for the state it goes through and RoomSync for catching up after it.
 */
export function openSocket(
  baseUrl: string | undefined,
  auth: SocketAuth = {},
  options: Partial<ManagerOptions & SocketOptions> = {},
): ChatSocket {
  const extraHeaders = { ...(auth.cookie ? { cookie: auth.cookie } : {}), ...options.extraHeaders };
  return io(baseUrl || undefined, {
    path: '/socket.io',
    withCredentials: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5_000,
    ...(auth.token ? { auth: { token: auth.token } } : {}),
    ...options,
    ...(Object.keys(extraHeaders).length > 0 ? { extraHeaders } : {}),
  });
}
