import { beforeAll, describe, expect, it } from 'vitest';
import { appendMessages } from '../../core/messages/messages.ts';
import type { Message, Room } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, uniqueName } from '../../test/support.ts';

let services: Services;
let alice: TestAccount;
let room: Room;
const TOTAL = 137;
const BURST_TS = 1_700_000_000_000;

/** Seeds messages through the product's own writer: several share one millisecond. */
async function seed(roomId: string, userId: string, name: string) {
  let clock = BURST_TS;
  for (let i = 0; i < TOTAL;) {
    const size = Math.min(1 + (i % 7), TOTAL - i); // batches of 1..7 share one ts
    const drafts = Array.from({ length: size }, (_, k) => ({
      userId,
      name,
      text: `m${i + k + 1}`,
      clientMsgId: `c${i + k + 1}`,
      attachmentId: null,
    }));
    const results = await appendMessages(services.db, roomId, drafts, () => clock);
    expect(results.every((r) => r.ok)).toBe(true);
    clock += 1;
    i += size;
  }
}

let transport: FetchLike;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
  alice = new TestAccount(transport, uniqueName('alice'));
  await alice.register();
  room = await alice.createRoom('history');
  await seed(room.id, alice.user!.id, alice.username!);
});

type Page = { messages: Message[]; hasMore: boolean };

const seqs = (p: Page) => p.messages.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('GET /api/messages', () => {
  it('returns the newest 50 by default, ascending, with the full message shape', async () => {
    const res = await alice.history({ roomId: room.id });
    expect(res.status).toBe(200);
    expect(seqs(res.body)).toEqual(range(TOTAL - 49, TOTAL));
    expect(res.body.hasMore).toBe(true);
    expect(res.body.messages.at(-1)).toEqual({
      id: expect.any(String),
      roomId: room.id,
      seq: TOTAL,
      userId: alice.user!.id,
      name: alice.username,
      text: `m${TOTAL}`,
      ts: expect.any(Number),
      clientMsgId: `c${TOTAL}`,
      attachment: null,
      version: TOTAL,
      editedAt: null,
      deletedAt: null,
      replyTo: null,
      reactions: [],
    });
    const room2 = await alice.request<{ room: Room }>('GET', `/api/rooms/${room.id}`);
    expect(room2.body.room.lastSeq).toBe(TOTAL);
  });

  it('timestamps are non-decreasing with seq', async () => {
    const res = await alice.history({ roomId: room.id, afterSeq: 0, limit: 100 });
    const ts = res.body.messages.map((m) => m.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
  });

  it.each([1, 7, 50, 100])(
    'pages backwards with beforeSeq (limit %i): every message exactly once',
    async (limit) => {
      const all: number[] = [];
      let cursor: number | undefined;
      for (;;) {
        const res = await alice.history({ roomId: room.id, limit, ...(cursor ? { beforeSeq: cursor } : {}) });
        expect(res.status).toBe(200);
        all.unshift(...seqs(res.body));
        expect(seqs(res.body)).toEqual([...seqs(res.body)].sort((a, b) => a - b));
        if (!res.body.hasMore) break;
        cursor = res.body.messages[0]!.seq;
      }
      expect(all).toEqual(range(1, TOTAL));
    },
  );

  it.each([1, 9, 100])(
    'pages forwards with afterSeq (limit %i): every message exactly once',
    async (limit) => {
      const all: number[] = [];
      let cursor = 0;
      for (;;) {
        const res = await alice.history({ roomId: room.id, afterSeq: cursor, limit });
        all.push(...seqs(res.body));
        if (!res.body.hasMore) break;
        cursor = res.body.messages.at(-1)!.seq;
      }
      expect(all).toEqual(range(1, TOTAL));
    },
  );

  it('hasMore is exact at the edges', async () => {
    expect((await alice.history({ roomId: room.id, afterSeq: TOTAL - 5, limit: 5 })).body.hasMore).toBe(
      false,
    );
    expect((await alice.history({ roomId: room.id, afterSeq: TOTAL - 6, limit: 5 })).body.hasMore).toBe(true);
    expect((await alice.history({ roomId: room.id, beforeSeq: 6, limit: 5 })).body.hasMore).toBe(false);
    expect((await alice.history({ roomId: room.id, beforeSeq: 7, limit: 5 })).body.hasMore).toBe(true);
    const past = await alice.history({ roomId: room.id, afterSeq: TOTAL });
    expect(past.body).toEqual({ messages: [], hasMore: false });
  });

  it('beforeTs returns messages strictly older than T, newest first in the page', async () => {
    const cut = BURST_TS + 5;
    const res = await alice.history({ roomId: room.id, beforeTs: cut, limit: 100 });
    expect(res.body.messages.every((m) => m.ts < cut)).toBe(true);
    const older = await alice.history({ roomId: room.id, afterSeq: 0, limit: 100 });
    const expected = older.body.messages.filter((m) => m.ts < cut).map((m) => m.seq);
    expect(seqs(res.body)).toEqual(expected);
    expect(res.body.hasMore).toBe(false);
  });

  it('beforeTs pages cover everything, though equal timestamps may straddle an edge', async () => {
    const all = new Set<number>();
    let cursor: number | undefined;
    for (let guard = 0; guard < 100; guard++) {
      const res = await alice.history({
        roomId: room.id,
        limit: 10,
        ...(cursor ? { beforeTs: cursor } : {}),
      });
      seqs(res.body).forEach((s) => all.add(s));
      if (!res.body.hasMore) break;
      cursor = res.body.messages[0]!.ts;
    }
    // Paging by ts skips the rest of a millisecond that straddles an edge: that is why beforeSeq exists.
    expect(all.size).toBeLessThanOrEqual(TOTAL);
    expect(Math.max(...all)).toBe(TOTAL);
  });

  it.each([
    ['limit 0', { limit: 0 }],
    ['limit 101', { limit: 101 }],
    ['limit 1.5', { limit: 1.5 }],
    ['limit abc', { limit: 'abc' }],
    ['two cursors', { beforeSeq: 5, afterSeq: 1 }],
    ['beforeTs and beforeSeq', { beforeTs: 5, beforeSeq: 5 }],
    ['negative seq', { afterSeq: -1 }],
    ['unknown parameter', { order: 'asc' }],
  ])('rejects %s with 400', async (_l, q) => {
    const res = await alice.history({ roomId: room.id, ...q });
    expect(res.status).toBe(400);
    expect((res.body as unknown as { error: { code: string } }).error.code).toBe('invalid_request');
  });

  it('requires roomId', async () => {
    expect((await alice.request('GET', '/api/messages')).status).toBe(400);
  });

  it('answers 404 to a non-member', async () => {
    const eve = new TestAccount(transport, uniqueName('eve'));
    await eve.register();
    const res = await eve.history({ roomId: room.id });
    expect(res.status).toBe(404);
  });
});
