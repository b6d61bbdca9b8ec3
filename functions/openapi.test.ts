import { randomInt } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { respondWithError } from '../core/http/app.ts';
import { documentInfo, documentRoute, registerDocumentComponents } from '../core/http/openapi.ts';
import type { AppEnv } from '../core/http/types.ts';
import { appendMessages } from '../core/messages/messages.ts';
import type { Services } from '../core/services.ts';
import { restApp, sharedServices, testConfig, uniqueName } from '../test/support.ts';
import { apiDocument } from './docs/document.ts';
import { createApi, OPENAPI_PATH } from './index.ts';

/**
 * The OpenAPI document against the contract and against the server: every contract route is
 * in it, every route the app serves is documented, and every documented answer of every
 * route is produced for real and validated against the documented schema for its status
 * (objects closed to undeclared properties, so a stray field fails too).
 */

/** The contract's REST routes that exist today (Part 1, /api/auth/token, /api/openapi.json). */
const CONTRACT_ROUTES = [
  'POST /api/auth/register',
  'POST /api/auth/login',
  'POST /api/auth/token',
  'POST /api/auth/logout',
  'GET /api/auth/me',
  'POST /api/rooms',
  'GET /api/rooms',
  'GET /api/rooms/{roomId}',
  'POST /api/rooms/{roomId}/members',
  'GET /api/rooms/{roomId}/members',
  'DELETE /api/rooms/{roomId}/members/me',
  'PATCH /api/rooms/{roomId}',
  'DELETE /api/rooms/{roomId}/members/{userId}',
  'POST /api/rooms/direct',
  'GET /api/messages',
  'GET /api/search',
  'POST /api/upload/init',
  'POST /api/upload/complete',
  'GET /api/openapi.json',
];

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>>;
};

let services: Services;
let app: Awaited<ReturnType<typeof restApp>>;
let doc: Doc;
let ajv: Ajv2020;

/** Every object schema closed to properties it does not declare (a copy: the served document is open). */
function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? mapValues(v, closed) : closed(v);
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}
const mapValues = (o: unknown, f: (v: unknown) => unknown) =>
  Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, v]) => [k, f(v)]));

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Validates a body against the documented JSON schema of (route, status). */
function conforms(route: string, status: number, body: unknown): void {
  const [method, path] = route.split(' ') as [string, string];
  const ref = `openapi#/${pointer('paths', path, method.toLowerCase(), 'responses', String(status), 'content', 'application/json', 'schema')}`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  if (!validate(body)) {
    throw new Error(
      `${route} ${status}: ${JSON.stringify(body)} does not conform: ${ajv.errorsText(validate.errors)}`,
    );
  }
}

type Call = { method: string; path: string; body?: unknown; headers?: Record<string, string>; raw?: string };
type Target = { request(path: string, init?: RequestInit): Response | Promise<Response> };
const send = async (target: Target, call: Call): Promise<Response> => {
  const headers: Record<string, string> = { ...call.headers };
  if (call.body !== undefined || call.raw !== undefined) headers['content-type'] ??= 'application/json';
  return target.request(call.path, {
    method: call.method,
    headers,
    body: call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body)),
  });
};

const password = 'openapi password';
const register = async (target: Target = app, username = uniqueName('oa')) => {
  const res = await send(target, {
    method: 'POST',
    path: '/api/auth/register',
    body: { username, password },
  });
  expect(res.status).toBe(201);
  const { user } = (await res.json()) as { user: { id: string; username: string } };
  return { user, cookie: res.headers.get('set-cookie')!.split(';')[0]! };
};

beforeAll(async () => {
  services = await sharedServices();
  app = await restApp(services);
  doc = (await (await app.request(OPENAPI_PATH)).json()) as Doc;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(closed(doc) as object, 'openapi');
});

describe('the document', () => {
  it('is OpenAPI 3.1 and holds every contract route, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual([...CONTRACT_ROUTES].sort());
  });

  it('is what the mounted routes generate, though built from the declarations alone (no services)', () => {
    const api = createApi(services);
    registerDocumentComponents(api);
    api.openAPIRegistry.registerPath(documentRoute);
    expect(apiDocument()).toEqual(api.getOpenAPI31Document(documentInfo));
    expect(doc).toEqual(apiDocument());
  });

  it('documents every route the API serves', () => {
    const served = createApi(services)
      .routes.filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}').replace(/\/$/, '') || '/'}`);
    for (const route of new Set(served)) expect(CONTRACT_ROUTES).toContain(route);
  });

  it('documents 500 internal and 503 unavailable for every route, as the error mapper answers them', async () => {
    const mapper = new Hono<AppEnv>()
      .get('/internal', (c) => respondWithError(c, new Error('a bug')))
      .get('/unavailable', (c) =>
        respondWithError(c, Object.assign(new Error('down'), { code: 'ECONNREFUSED' })),
      );
    const internal = await (await mapper.request('/internal')).json();
    const unavailable = await (await mapper.request('/unavailable')).json();
    for (const route of CONTRACT_ROUTES.filter((r) => r !== `GET ${OPENAPI_PATH}`)) {
      conforms(route, 500, internal);
      conforms(route, 503, unavailable);
    }
  });
});

describe('every documented answer is what the route answers', () => {
  /** Route → status → how to make the server answer it. */
  let cases: Record<string, Record<number, () => Promise<Response>>>;

  beforeAll(async () => {
    const alice = await register();
    const bob = await register();
    const as = (who: { cookie: string }, call: Call, target: Target = app) =>
      send(target, { ...call, headers: { cookie: who.cookie, ...call.headers } });
    const roomRes = await as(alice, { method: 'POST', path: '/api/rooms', body: { name: 'documented' } });
    const room = ((await roomRes.json()) as { room: { id: string } }).room;
    await appendMessages(services.db, room.id, [
      {
        userId: alice.user.id,
        name: alice.user.username,
        text: 'hello',
        clientMsgId: 'c1',
        attachmentId: null,
      },
      {
        userId: alice.user.id,
        name: alice.user.username,
        text: 'again',
        clientMsgId: null,
        attachmentId: null,
      },
    ]);
    const huge = JSON.stringify({ name: 'x'.repeat(70 * 1024) });
    const stranger = await register();
    const leaver = await register();
    await as(alice, {
      method: 'POST',
      path: `/api/rooms/${room.id}/members`,
      body: { username: leaver.user.username },
    });

    // A room of alice's with two more members: for rename and removal.
    const owned = (
      (await (await as(alice, { method: 'POST', path: '/api/rooms', body: { name: 'owned' } })).json()) as {
        room: { id: string };
      }
    ).room;
    const [member2, removable, dmPeer] = [await register(), await register(), await register()];
    for (const m of [member2, removable])
      await as(alice, {
        method: 'POST',
        path: `/api/rooms/${owned.id}/members`,
        body: { username: m.user.username },
      });

    // Throttles at 1 so their 429 is one request away (own apps: the shared one keeps defaults).
    const throttledApp = await restApp({
      ...services,
      config: testConfig({
        RATE_LIMIT_REGISTER_PER_HOUR: '1',
        RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME: '1',
        RATE_LIMIT_UNKNOWN_USERNAME_LOOKUPS: '1',
        RATE_LIMIT_UPLOAD_INIT_PER_HOUR: '1',
        TRUST_PROXY_HOPS: '1',
      }),
    });
    // An address of its own: the register throttle counts per address.
    const address = `10.${randomInt(250)}.${randomInt(250)}.${randomInt(250)}`;
    const throttled = {
      request: (path: string, init: RequestInit = {}) =>
        throttledApp.request(path, {
          ...init,
          headers: { ...(init.headers as object), 'x-forwarded-for': address },
        }),
    } satisfies Target;
    const throttledUser = await register(throttled);
    await send(throttled, {
      method: 'POST',
      path: '/api/auth/login',
      body: { username: throttledUser.user.username, password: 'wrong password' },
    });
    // One unknown username and one upload init use up those throttles.
    const throttledRoom = (await (
      await as(throttledUser, { method: 'POST', path: '/api/rooms', body: { name: 'throttled' } }, throttled)
    ).json()) as { room: { id: string } };
    const lookUpUnknown = () =>
      as(
        throttledUser,
        {
          method: 'POST',
          path: `/api/rooms/${throttledRoom.room.id}/members`,
          body: { username: uniqueName('nobody') },
        },
        throttled,
      );
    expect((await lookUpUnknown()).status).toBe(404);
    const initThrottled = () =>
      as(
        throttledUser,
        {
          method: 'POST',
          path: '/api/upload/init',
          body: { roomId: throttledRoom.room.id, filename: 'c.png', mime: 'image/png', bytes: 10 },
        },
        throttled,
      );
    expect((await initThrottled()).status).toBe(200);

    const upload = async (bytes: number, sent: number) => {
      const init = await as(alice, {
        method: 'POST',
        path: '/api/upload/init',
        body: { roomId: room.id, filename: 'a.txt', mime: 'text/plain', bytes },
      });
      const target = (await init.json()) as { key: string; url: string; fields: Record<string, string> };
      const form = new FormData();
      for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
      form.append('file', new Blob([new Uint8Array(sent)], { type: 'text/plain' }), 'a.txt');
      expect((await fetch(target.url, { method: 'POST', body: form })).ok).toBe(true);
      return target.key;
    };
    const goodKey = await upload(5, 5);
    const badKey = await upload(5, 3);
    const complete = (key: string) =>
      as(alice, { method: 'POST', path: '/api/upload/complete', body: { roomId: room.id, key } });
    const credentials = (username: string, pw = password) => ({ username, password: pw });

    cases = {
      'POST /api/auth/register': {
        201: () =>
          send(app, { method: 'POST', path: '/api/auth/register', body: credentials(uniqueName('oa')) }),
        400: () =>
          send(app, { method: 'POST', path: '/api/auth/register', body: credentials('no spaces allowed') }),
        409: () =>
          send(app, { method: 'POST', path: '/api/auth/register', body: credentials(alice.user.username) }),
        413: () => send(app, { method: 'POST', path: '/api/auth/register', raw: huge }),
        429: () =>
          send(throttled, {
            method: 'POST',
            path: '/api/auth/register',
            body: credentials(uniqueName('oa')),
          }),
      },
      ...Object.fromEntries(
        (['login', 'token'] as const).map((route) => [
          `POST /api/auth/${route}`,
          {
            200: () =>
              send(app, {
                method: 'POST',
                path: `/api/auth/${route}`,
                body: credentials(alice.user.username),
              }),
            400: () => send(app, { method: 'POST', path: `/api/auth/${route}`, body: { username: 'a' } }),
            401: () =>
              send(app, {
                method: 'POST',
                path: `/api/auth/${route}`,
                body: credentials(alice.user.username, 'nope nope'),
              }),
            413: () => send(app, { method: 'POST', path: `/api/auth/${route}`, raw: huge }),
            429: () =>
              send(throttled, {
                method: 'POST',
                path: `/api/auth/${route}`,
                body: credentials(throttledUser.user.username),
              }),
          },
        ]),
      ),
      'POST /api/auth/logout': {
        204: async () => as(await register(), { method: 'POST', path: '/api/auth/logout' }),
      },
      'GET /api/auth/me': {
        200: () => as(alice, { method: 'GET', path: '/api/auth/me' }),
        401: () => send(app, { method: 'GET', path: '/api/auth/me' }),
      },
      'POST /api/rooms': {
        201: () => as(alice, { method: 'POST', path: '/api/rooms', body: { name: 'another' } }),
        400: () => as(alice, { method: 'POST', path: '/api/rooms', body: { name: '' } }),
        401: () => send(app, { method: 'POST', path: '/api/rooms', body: { name: 'x' } }),
        413: () => as(alice, { method: 'POST', path: '/api/rooms', raw: huge }),
      },
      'GET /api/rooms': {
        200: () => as(alice, { method: 'GET', path: '/api/rooms' }),
        401: () => send(app, { method: 'GET', path: '/api/rooms' }),
      },
      'GET /api/rooms/{roomId}': {
        200: () => as(alice, { method: 'GET', path: `/api/rooms/${room.id}` }),
        401: () => send(app, { method: 'GET', path: `/api/rooms/${room.id}` }),
        404: () => as(stranger, { method: 'GET', path: `/api/rooms/${room.id}` }),
      },
      'POST /api/rooms/{roomId}/members': {
        201: () =>
          as(alice, {
            method: 'POST',
            path: `/api/rooms/${room.id}/members`,
            body: { username: bob.user.username },
          }),
        200: () =>
          as(alice, {
            method: 'POST',
            path: `/api/rooms/${room.id}/members`,
            body: { username: alice.user.username },
          }),
        400: () =>
          as(alice, { method: 'POST', path: `/api/rooms/${room.id}/members`, body: { username: ' ' } }),
        401: () =>
          send(app, { method: 'POST', path: `/api/rooms/${room.id}/members`, body: { username: 'x' } }),
        403: async () => {
          // Nobody can be added to a direct room (alice and bob's: the direct route's own 201
          // case needs alice and dmPeer's to be new).
          const opened = await as(alice, {
            method: 'POST',
            path: '/api/rooms/direct',
            body: { username: bob.user.username },
          });
          const direct = ((await opened.json()) as { room: { id: string } }).room;
          return as(alice, {
            method: 'POST',
            path: `/api/rooms/${direct.id}/members`,
            body: { username: dmPeer.user.username },
          });
        },
        404: () =>
          as(stranger, { method: 'POST', path: `/api/rooms/${room.id}/members`, body: { username: 'x' } }),
        413: () => as(alice, { method: 'POST', path: `/api/rooms/${room.id}/members`, raw: huge }),
        429: lookUpUnknown,
      },
      'GET /api/rooms/{roomId}/members': {
        200: () => as(alice, { method: 'GET', path: `/api/rooms/${room.id}/members` }),
        401: () => send(app, { method: 'GET', path: `/api/rooms/${room.id}/members` }),
        404: () => as(stranger, { method: 'GET', path: `/api/rooms/${room.id}/members` }),
      },
      'DELETE /api/rooms/{roomId}/members/me': {
        204: () => as(leaver, { method: 'DELETE', path: `/api/rooms/${room.id}/members/me` }),
        401: () => send(app, { method: 'DELETE', path: `/api/rooms/${room.id}/members/me` }),
        404: () => as(stranger, { method: 'DELETE', path: `/api/rooms/${room.id}/members/me` }),
      },
      'PATCH /api/rooms/{roomId}': {
        200: () => as(alice, { method: 'PATCH', path: `/api/rooms/${owned.id}`, body: { name: 'renamed' } }),
        400: () => as(alice, { method: 'PATCH', path: `/api/rooms/${owned.id}`, body: { name: '' } }),
        401: () => send(app, { method: 'PATCH', path: `/api/rooms/${owned.id}`, body: { name: 'x' } }),
        403: () => as(member2, { method: 'PATCH', path: `/api/rooms/${owned.id}`, body: { name: 'x' } }),
        404: () => as(stranger, { method: 'PATCH', path: `/api/rooms/${owned.id}`, body: { name: 'x' } }),
        413: () => as(alice, { method: 'PATCH', path: `/api/rooms/${owned.id}`, raw: huge }),
      },
      'DELETE /api/rooms/{roomId}/members/{userId}': {
        204: () =>
          as(alice, { method: 'DELETE', path: `/api/rooms/${owned.id}/members/${removable.user.id}` }),
        401: () => send(app, { method: 'DELETE', path: `/api/rooms/${owned.id}/members/${member2.user.id}` }),
        403: () => as(member2, { method: 'DELETE', path: `/api/rooms/${owned.id}/members/${alice.user.id}` }),
        404: () =>
          as(stranger, { method: 'DELETE', path: `/api/rooms/${owned.id}/members/${member2.user.id}` }),
      },
      'POST /api/rooms/direct': {
        201: () =>
          as(alice, { method: 'POST', path: '/api/rooms/direct', body: { username: dmPeer.user.username } }),
        200: () =>
          as(dmPeer, { method: 'POST', path: '/api/rooms/direct', body: { username: alice.user.username } }),
        400: () =>
          as(alice, { method: 'POST', path: '/api/rooms/direct', body: { username: alice.user.username } }),
        401: () => send(app, { method: 'POST', path: '/api/rooms/direct', body: { username: 'x' } }),
        404: () =>
          as(alice, { method: 'POST', path: '/api/rooms/direct', body: { username: uniqueName('nobody') } }),
        413: () => as(alice, { method: 'POST', path: '/api/rooms/direct', raw: huge }),
        429: () =>
          as(
            throttledUser,
            { method: 'POST', path: '/api/rooms/direct', body: { username: alice.user.username } },
            throttled,
          ),
      },
      'GET /api/messages': {
        200: () => as(alice, { method: 'GET', path: `/api/messages?roomId=${room.id}` }),
        400: () => as(alice, { method: 'GET', path: `/api/messages?roomId=${room.id}&limit=0` }),
        401: () => send(app, { method: 'GET', path: `/api/messages?roomId=${room.id}` }),
        404: () => as(stranger, { method: 'GET', path: `/api/messages?roomId=${room.id}` }),
      },
      'GET /api/search': {
        200: () => as(alice, { method: 'GET', path: `/api/search?q=hello&limit=1` }),
        400: () => as(alice, { method: 'GET', path: `/api/search?q=${encodeURIComponent('?!')}` }),
        401: () => send(app, { method: 'GET', path: '/api/search?q=hello' }),
        404: () => as(stranger, { method: 'GET', path: `/api/search?q=hello&roomId=${room.id}` }),
      },
      'POST /api/upload/init': {
        200: () =>
          as(alice, {
            method: 'POST',
            path: '/api/upload/init',
            body: { roomId: room.id, filename: 'b.png', mime: 'image/png', bytes: 10 },
          }),
        400: () =>
          as(alice, {
            method: 'POST',
            path: '/api/upload/init',
            body: { roomId: room.id, filename: 'b.html', mime: 'text/html', bytes: 10 },
          }),
        401: () => send(app, { method: 'POST', path: '/api/upload/init', body: {} }),
        404: () =>
          as(stranger, {
            method: 'POST',
            path: '/api/upload/init',
            body: { roomId: room.id, filename: 'b.png', mime: 'image/png', bytes: 10 },
          }),
        413: () =>
          as(alice, {
            method: 'POST',
            path: '/api/upload/init',
            body: {
              roomId: room.id,
              filename: 'b.png',
              mime: 'image/png',
              bytes: services.config.storage.maxUploadBytes + 1,
            },
          }),
        429: initThrottled,
      },
      'POST /api/upload/complete': {
        201: () => complete(goodKey),
        200: () => complete(goodKey),
        400: () => as(alice, { method: 'POST', path: '/api/upload/complete', body: { roomId: room.id } }),
        401: () =>
          send(app, {
            method: 'POST',
            path: '/api/upload/complete',
            body: { roomId: room.id, key: goodKey },
          }),
        404: () =>
          as(stranger, {
            method: 'POST',
            path: '/api/upload/complete',
            body: { roomId: room.id, key: goodKey },
          }),
        413: () => as(alice, { method: 'POST', path: '/api/upload/complete', raw: huge }),
        422: () => complete(badKey),
      },
      [`GET ${OPENAPI_PATH}`]: {
        200: () => send(app, { method: 'GET', path: OPENAPI_PATH }),
      },
    };
  });

  it('has a case for every documented status but 500/503 (see above), and no undocumented one', () => {
    for (const route of CONTRACT_ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const documented = Object.keys(doc.paths[path]![method.toLowerCase()]!.responses)
        .map(Number)
        .filter((s) => s !== 500 && s !== 503);
      expect(
        Object.keys(cases[route] ?? {})
          .map(Number)
          .sort(),
        route,
      ).toEqual(documented.sort());
    }
  });

  it.each(CONTRACT_ROUTES)('%s', async (route) => {
    const [method, path] = route.split(' ') as [string, string];
    // In declaration order: the 201 of complete comes before its 200.
    for (const [status, run] of Object.entries(cases[route]!).sort(([a], [b]) =>
      a === '201' ? -1 : b === '201' ? 1 : 0,
    )) {
      const res = await run();
      const text = await res.text();
      expect(res.status, `${route}: ${text}`).toBe(Number(status));
      const responseDoc = doc.paths[path]![method.toLowerCase()]!.responses[status]!;
      if (res.status === 204) expect(text).toBe('');
      else conforms(route, res.status, JSON.parse(text));
      for (const header of Object.keys(responseDoc.headers ?? {})) {
        expect(res.headers.get(header), `${route} ${status} ${header}`).toBeTruthy();
      }
    }
  });
});
