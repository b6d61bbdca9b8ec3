import { beforeAll, describe, expect, it } from 'vitest';
import { commitBatch } from '../../core/messages/batch.ts';
import { appendMessages } from '../../core/messages/messages.ts';
import type { Message, Room, SearchPage } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount } from '../../test/accounts.ts';
import { restApp, sharedServices, uniqueName } from '../../test/support.ts';

/**
 * GET /api/search against the database of the run (real Postgres in CI, PGlite without
 * TEST_DATABASE_URL): matching, scope, changes and paging. Every test uses words unique to
 * this run (`tag`), so other files' messages in the shared database never match.
 */

let services: Services;
let alice: TestAccount;
let bob: TestAccount;
let room: Room;
let transport: (path: string, init?: RequestInit) => Response | Promise<Response>;
const tag = uniqueName('w').replace(/_/g, '');

async function send(roomId: string, who: TestAccount, texts: string[], ts?: number) {
  const results = await appendMessages(
    services.db,
    roomId,
    texts.map((text) => ({
      userId: who.user!.id,
      name: who.username!,
      text,
      clientMsgId: null,
      attachmentId: null,
    })),
    ts === undefined ? undefined : () => ts,
  );
  return results.map((r) => {
    if (!r.ok) throw new Error(r.error.message);
    return r.message;
  });
}

function search(who: TestAccount, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  return who.request<SearchPage & { error?: { code: string } }>('GET', `/api/search?${qs}`);
}

const texts = (p: { messages: Message[] }) => p.messages.map((m) => m.text);

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
  alice = new TestAccount(transport, uniqueName('alice'));
  bob = new TestAccount(transport, uniqueName('bob'));
  await alice.register();
  await bob.register();
  room = await alice.createRoom('search');
  await alice.addMember(room.id, bob.username!);
});

describe('GET /api/search: matching', () => {
  it('matches every word, the last one as a prefix, case-insensitively, newest first, in the full shape', async () => {
    const [, , third] = await send(room.id, alice, [
      `${tag}a Quick brown FOX`,
      `${tag}a quick red fox`,
      `${tag}a the QUICK foxes run`,
      `${tag}a slow brown dog`,
    ]);
    const res = await search(bob, { q: `${tag}A quick FO` });
    expect(res.status).toBe(200);
    expect(texts(res.body)).toEqual([
      `${tag}a the QUICK foxes run`,
      `${tag}a quick red fox`,
      `${tag}a Quick brown FOX`,
    ]);
    expect(res.body.nextCursor).toBeNull();
    expect(res.body.messages[0]).toEqual({ ...third, attachment: null });
    // Not a prefix but the last: "quick" must be a whole word, "fo" need not.
    expect(texts((await search(bob, { q: `${tag}a qui fox` })).body)).toEqual([]);
    expect(texts((await search(bob, { q: `${tag}a brown` })).body)).toEqual([
      `${tag}a slow brown dog`,
      `${tag}a Quick brown FOX`,
    ]);
  });

  it('tokenizes every script: Cyrillic and accented words fold case; a CJK run without spaces is one word', async () => {
    await send(room.id, alice, [
      `${tag}b Привет МИР`,
      `${tag}b École française`,
      `${tag}b 東京タワーに行った 今日`,
      `${tag}b Ελληνικά ΚΕΙΜΕΝΑ`,
    ]);
    expect(texts((await search(alice, { q: `${tag}b мир` })).body)).toEqual([`${tag}b Привет МИР`]);
    expect(texts((await search(alice, { q: `${tag}b привет ми` })).body)).toEqual([`${tag}b Привет МИР`]);
    expect(texts((await search(alice, { q: `${tag}b école FRANÇAISE` })).body)).toEqual([
      `${tag}b École française`,
    ]);
    expect(texts((await search(alice, { q: `${tag}b κειμενα` })).body)).toEqual([`${tag}b Ελληνικά ΚΕΙΜΕΝΑ`]);
    // `simple` does not segment CJK: the run 東京タワーに行った is one word, so its start
    // matches as the last (prefix) word, and a word inside the run does not match at all.
    expect(texts((await search(alice, { q: `${tag}b 東京` })).body)).toEqual([
      `${tag}b 東京タワーに行った 今日`,
    ]);
    expect(texts((await search(alice, { q: `${tag}b 今日` })).body)).toEqual([
      `${tag}b 東京タワーに行った 今日`,
    ]);
    expect(texts((await search(alice, { q: `${tag}b タワー` })).body)).toEqual([]);
  });

  it('treats tsquery operators and quotes in the query as plain characters', async () => {
    await send(room.id, alice, [`${tag}c it's a:b (test) fox!`, `${tag}c other`]);
    for (const q of [
      `${tag}c it's`,
      `${tag}c fox!`,
      `${tag}c (test)`,
      `${tag}c fox & !`,
      `${tag}c fox | other`,
      `${tag}c !fox`,
      `${tag}c fox:*`,
      `${tag}c 'fox' <-> 'a'`,
      `${tag}c \\' fox`,
      `${tag}c fox'); DROP TABLE messages; --`,
    ]) {
      const res = await search(alice, { q });
      expect(res.status, q).toBe(200);
      // Every word of each query is ANDed: none of them can turn into OR or NOT.
      expect(
        texts(res.body).every((t) => t === `${tag}c it's a:b (test) fox!`),
        q,
      ).toBe(true);
    }
    expect(texts((await search(alice, { q: `${tag}c fox!` })).body)).toEqual([
      `${tag}c it's a:b (test) fox!`,
    ]);
    expect(texts((await search(alice, { q: `${tag}c !fox` })).body)).toEqual([
      `${tag}c it's a:b (test) fox!`,
    ]);
    expect(texts((await search(alice, { q: `${tag}c fox | other` })).body)).toEqual([]);
  });
});

describe('GET /api/search: scope', () => {
  it("searches the caller's rooms only, and a room left no longer matches", async () => {
    const other = await bob.createRoom('bob alone');
    await send(other.id, bob, [`${tag}d secret plans`]);
    await send(room.id, alice, [`${tag}d shared plans`]);
    expect(texts((await search(alice, { q: `${tag}d plans` })).body)).toEqual([`${tag}d shared plans`]);
    expect(texts((await search(bob, { q: `${tag}d plans` })).body)).toEqual([
      `${tag}d shared plans`,
      `${tag}d secret plans`,
    ]);
    await bob.rooms.leave(other.id);
    expect(texts((await search(bob, { q: `${tag}d plans` })).body)).toEqual([`${tag}d shared plans`]);
  });

  it('filters by roomId; a room the caller is not in, or no such room, is 404', async () => {
    const second = await alice.createRoom('second');
    await send(second.id, alice, [`${tag}e in second`]);
    await send(room.id, alice, [`${tag}e in first`]);
    expect(texts((await search(alice, { q: `${tag}e in`, roomId: second.id })).body)).toEqual([
      `${tag}e in second`,
    ]);
    expect(texts((await search(alice, { q: `${tag}e`, roomId: room.id })).body)).toEqual([
      `${tag}e in first`,
    ]);
    for (const roomId of [second.id, 'no-such-room', 'x'.repeat(128)]) {
      const res = await search(bob, { q: `${tag}e`, roomId });
      expect(res.status, roomId).toBe(404);
      expect(res.body.error?.code).toBe('not_found');
    }
  });

  it('answers an empty page to a user in no room', async () => {
    const loner = new TestAccount(transport, uniqueName('loner'));
    await loner.register();
    expect((await search(loner, { q: tag })).body).toEqual({ messages: [], nextCursor: null });
  });

  it('answers 401 without a session', async () => {
    const anonymous = new TestAccount(transport);
    expect((await search(anonymous, { q: 'x' })).status).toBe(401);
  });
});

describe('GET /api/search: bad requests', () => {
  it.each([
    ['no q', {}],
    ['an empty q', { q: '' }],
    ['a blank q', { q: '   ' }],
    ['punctuation only', { q: '?! -- ...' }],
    ['201 code points', { q: 'é'.repeat(201) }],
    ['limit 0', { q: 'x', limit: 0 }],
    ['limit 51', { q: 'x', limit: 51 }],
    ['limit 0x10', { q: 'x', limit: '0x10' }],
    ['limit 1e1', { q: 'x', limit: '1e1' }],
    ['limit " 5"', { q: 'x', limit: ' 5' }],
    ['an empty limit', { q: 'x', limit: '' }],
    ['a cursor that is not base64url', { q: 'x', cursor: 'not a cursor!' }],
    ['a cursor that is not JSON', { q: 'x', cursor: Buffer.from('{ts:1').toString('base64url') }],
    [
      'a cursor of the wrong shape',
      { q: 'x', cursor: Buffer.from('{"ts":"1","id":"a"}').toString('base64url') },
    ],
    [
      'a cursor with extra fields',
      { q: 'x', cursor: Buffer.from('{"ts":1,"id":"a","x":1}').toString('base64url') },
    ],
    ['an unknown parameter', { q: 'x', sort: 'asc' }],
  ])('%s → 400 invalid_request', async (_name, query) => {
    const res = await search(alice, query as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_request');
  });

  it('takes 200 code points of astral characters (400 UTF-16 units)', async () => {
    const res = await search(alice, { q: '😀'.repeat(199) + 'a' });
    expect(res.status).toBe(200);
  });
});

describe('GET /api/search: edits and deletes', () => {
  it('an edited message matches its new text only; a deleted one never matches', async () => {
    const [edited, deleted] = await send(room.id, alice, [`${tag}f before edit`, `${tag}f doomed words`]);
    const change = (op: Parameters<typeof commitBatch>[2][number]) =>
      commitBatch(services.db, room.id, [op]).then(({ results }) => expect(results[0]!.ok).toBe(true));
    await change({
      kind: 'edit',
      userId: alice.user!.id,
      messageId: edited!.id,
      text: `${tag}f after change`,
    });
    await change({ kind: 'delete', userId: alice.user!.id, messageId: deleted!.id });
    expect(texts((await search(alice, { q: `${tag}f before` })).body)).toEqual([]);
    expect(texts((await search(alice, { q: `${tag}f after` })).body)).toEqual([`${tag}f after change`]);
    expect(texts((await search(alice, { q: `${tag}f doomed` })).body)).toEqual([]);
    expect((await search(alice, { q: `${tag}f` })).body.messages.map((m) => m.id)).toEqual([edited!.id]);
  });
});

describe('GET /api/search: paging', () => {
  it('visits every match exactly once, newest first, with many messages sharing one ts, across rooms', async () => {
    const second = await alice.createRoom('paging');
    const ts = Date.now() + 1000;
    const expected: { id: string; ts: number }[] = [];
    // Bursts of one millisecond in both rooms, and noise that does not match in between.
    for (let burst = 0; burst < 4; burst++) {
      for (const r of [room.id, second.id]) {
        const sent = await send(
          r,
          alice,
          Array.from({ length: 9 }, (_, i) =>
            i % 3 === 2 ? `${tag}g noise ${i}` : `${tag}g page ${burst}.${i}`,
          ),
          ts + burst,
        );
        expected.push(...sent.filter((m) => m.text.includes('page')));
      }
    }
    expected.sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    for (const limit of [1, 5, 7, 50]) {
      const seen: Message[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await search(alice, { q: `${tag}g page`, limit, ...(cursor ? { cursor } : {}) });
        expect(res.status).toBe(200);
        expect(res.body.messages.length).toBeLessThanOrEqual(limit);
        seen.push(...res.body.messages);
        cursor = res.body.nextCursor;
        pages += 1;
        expect(pages).toBeLessThan(100);
      } while (cursor !== null);
      // Exactly once each, in (ts, id) order descending (ids are ASCII: the same order in SQL and JS).
      expect(seen.map((m) => m.id)).toEqual(expected.map((m) => m.id));
      expect(pages).toBe(Math.ceil(expected.length / limit));
    }
  });

  it('defaults to 20 a page', async () => {
    const r = await alice.createRoom('default page');
    await send(
      r.id,
      alice,
      Array.from({ length: 25 }, (_, i) => `${tag}h n${i}`),
    );
    const first = await search(alice, { q: `${tag}h`, roomId: r.id });
    expect(first.body.messages).toHaveLength(20);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await search(alice, { q: `${tag}h`, roomId: r.id, cursor: first.body.nextCursor! });
    expect(second.body.messages).toHaveLength(5);
    expect(second.body.nextCursor).toBeNull();
  });
});
