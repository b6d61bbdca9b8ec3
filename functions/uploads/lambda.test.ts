import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  functionUrlEvent,
  jsonBody as json,
  lambdaContext as context,
  stubLambdaEnv,
  type LambdaHandler as Handler,
} from '../../test/lambda-support.ts';
import { uniqueName } from '../../test/support.ts';

/** The Uploads Lambda entry as deployed: `handler(event)` with Function URL (payload v2) events. */

const event = (method: string, path: string, body: unknown, cookies?: string[]) =>
  functionUrlEvent(method, path, { body, ip: '203.0.113.20', ...(cookies ? { cookies } : {}) });

let auth: Handler;
let rooms: Handler;
let uploads: Handler;

beforeAll(async () => {
  stubLambdaEnv();
  auth = (await import('../auth/lambda.ts')).handler as unknown as Handler;
  rooms = (await import('../rooms/lambda.ts')).handler as unknown as Handler;
  uploads = (await import('./lambda.ts')).handler as unknown as Handler;
  // The first invocation opens the container's connections (embedded Postgres boots for
  // seconds): do it under the hook's timeout, not the test's.
  expect((await uploads(event('POST', '/api/upload/init', {}), context)).statusCode).toBe(401);
});

afterAll(() => {
  vi.unstubAllEnvs();
});

describe('Uploads Lambda entry', () => {
  it('init → upload to the store → complete, with a session cookie from the Auth function', async () => {
    const reg = await auth(
      event('POST', '/api/auth/register', {
        username: uniqueName('lambda'),
        password: 'long enough',
      }),
      context,
    );
    expect(reg.statusCode).toBe(201);
    const cookies = [reg.cookies![0]!.split(';')[0]!];
    const { room } = json<{ room: { id: string } }>(
      await rooms(event('POST', '/api/rooms', { name: 'files' }, cookies), context),
    );

    const body = new Uint8Array(randomBytes(1000));
    const init = await uploads(
      event(
        'POST',
        '/api/upload/init',
        { roomId: room.id, filename: 'a.pdf', mime: 'application/pdf', bytes: 1000 },
        cookies,
      ),
      context,
    );
    expect(init.statusCode).toBe(200);
    const target = json<{ key: string; method: string; url: string; fields: Record<string, string> }>(init);
    expect(target.method).toBe('POST');
    const form = new FormData();
    for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
    form.append('file', new Blob([body], { type: 'application/pdf' }));
    expect((await fetch(target.url, { method: 'POST', body: form })).status).toBe(204);

    const done = await uploads(
      event('POST', '/api/upload/complete', { roomId: room.id, key: target.key }, cookies),
      context,
    );
    expect(done.statusCode).toBe(201);
    const { attachment } = json<{ attachment: { url: string; bytes: number } }>(done);
    expect(attachment.bytes).toBe(1000);
    expect(new Uint8Array(await (await fetch(attachment.url)).arrayBuffer())).toEqual(body);

    const anonymous = await uploads(
      event('POST', '/api/upload/complete', { roomId: room.id, key: target.key }),
      context,
    );
    expect(anonymous.statusCode).toBe(401);
  });
});
