import type { ChatSocket } from './socket.ts';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

/** What the platform knows about the network (browser: navigator.onLine; RN: NetInfo). */
export interface NetworkSignal {
  online(): boolean;
  /** Calls back on every change; returns the unsubscribe. */
  subscribe(onChange: (online: boolean) => void): () => void;
}

const alwaysOnline: NetworkSignal = { online: () => true, subscribe: () => () => undefined };

/** Handshake refusals that pass: the server is busy, limiting or briefly without its database. */
const RETRIED_REFUSALS = new Set(['rate_limited', 'unavailable', 'internal']);
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * The realtime connection and its state. Socket.IO reconnects by itself with backoff; a
 * server-side disconnect and a handshake the server refused (neither of which it retries)
 * are retried here: a refusal after its `retryAfterMs` (a reconnect cool-down, too many
 * connections) or with backoff, up to 30 s. A handshake refused as `unauthorized` ends the
 * connection and tells the app (the session is over). When the network comes back the
 * remaining wait is skipped. Views re-join on every `connect`.
 */
export class Connection {
  state: ConnectionState = 'connecting';
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private everConnected = false;
  private readonly unsubscribeNetwork: () => void;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private refusals = 0;

  constructor(
    readonly socket: ChatSocket,
    options: { onUnauthorized: () => void; network?: NetworkSignal },
  ) {
    const network = options.network ?? alwaysOnline;
    this.socket.on('connect', () => {
      this.everConnected = true;
      this.refusals = 0;
      this.set('connected');
    });
    this.socket.on('disconnect', (reason) => {
      this.set(network.online() ? 'reconnecting' : 'offline');
      // A server-side disconnect is not retried by Socket.IO; a revoked session then fails
      // the next handshake with `unauthorized`, anything else (a restart) gets back in.
      if (reason === 'io server disconnect') this.socket.connect();
    });
    this.socket.on('connect_error', (err) => {
      if (err.message === 'unauthorized') {
        this.socket.disconnect();
        options.onUnauthorized();
        return;
      }
      this.set(!network.online() ? 'offline' : this.everConnected ? 'reconnecting' : 'connecting');
      // A refusal by the server's middleware leaves the socket inactive: Socket.IO gives up.
      if (!this.socket.active && RETRIED_REFUSALS.has(err.message)) {
        const data = (err as Error & { data?: { retryAfterMs?: unknown } }).data;
        const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.refusals++);
        const asked = typeof data?.retryAfterMs === 'number' ? data.retryAfterMs : 0;
        // Jitter, so a server's worth of clients refused together do not return together.
        this.retryLater(Math.max(asked, backoff) * (1 + Math.random() * 0.2));
      }
    });
    this.unsubscribeNetwork = network.subscribe((online) => {
      if (!online && this.socket.connected) {
        // Gone now, not after the ping timeout: drop the transport so the state says so and
        // Socket.IO's reconnection (and the re-join's catch-up) starts at once.
        this.socket.io.engine?.close();
        this.set('offline');
        return;
      }
      if (this.socket.connected) return;
      if (!online) {
        this.set('offline');
        return;
      }
      // Skip the remaining backoff: the network is back now.
      this.set('reconnecting');
      this.cancelRetry();
      this.socket.connect();
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    listener(this.state);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.cancelRetry();
    this.unsubscribeNetwork();
    this.listeners.clear();
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  private retryLater(ms: number): void {
    this.cancelRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.socket.connected) this.socket.connect();
    }, ms);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private set(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.listeners) l(state);
  }
}
