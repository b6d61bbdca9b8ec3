import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import type { UploadTarget } from '../../core/storage/index.ts';
import { startServer, type RunningServer } from '../../server/app.ts';
import { TestAccount } from '../accounts.ts';
import { openSocket } from '../realtime-support.ts';
import { sharedServices, testConfig, uniqueName } from '../support.ts';

/**
 * Everything the server logs at the most verbose level, through a whole session (register,
 * login, failed logins, forged tokens, REST and sockets, an upload and its signed URLs,
 * logout), holds no password, token, cookie or signed URL.
 */
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

let server: RunningServer;
const secrets: string[] = [];
const password = 'hunter2-but-longer-Zq9';

beforeAll(async () => {
  const logger = createLogger('trace', sink);
  const base = await sharedServices();
  const config = testConfig({ LOG_LEVEL: 'trace', METRICS_TOKEN: 'metrics-token-0123456789abcdef' });
  server = await startServer(config, logger, { ...base, config, logger });
  secrets.push(password, 'metrics-token-0123456789abcdef');

  const alice = new TestAccount(server.url, uniqueName('logs'), password);
  await alice.register();
  const jwt = alice.jwt!;
  secrets.push(jwt, ...jwt.split('.').slice(1));
  expect((await alice.login()).status).toBe(200);
  secrets.push(alice.jwt!, alice.jwt!.split('.')[2]!);
  const wrong = 'wrong-password-Xy7-unique';
  secrets.push(wrong);
  expect((await alice.login(wrong)).status).toBe(401);
  expect((await new TestAccount(server.url, 'nobody_here', wrong).login()).status).toBe(401);

  const forged = `${jwt.split('.').slice(0, 2).join('.')}.forgedsignatureAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
  secrets.push('forgedsignatureAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  expect(
    (await alice.request('GET', '/api/auth/me', undefined, { authorization: `Bearer ${forged}` })).status,
  ).toBe(401);
  expect(
    (await alice.request('GET', '/api/auth/me', undefined, { authorization: `Bearer ${jwt}` })).status,
  ).toBe(200);
  expect(
    (
      await fetch(`${server.url}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-0123456789abcdef' },
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await fetch(`${server.url}/metrics`, {
        headers: { authorization: 'Bearer wrong-metrics-token-000000' },
      })
    ).status,
  ).toBe(401);

  const room = await alice.createRoom('logged');
  expect((await alice.request('GET', `/api/rooms/${room.id}`)).status).toBe(200);
  expect((await alice.request('GET', '/api/no-such-route')).status).toBe(404);
  const init = await alice.request<UploadTarget>('POST', '/api/upload/init', {
    roomId: room.id,
    filename: 'a.txt',
    mime: 'text/plain',
    bytes: 5,
  });
  expect(init.status).toBe(200);
  const target = init.body;
  if (target.method === 'POST') {
    secrets.push(...Object.values(target.fields).filter((v) => v.length > 20));
    const form = new FormData();
    for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
    form.append('file', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
    expect((await fetch(target.url, { method: 'POST', body: form })).status).toBeLessThan(300);
  } else {
    secrets.push(new URL(target.url).search);
    expect(
      (await fetch(target.url, { method: 'PUT', headers: target.headers, body: 'hello' })).status,
    ).toBeLessThan(300);
  }
  const done = await alice.request<{ attachment: { id: string; url: string } }>(
    'POST',
    '/api/upload/complete',
    { roomId: room.id, key: target.key },
  );
  expect(done.status).toBe(201);
  secrets.push(new URL(done.body.attachment.url).search.slice(1));

  const socket = await openSocket(server.url, { token: jwt });
  await socket.joined(room);
  const sent = await socket.sent(room, 'with a file', { attachmentId: done.body.attachment.id });
  secrets.push(new URL(sent.attachment!.url).search.slice(1));
  const history = await alice.history({ roomId: room.id });
  secrets.push(new URL(history.body.messages[0]!.attachment!.url).search.slice(1));
  socket.close();
  await openSocket(server.url, { token: forged }).then(
    () => expect.fail('forged handshake accepted'),
    (err: Error) => expect(err.message).toBe('unauthorized'),
  );
  await openSocket(server.url, { cookie: `sid=${forged}` }).catch(() => undefined);

  const last = alice.jwt!;
  expect((await alice.request('POST', '/api/auth/logout')).status).toBe(204);
  expect(
    (await alice.request('GET', '/api/auth/me', undefined, { authorization: `Bearer ${last}` })).status,
  ).toBe(401);
});

afterAll(() => server?.close());

describe('log redaction', () => {
  it('logged the session (the check below is not vacuous)', () => {
    const text = lines.join('\n');
    expect(lines.length, text).toBeGreaterThanOrEqual(14);
    for (const route of ['/register', '/login', '/me', '/init', '/complete', '/logout', '/metrics'])
      expect(text).toContain(route);
  });

  it('labels requests with their route pattern (GET routes included), never the raw path', () => {
    const routes = new Set(lines.map((l) => (JSON.parse(l) as { route?: string }).route).filter(Boolean));
    for (const r of ['/api/auth/me', '/api/messages', '/metrics', '/api/rooms/:roomId', 'unmatched'])
      expect(routes).toContain(r);
    expect([...routes].some((r) => r!.includes(lines.length ? 'no-such-route' : '-'))).toBe(false);
  });

  it('never logs a password, token, cookie, metrics token or signed URL', () => {
    const leaks: string[] = [];
    for (const line of lines) {
      for (const s of secrets)
        if (s && line.includes(s)) leaks.push(`${s.slice(0, 16)}… in ${line.slice(0, 300)}`);
      if (/sid=|X-Amz-Signature|X-Amz-Credential|Signature=|"policy"|eyJ[A-Za-z0-9_-]{10,}\.eyJ/i.test(line))
        leaks.push(line.slice(0, 300));
    }
    expect(leaks).toEqual([]);
  });
});
