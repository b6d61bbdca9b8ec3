import { beforeAll, describe, expect, it } from 'vitest';
import { TestAccount } from '../accounts.ts';
import { restApp, uniqueName } from '../support.ts';
import { restCorpus, type RestCase } from './rest-corpus.ts';

/**
 * Every hostile REST request gets exactly the contract's answer: the right status, a
 * `{error: {code, message}}` body with nothing else in it, and never a stack, SQL or 500.
 */
type App = Awaited<ReturnType<typeof restApp>>;
let app: App;
let alice: TestAccount;
let cases: RestCase[];

beforeAll(async () => {
  app = await restApp();
  const transport = (path: string, init?: RequestInit) => app.request(path, init);
  alice = new TestAccount(transport, uniqueName('alice'));
  const bob = new TestAccount(transport, uniqueName('bob'));
  await alice.register();
  await bob.register();
  const room = await alice.createRoom('hostile');
  cases = restCorpus({ roomId: room.id, otherUsername: bob.username! });
});

const LEAKS = /(stack|prisma|postgres|select |insert |at \w+ \(|node_modules|\.ts:\d+)/i;

async function send(c: RestCase): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { ...c.headers };
  if (!c.anonymous && alice.cookie) headers.cookie ??= alice.cookie;
  const res = await app.request(c.path, { method: c.method, headers, body: c.body as BodyInit | undefined });
  return { status: res.status, text: await res.text() };
}

describe('hostile REST input', () => {
  it('has at least 200 cases covering every route', () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const routes = new Set(
      cases.map(
        (c) => `${c.method} ${c.path.split('?')[0]!.replace(/\/api\/rooms\/[^/]+/, '/api/rooms/:id')}`,
      ),
    );
    for (const r of [
      'POST /api/auth/register',
      'POST /api/auth/login',
      'GET /api/auth/me',
      'POST /api/rooms',
      'GET /api/rooms',
      'GET /api/rooms/:id',
      'POST /api/rooms/:id/members',
      'GET /api/rooms/:id/members',
      'DELETE /api/rooms/:id/members/me',
      'GET /api/messages',
      'POST /api/upload/init',
      'POST /api/upload/complete',
    ]) {
      expect(routes, r).toContain(r);
    }
  });

  it('answers every case with the contract error, never a crash or a leak', async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const { status, text } = await send(c);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        failures.push(`${c.name}: not JSON (${status}) ${text.slice(0, 120)}`);
        continue;
      }
      const error = (body as { error?: { code?: string; message?: unknown } }).error;
      const keys = Object.keys(body as object);
      if (status !== c.status || error?.code !== c.code) {
        failures.push(`${c.name}: expected ${c.status} ${c.code}, got ${status} ${text.slice(0, 200)}`);
      } else if (keys.length !== 1 || typeof error.message !== 'string') {
        failures.push(`${c.name}: body is not {error: {code, message}}: ${text.slice(0, 200)}`);
      } else if (LEAKS.test(text)) {
        failures.push(`${c.name}: internal detail in body: ${text.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('still serves normally after the corpus', async () => {
    const me = await alice.request('GET', '/api/auth/me');
    expect(me.status).toBe(200);
    const room = await alice.createRoom('after the storm');
    expect(room.name).toBe('after the storm');
  });
});
