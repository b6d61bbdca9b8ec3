import http from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * What CloudFront does to a route with a read timeout, in front of the realtime container:
 * an origin that sends nothing for `readTimeoutMs` (no response yet, or no new bytes) is
 * cut, and a viewer still waiting for a response gets `504`. WebSocket connections are
 * piped and cut the same way when the origin stays silent that long.
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
  ) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: this.upstreamPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          arm();
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.on('data', (chunk: Buffer) => {
            arm();
            res.write(chunk);
          });
          up.on('end', () => {
            clearTimeout(timer);
            res.end();
          });
        },
      );
      let timer: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.timeouts++;
          upstream.destroy();
          if (!res.headersSent)
            res.writeHead(504, { 'content-type': 'text/plain' }).end('origin read timeout');
          else res.destroy();
        }, this.readTimeoutMs);
      };
      upstream.on('error', () => {
        clearTimeout(timer);
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      });
      req.pipe(upstream);
      req.on('end', arm);
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
