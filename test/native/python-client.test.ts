import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { sharedServices, testConfig, uniqueName } from '../support.ts';

/**
 * A real non-JS client (Debian's python3-socketio, python3-requests) against a server whose
 * CORS_ORIGINS, as in production, does not include the Origin that python's websocket
 * library sends: token and Bearer handshakes get in, the same token as a cookie does not.
 * Debian's interpreter on purpose (/usr/bin/python3): that is where apt installs the modules.
 */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python_client.py', import.meta.url));
const APP_ORIGIN = 'https://chat.example.com';

const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
    done();
  },
});

let server: RunningServer;
const handshakeOrigins: (string | undefined)[] = [];

beforeAll(async () => {
  const base = await sharedServices();
  const config = testConfig({
    CORS_ORIGINS: APP_ORIGIN,
    LOG_LEVEL: 'info',
    RATE_LIMIT_REGISTER_PER_HOUR: '1000000',
  });
  const logger = createLogger('info', sink);
  server = await startServer(config, logger, { ...base, config, logger });
  server.realtime.io.on('connection', (s) => handshakeOrigins.push(s.handshake.headers.origin));
});
afterAll(() => server?.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

it('python-socketio: token from /api/auth/token, Bearer and auth.token over websocket, cookie refused', async () => {
  const username = uniqueName('py');
  const password = 'native client password';
  const registered = await post('/api/auth/register', { username, password });
  expect(registered.status).toBe(201);
  const cookie = registered.headers.get('set-cookie')!.split(';')[0]!;
  const room = (await (await post('/api/rooms', { name: 'native' }, { cookie })).json()) as {
    room: { id: string };
  };

  const { stdout } = await promisify(execFile)(
    PYTHON,
    [SCRIPT, server.url, username, password, room.room.id],
    {
      timeout: 60_000,
    },
  );
  const steps = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string })
      .map((s) => [s.step, s]),
  ) as Record<string, Record<string, unknown>>;

  expect(steps.token).toEqual({
    step: 'token',
    status: 200,
    set_cookie: null,
    keys: ['expiresAt', 'token', 'user'],
  });
  for (const name of ['bearer', 'auth_token']) {
    expect(steps[name]).toMatchObject({
      transport: 'websocket',
      joined: true,
      sent: { ok: true, message: { roomId: room.room.id, text: `hello from ${name}`, clientMsgId: name } },
      received: { text: `hello from ${name}`, clientMsgId: name },
    });
  }
  expect(steps.cookie).toMatchObject({ connected: false });
  expect(steps.logout).toMatchObject({ status: 204 });
  expect(steps.after_logout).toMatchObject({ status: 401 });

  // Not vacuous: python's websocket library did send an Origin, and it is not an allowed one.
  expect(handshakeOrigins).toHaveLength(2);
  for (const origin of handshakeOrigins) {
    expect(origin).toMatch(/^http:\/\//);
    expect(origin).not.toBe(APP_ORIGIN);
  }
  // The refusal is logged with its reason.
  expect(logLines).toContainEqual(
    expect.objectContaining({
      msg: 'handshake refused',
      reason: 'origin_not_allowed',
      via: 'cookie',
      origin: handshakeOrigins[0],
    }),
  );
});
