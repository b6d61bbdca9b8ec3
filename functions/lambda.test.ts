import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  functionUrlEvent,
  jsonBody as json,
  lambdaContext as context,
  stubLambdaEnv,
  type LambdaHandler as Handler,
} from '../test/lambda-support.ts';
import { uniqueName } from '../test/support.ts';

/**
 * The Lambda entries exactly as deployed: `handler(event)` with real Function URL (payload
 * v2) events, configured from the environment like in AWS.
 */

let auth: Handler;
let rooms: Handler;
let messages: Handler;
let search: Handler;

beforeAll(async () => {
  stubLambdaEnv();
  auth = (await import('./auth/lambda.ts')).handler as unknown as Handler;
  rooms = (await import('./rooms/lambda.ts')).handler as unknown as Handler;
  messages = (await import('./messages/lambda.ts')).handler as unknown as Handler;
  search = (await import('./search/lambda.ts')).handler as unknown as Handler;
});

afterAll(() => {
  vi.unstubAllEnvs();
});

describe('Lambda entries with Function URL events', () => {
  it('register → login → me → create room → history → search → logout', async () => {
    const username = uniqueName('lambda');
    const reg = await auth(
      functionUrlEvent('POST', '/api/auth/register', { body: { username, password: 'long enough' } }),
      context,
    );
    expect(reg.statusCode).toBe(201);
    // Set-Cookie moves to the `cookies` array; production sets Secure.
    expect(reg.cookies?.[0]).toMatch(/^sid=[^;]+;.*HttpOnly/i);
    expect(reg.cookies?.[0]).toMatch(/Secure/);

    const login = await auth(
      functionUrlEvent('POST', '/api/auth/login', { body: { username, password: 'long enough' } }),
      context,
    );
    expect(login.statusCode).toBe(200);
    const sid = /^(sid=[^;]+)/.exec(login.cookies![0]!)![1]!;

    const me = await auth(functionUrlEvent('GET', '/api/auth/me', { cookies: [sid] }), context);
    expect(me.statusCode).toBe(200);
    expect((json(me).user as { username: string }).username).toBe(username);

    const created = await rooms(
      functionUrlEvent('POST', '/api/rooms', { body: { name: 'from lambda' }, cookies: [sid] }),
      context,
    );
    expect(created.statusCode).toBe(201);
    const roomId = (json(created).room as { id: string }).id;

    const listed = await rooms(functionUrlEvent('GET', '/api/rooms', { cookies: [sid] }), context);
    expect((json(listed).rooms as { id: string }[]).map((r) => r.id)).toContain(roomId);

    const history = await messages(
      functionUrlEvent('GET', '/api/messages', { cookies: [sid], query: `roomId=${roomId}&limit=10` }),
      context,
    );
    expect(history.statusCode).toBe(200);
    expect(json(history)).toEqual({ messages: [], hasMore: false });

    const found = await search(
      functionUrlEvent('GET', '/api/search', { cookies: [sid], query: `q=hello&roomId=${roomId}` }),
      context,
    );
    expect(found.statusCode).toBe(200);
    expect(json(found)).toEqual({ messages: [], nextCursor: null });

    const out = await auth(functionUrlEvent('POST', '/api/auth/logout', { cookies: [sid] }), context);
    expect(out.statusCode).toBe(204);
    expect(out.cookies?.[0]).toMatch(/^sid=;/);
    const after = await rooms(functionUrlEvent('GET', '/api/rooms', { cookies: [sid] }), context);
    expect(after.statusCode).toBe(401);
    expect(json(after)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
  });

  it('answers errors in the contract shape, and unknown paths 404', async () => {
    const bad = await auth(
      functionUrlEvent('POST', '/api/auth/register', { body: { username: 'x' } }),
      context,
    );
    expect(bad.statusCode).toBe(400);
    expect((json(bad).error as { code: string }).code).toBe('invalid_request');
    const missing = await auth(functionUrlEvent('GET', '/api/rooms'), context);
    expect(missing.statusCode).toBe(404);
  });

  it('throttles login failures by the event source address', async () => {
    const username = uniqueName('thr');
    await auth(
      functionUrlEvent('POST', '/api/auth/register', { body: { username, password: 'long enough' } }),
      context,
    );
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const r = await auth(
        functionUrlEvent('POST', '/api/auth/login', {
          body: { username, password: 'wrong one!' },
          ip: '198.51.100.77',
        }),
        context,
      );
      statuses.push(r.statusCode);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
  });
});
