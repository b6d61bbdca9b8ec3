import net from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 standing between a server under test and a real dependency, so a
 * test can cut, refuse or stall that dependency without touching the shared instance.
 */
type ProxyMode = 'pass' | 'refuse' | 'stall';

export interface TcpProxy {
  port: number;
  mode: ProxyMode;
  /**
   * pass: forward; refuse: close new connections at once; stall: accept and forward nothing
   * (existing connections freeze too); stall → pass heals every held connection.
   */
  setMode(mode: ProxyMode): void;
  /** Destroys every open connection (both sides), as a crashed server or broken network would. */
  cut(): void;
  /** Open client connections right now. */
  connections(): number;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';

  type Pair = { client: net.Socket; upstream?: net.Socket; drop: () => void };
  const forward = (pair: Pair) => {
    if (!pair.upstream) {
      const upstream = net.connect(targetPort, targetHost);
      pair.upstream = upstream;
      upstream.on('error', pair.drop);
      upstream.on('close', pair.drop);
    }
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
    pair.client.resume();
    pair.upstream.resume();
  };
  const pairs = new Set<Pair>();

  const server = net.createServer((client) => {
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    const pair: Pair = {
      client,
      drop: () => {
        client.destroy();
        pair.upstream?.destroy();
        pairs.delete(pair);
      },
    };
    pairs.add(pair);
    client.on('error', pair.drop);
    client.on('close', pair.drop);
    // Stalled: a black hole; the connection is open and nothing ever comes back (until healed).
    if (mode === 'stall') client.pause();
    else forward(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get mode() {
      return mode;
    },
    setMode(next) {
      const healing = mode === 'stall' && next === 'pass';
      mode = next;
      // The partition heals: held connections deliver again, late, as TCP would.
      if (healing) for (const p of pairs) forward(p);
      if (next === 'stall') {
        // Existing connections stop delivering in both directions, without closing.
        for (const p of pairs) {
          p.client.unpipe();
          p.upstream?.unpipe();
          p.client.pause();
          p.upstream?.pause();
        }
      }
    },
    cut() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
    },
    connections: () => pairs.size,
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port that was free a moment ago (bind 0, read, release). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
