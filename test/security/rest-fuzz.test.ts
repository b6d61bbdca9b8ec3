import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { TestAccount } from '../accounts.ts';
import { restApp, uniqueName } from '../support.ts';

/**
 * Property-based fuzzing of the REST routes through the real app: random JSON bodies, field
 * values and query strings. Every answer is a success the contract allows or one of its
 * client errors with the `{error: {code, message}}` shape; never a 5xx.
 */
type App = Awaited<ReturnType<typeof restApp>>;
let app: App;
let alice: TestAccount;
let roomId: string;

beforeAll(async () => {
  app = await restApp();
  alice = new TestAccount((p, i) => app.request(p, i), uniqueName('fuzz'));
  await alice.register();
  roomId = (await alice.createRoom('fuzz')).id;
});

const RUNS = 40;
const CLIENT_ERRORS = new Set([
  'invalid_request',
  'not_found',
  'payload_too_large',
  'invalid_credentials',
  'unauthorized',
  'rate_limited',
  'username_taken',
]);

async function expectContractAnswer(method: string, path: string, body: string | undefined, ok: number[]) {
  const res = await app.request(path, {
    method,
    headers: { cookie: alice.cookie!, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body,
  });
  const text = await res.text();
  if (ok.includes(res.status)) return;
  expect(res.status, `${method} ${path} ${body?.slice(0, 200)} → ${text.slice(0, 200)}`).toBeLessThan(500);
  const parsed = JSON.parse(text) as { error: { code: string; message: string } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(CLIENT_ERRORS.has(parsed.error.code), text).toBe(true);
  expect(typeof parsed.error.message).toBe('string');
}

const anyJson = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));
const field = fc.oneof(
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 2 }),
);
const bodyOf = (keys: string[]) =>
  fc.oneof(
    anyJson,
    fc
      .record(Object.fromEntries(keys.map((k) => [k, field])), { requiredKeys: [] })
      .map((v) => JSON.stringify(v)),
  );

const routes: Array<{ name: string; method: string; path: () => string; keys: string[]; ok: number[] }> = [
  {
    name: 'register',
    method: 'POST',
    path: () => '/api/auth/register',
    keys: ['username', 'password'],
    ok: [201],
  },
  { name: 'login', method: 'POST', path: () => '/api/auth/login', keys: ['username', 'password'], ok: [200] },
  { name: 'create room', method: 'POST', path: () => '/api/rooms', keys: ['name'], ok: [201] },
  {
    name: 'add member',
    method: 'POST',
    path: () => `/api/rooms/${roomId}/members`,
    keys: ['username'],
    ok: [200, 201],
  },
  {
    name: 'upload init',
    method: 'POST',
    path: () => '/api/upload/init',
    keys: ['roomId', 'filename', 'mime', 'bytes'],
    ok: [200],
  },
  {
    name: 'upload complete',
    method: 'POST',
    path: () => '/api/upload/complete',
    keys: ['roomId', 'key'],
    ok: [200, 201],
  },
];

describe('REST fuzzing', () => {
  it.each(routes)('$name: random bodies get a contract answer', async ({ method, path, keys, ok }) => {
    await fc.assert(
      fc.asyncProperty(bodyOf(keys), async (body) => expectContractAnswer(method, path(), body, ok)),
      { numRuns: RUNS },
    );
  });

  it('room routes: random path ids are 404 (or 400 for a malformed body), never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }),
        fc.constantFrom('', '/members', '/members/me'),
        async (raw, suffix) => {
          const method = suffix === '/members/me' ? 'DELETE' : 'GET';
          await expectContractAnswer(method, `/api/rooms/${encodeURIComponent(raw)}${suffix}`, undefined, []);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('history: random query strings get a contract answer', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 20, unit: 'binary' }),
      fc.integer().map(String),
      fc.double().map(String),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('roomId', 'limit', 'beforeSeq', 'afterSeq', 'beforeTs', 'x'), value),
        fc.boolean(),
        async (query, ownRoom) => {
          const q = new URLSearchParams({ ...query, ...(ownRoom ? { roomId } : {}) });
          await expectContractAnswer('GET', `/api/messages?${q}`, undefined, [200]);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('search: random query strings, tsquery syntax and cursors get a contract answer', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 30, unit: 'binary' }),
      fc.string({
        maxLength: 30,
        unit: fc.constantFrom(
          'a',
          'é',
          '東',
          ' ',
          "'",
          '\\',
          '&',
          '|',
          '!',
          '(',
          ')',
          ':',
          '*',
          '<',
          '>',
          '-',
        ),
      }),
    );
    const value = fc.oneof(text, fc.integer().map(String), fc.base64String({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('q', 'roomId', 'limit', 'cursor', 'x'), value),
        text,
        fc.boolean(),
        async (query, q, ownRoom) => {
          const params = new URLSearchParams({ q, ...query, ...(ownRoom ? { roomId } : {}) });
          await expectContractAnswer('GET', `/api/search?${params}`, undefined, [200]);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});
