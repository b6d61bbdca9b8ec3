import http from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * What CloudFront does to a route with a read timeout, in front of the realtime container:
 * an origin that sends nothing for `readTimeoutMs` (no response yet, or no new bytes) is
 * cut, and a viewer still waiting for a response gets `504`. WebSocket connections are
 * piped and cut the same way when the origin stays silent that long. HTTP requests and
 * responses cross an origin-leg latency, as between an edge and the origin's region: a
 * long-poll the server answers exactly `pingInterval` after it arrived then takes slightly
 * longer than that as CloudFront measures it.
 */
export class ReadTimeoutProxy {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Requests cut for the timeout: what a viewer would have seen as 504 or a reset. */
  timeouts = 0;
  port = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly readTimeoutMs: number,
    /** One way, CloudFront edge ↔ origin region: edges are not next to the origin. */
    private readonly originLatencyMs = 40,
  ) {}

  async start(): Promise<void> {
    const latency = this.originLatencyMs;
    const later = (fn: () => void) => setTimeout(fn, latency);
    const server = http.createServer((req, res) => {
      let timer: NodeJS.Timeout;
      let cut = false;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          cut = true;
          this.timeouts++;
          upstream.destroy();
          if (!res.headersSent)
            res.writeHead(504, { 'content-type': 'text/plain' }).end('origin read timeout');
          else res.destroy();
        }, this.readTimeoutMs);
      };
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: this.upstreamPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          // What CloudFront receives, one origin-leg latency after the origin sent it.
          later(() => {
            if (cut) return;
            arm();
            res.writeHead(up.statusCode ?? 502, up.headers);
          });
          up.on('data', (chunk: Buffer) =>
            later(() => {
              if (cut) return;
              arm();
              res.write(chunk);
            }),
          );
          up.on('end', () =>
            later(() => {
              if (cut) return;
              clearTimeout(timer);
              res.end();
            }),
          );
        },
      );
      upstream.on('error', () => {
        clearTimeout(timer);
        if (cut) return;
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      // The request reaches the origin one latency after CloudFront sent it (and started waiting).
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        arm();
        later(() => upstream.end(Buffer.concat(body)));
      });
    });
    server.on('upgrade', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
      const upstream = connect(this.upstreamPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      let timer: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.timeouts++;
          upstream.destroy();
          client.destroy();
        }, this.readTimeoutMs);
      };
      upstream.on('connect', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (head.length) upstream.write(head);
        arm();
        upstream.on('data', arm);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      client.on('close', () => {
        clearTimeout(timer);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
