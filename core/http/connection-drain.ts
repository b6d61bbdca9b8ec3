import { Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';

/** How long a connection that never sent a request may still send one once we stop. */
const UNUSED_GRACE_MS = 1_000;
const SWEEP_MS = 50;

interface ConnectionState {
  /** Requests answered on it so far: 0 means the client may be sending its first right now. */
  served: number;
  /** Requests in progress. */
  active: number;
  acceptedAt: number;
  /** When we ended our side. */
  endedAt?: number;
}

/**
 * Stops an HTTP server without cutting off a request the client already sent.
 *
 * `http.Server.close()` (Node ≥ 19) also closes every idle connection at once, and Node counts a
 * just-accepted connection whose request bytes are not parsed yet as idle: under load the
 * client's request is answered with a reset. Here the listener closes first, connections with
 * a request in progress end after their answer (which then says `Connection: close`), keep-alive connections that are between requests close at once, and connections
 * that never carried a request get a short grace to deliver it. Websockets are left to their
 * server (Socket.IO closes them after finishing in-flight work).
 */
export function connectionDrain(server: HttpServer) {
  const connections = new Map<Socket, ConnectionState>();
  let draining = false;

  const closeIfIdle = (socket: Socket, state: ConnectionState, now: number) => {
    if (state.active > 0) return;
    if (state.endedAt !== undefined) {
      // A client that never closes its side does not hold the shutdown open.
      if (now - state.endedAt >= UNUSED_GRACE_MS) socket.destroy();
    } else if (state.served > 0 || now - state.acceptedAt >= UNUSED_GRACE_MS) {
      // end, not destroy: the last answer may still be in the socket's write buffer.
      socket.end();
      state.endedAt = now;
    }
  };

  server.on('connection', (socket: Socket) => {
    const state: ConnectionState = { served: 0, active: 0, acceptedAt: Date.now() };
    connections.set(socket, state);
    socket.once('close', () => connections.delete(socket));
  });
  // An upgraded connection (a websocket) belongs to its server now, which closes it itself.
  server.on('upgrade', (req: { socket: Socket }) => connections.delete(req.socket));
  // First, so that `Connection: close` is set before a handler answers.
  server.prependListener('request', (req, res) => {
    const state = connections.get(req.socket);
    if (!state) return;
    state.active++;
    // Keep-alive clients then reconnect (elsewhere) instead of reusing a closing connection.
    if (draining && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      state.active--;
      state.served++;
      if (draining) closeIfIdle(req.socket, state, Date.now());
    });
  });

  return {
    /** Resolves once the listener is closed and every connection has ended. */
    close(): Promise<void> {
      draining = true;
      return new Promise<void>((resolve) => {
        const sweep = setInterval(() => {
          const now = Date.now();
          for (const [socket, state] of connections) closeIfIdle(socket, state, now);
        }, SWEEP_MS);
        // net.Server's close, not http.Server's: only stop listening, close no connection yet.
        NetServer.prototype.close.call(server, () => {
          clearInterval(sweep);
          resolve();
        });
        const now = Date.now();
        for (const [socket, state] of connections) if (state.served > 0) closeIfIdle(socket, state, now);
      });
    },
  };
}
