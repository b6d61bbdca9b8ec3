import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../core/events.ts';
import { apiBase } from './client.ts';

export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

/**
 * The realtime connection. The handshake carries the httpOnly cookie; Socket.IO reconnects
 * by itself with backoff, and views re-join (with sinceSeq) on every `connect`.
 */
export class Connection {
  readonly socket: ChatSocket;
  state: ConnectionState = 'connecting';
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private everConnected = false;

  constructor(onUnauthorized: () => void) {
    this.socket = io(apiBase || undefined, {
      path: '/socket.io',
      withCredentials: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
    });
    this.socket.on('connect', () => {
      this.everConnected = true;
      this.set('connected');
    });
    this.socket.on('disconnect', (reason) => {
      this.set(navigator.onLine ? 'reconnecting' : 'offline');
      // A server-side disconnect is not retried by Socket.IO; a revoked session then fails
      // the next handshake with `unauthorized`, anything else (a restart) gets back in.
      if (reason === 'io server disconnect') this.socket.connect();
    });
    this.socket.on('connect_error', (err) => {
      if (err.message === 'unauthorized') {
        this.socket.disconnect();
        onUnauthorized();
        return;
      }
      this.set(!navigator.onLine ? 'offline' : this.everConnected ? 'reconnecting' : 'connecting');
    });
    window.addEventListener('offline', this.onBrowserOffline);
    window.addEventListener('online', this.onBrowserOnline);
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
    window.removeEventListener('offline', this.onBrowserOffline);
    window.removeEventListener('online', this.onBrowserOnline);
    this.listeners.clear();
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  private readonly onBrowserOffline = () => {
    if (!this.socket.connected) this.set('offline');
  };

  private readonly onBrowserOnline = () => {
    // Skip the remaining backoff: the network is back now.
    if (!this.socket.connected) {
      this.set('reconnecting');
      this.socket.connect();
    }
  };

  private set(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    for (const l of this.listeners) l(state);
  }
}
