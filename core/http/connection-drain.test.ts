import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionDrain } from './connection-drain.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.closeAllConnections();
});

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  servers.push(server);
  const drain = connectionDrain(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, drain, port: (server.address() as AddressInfo).port };
}

/** A raw connection, so the test decides exactly when the request bytes are sent. */
async function rawConnection(port: number) {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  const ended = new Promise<string>((resolve) => {
    socket.once('close', () => resolve(received));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error:${err.code}`));
  });
  return { socket, ended };
}

const request = (socket: Socket) => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

describe('connectionDrain', () => {
  it('answers a request sent on a connection accepted just before the stop', async () => {
    const { drain, port } = await listen((_req, res) => res.end('hello'));
    const { socket, ended } = await rawConnection(port);
    await new Promise((r) => setTimeout(r, 50)); // accepted, no request yet
    const closed = drain.close();
    await new Promise((r) => setTimeout(r, 200)); // http.Server#close would have reset it by now
    request(socket);
    const answer = await ended;
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toMatch(/hello$/);
    await closed;
  });

  it('lets an answer in progress finish, then closes its connection', async () => {
    const { drain, port } = await listen((_req, res) => setTimeout(() => res.end('slow'), 300));
    const { socket, ended } = await rawConnection(port);
    request(socket);
    await new Promise((r) => setTimeout(r, 50));
    const closed = drain.close();
    expect(await ended).toMatch(/slow$/);
    await closed;
  });

  it('closes an idle keep-alive connection at once and stops listening', async () => {
    const { drain, port } = await listen((_req, res) => res.end('ok'));
    const { socket, ended } = await rawConnection(port);
    request(socket);
    await new Promise((r) => setTimeout(r, 50)); // answered; the connection is kept alive
    const started = Date.now();
    await drain.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(await ended).toMatch(/ok$/);
    const refused = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve('connected'));
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('does not wait forever for a connection that never sends a request', async () => {
    const { drain, port } = await listen((_req, res) => res.end('ok'));
    const { ended } = await rawConnection(port);
    const started = Date.now();
    await drain.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await ended).toBe('');
  });
});
