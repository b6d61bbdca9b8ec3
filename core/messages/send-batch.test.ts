import { beforeAll, describe, expect, it, vi } from 'vitest';
import { addMember, createRoom, leaveRoom } from '../rooms/rooms.ts';
import type { Services } from '../services.ts';
import { registerUser } from '../users/users.ts';
import { holdRoomLock } from '../../test/room-lock.ts';
import { sharedServices, uniqueName, usesPostgres } from '../../test/support.ts';
import { waitUntil } from '../../test/wait.ts';
import { commitBatch } from './batch.ts';
import { readHistory } from './messages.ts';
import { commitSends, type PlainSend, type SendResult } from './send-batch.ts';

let services: Services;
type User = { id: string; username: string };
let alice: User;
let bob: User;

beforeAll(async () => {
  services = await sharedServices();
  alice = await registerUser(services.db, uniqueName('alice'), 'long enough');
  bob = await registerUser(services.db, uniqueName('bob'), 'long enough');
}, 180_000);

const send = (roomId: string, user: User, text: string, clientMsgId: string | null = null): PlainSend => ({
  roomId,
  userId: user.id,
  name: user.username,
  text,
  clientMsgId,
});

const seqOf = (r: SendResult) => (r !== 'retry' && r.ok ? r.message.seq : -1);

async function roomRow(roomId: string) {
  const [row] = await services.db.query<{ last_seq: number; last_version: number; last_ts: string }>(
    'SELECT last_seq, last_version, last_ts::text AS last_ts FROM rooms WHERE id = $1',
    [roomId],
  );
  return row!;
}

async function storedSeqs(roomId: string): Promise<number[]> {
  const rows = await services.db.query<{ seq: number }>(
    'SELECT seq FROM messages WHERE room_id = $1 ORDER BY seq',
    [roomId],
  );
  return rows.map((r) => r.seq);
}

describe('commitSends (one statement for plain sends to many rooms)', () => {
  it('commits sends to several rooms at once: seqs and versions per room in order, marks raised', async () => {
    const r1 = await createRoom(services.db, alice.id, 'one');
    const r2 = await createRoom(services.db, alice.id, 'two');
    await addMember(services.db, r2.id, alice.id, bob.username);
    const now = 1_900_000_000_000;
    // Interleaved across rooms and users: each room's sends take seqs in the order given.
    const results = await commitSends(
      services.db,
      [
        send(r1.id, alice, 'a1'),
        send(r2.id, bob, 'b1'),
        send(r1.id, alice, 'a2'),
        send(r2.id, alice, 'b2'),
        send(r2.id, bob, 'b3'),
        send(r1.id, alice, 'a3'),
      ],
      () => now,
    );
    expect(results.map(seqOf)).toEqual([1, 1, 2, 2, 3, 3]);
    expect(results[3]).toMatchObject({
      ok: true,
      duplicate: false,
      message: {
        roomId: r2.id,
        seq: 2,
        version: 2,
        userId: alice.id,
        name: alice.username,
        text: 'b2',
        ts: now,
        clientMsgId: null,
        attachment: null,
        editedAt: null,
        deletedAt: null,
        replyTo: null,
        reactions: [],
      },
    });
    expect(await roomRow(r1.id)).toEqual({ last_seq: 3, last_version: 3, last_ts: String(now) });
    expect(await roomRow(r2.id)).toEqual({ last_seq: 3, last_version: 3, last_ts: String(now) });
    // History reads what the acks said.
    const page = await readHistory(services.db, r2.id, { limit: 10 });
    expect(page.messages.map((m) => [m.seq, m.text, m.version])).toEqual([
      [1, 'b1', 1],
      [2, 'b2', 2],
      [3, 'b3', 3],
    ]);
    const fromAck = results[4] !== 'retry' && results[4]!.ok ? results[4]!.message : null;
    expect(page.messages[2]).toEqual(fromAck);
  });

  it('stores any text as sent: quotes, backslashes, braces, commas, NULL, emoji, empty', async () => {
    const room = await createRoom(services.db, alice.id, 'texts');
    const texts = ['say "hi"', 'back\\slash \\"', '{a,b}', 'NULL', 'null', '', ' 🎉 ä, ', "it's"];
    const results = await commitSends(
      services.db,
      texts.map((t, i) => send(room.id, alice, t, i % 2 === 0 ? `id-${i}` : null)),
    );
    expect(results.map((r) => (r !== 'retry' && r.ok ? r.message.text : null))).toEqual(texts);
    const page = await readHistory(services.db, room.id, { limit: 20 });
    expect(page.messages.map((m) => [m.text, m.clientMsgId])).toEqual(
      texts.map((t, i) => [t, i % 2 === 0 ? `id-${i}` : null]),
    );
  });

  it('continues from the room, after the per-room transaction: seq, version and ts never go back', async () => {
    const room = await createRoom(services.db, alice.id, 'continue');
    const first = await commitBatch(
      services.db,
      room.id,
      [
        {
          kind: 'send',
          userId: alice.id,
          name: alice.username,
          text: 'x',
          clientMsgId: null,
          attachmentId: null,
        },
      ],
      () => 2_000_000_000_000,
    );
    if (!first.results[0]!.ok || !('duplicate' in first.results[0]!)) throw new Error('setup failed');
    const target = first.results[0]!.message;
    await commitBatch(services.db, room.id, [
      { kind: 'react', userId: alice.id, messageId: target.id, emoji: '👍', on: true },
    ]);
    // The clock stepped back: ts stays at the room's last one.
    const [next] = await commitSends(services.db, [send(room.id, alice, 'y')], () => 1_000);
    expect(next).toMatchObject({ ok: true, message: { seq: 2, version: 3, ts: 2_000_000_000_000 } });
    expect(await roomRow(room.id)).toEqual({ last_seq: 2, last_version: 3, last_ts: '2000000000000' });
  });

  it('answers duplicates with the original: against stored rows (as they are now) and within the batch', async () => {
    const r1 = await createRoom(services.db, alice.id, 'dupes-1');
    const r2 = await createRoom(services.db, alice.id, 'dupes-2');
    await addMember(services.db, r1.id, alice.id, bob.username);
    const [stored] = await commitSends(services.db, [send(r1.id, alice, 'hello', 'k1')]);
    if (stored === 'retry' || !stored!.ok) throw new Error('setup failed');
    // The original changes after it was sent: a retry gets it as it is now.
    await commitBatch(services.db, r1.id, [
      { kind: 'edit', userId: alice.id, messageId: stored!.message.id, text: 'hello!' },
      { kind: 'react', userId: bob.id, messageId: stored!.message.id, emoji: '🎉', on: true },
    ]);
    const results = await commitSends(services.db, [
      send(r1.id, alice, 'hello (retry)', 'k1'), // stored original
      send(r1.id, alice, 'new', 'k2'), // new
      send(r1.id, bob, 'bob k1', 'k1'), // another user may use the same id
      send(r2.id, alice, 'other room k1', 'k1'), // another room too
      send(r1.id, alice, 'new (retry in batch)', 'k2'), // the batch's own
      send(r1.id, alice, 'no id'),
      send(r1.id, alice, 'no id'), // no clientMsgId: no dedupe
    ]);
    const [again, k2, bobK1, otherRoom, k2Again, plain1, plain2] = results;
    expect(again).toMatchObject({
      ok: true,
      duplicate: true,
      message: {
        id: stored!.message.id,
        seq: 1,
        text: 'hello!',
        version: 3,
        reactions: [{ emoji: '🎉', count: 1, userIds: [bob.id] }],
      },
    });
    expect(editedAtOf(again)).not.toBeNull();
    expect(k2).toMatchObject({ ok: true, duplicate: false, message: { seq: 2, version: 4, text: 'new' } });
    expect(bobK1).toMatchObject({ ok: true, duplicate: false, message: { seq: 3, version: 5 } });
    expect(otherRoom).toMatchObject({ ok: true, duplicate: false, message: { roomId: r2.id, seq: 1 } });
    expect(k2Again).toEqual({ ...(k2 as object), duplicate: true });
    expect([plain1!, plain2!].map(seqOf)).toEqual([4, 5]);
    expect(await storedSeqs(r1.id)).toEqual([1, 2, 3, 4, 5]);
    expect(await roomRow(r1.id)).toMatchObject({ last_seq: 5, last_version: 7 });
  });

  it('refuses non-members and missing rooms without a seq, and commits the rest of the batch', async () => {
    const mine = await createRoom(services.db, alice.id, 'mine');
    const left = await createRoom(services.db, alice.id, 'left');
    await addMember(services.db, left.id, alice.id, bob.username);
    await leaveRoom(services.db, left.id, bob.id);
    const results = await commitSends(services.db, [
      send(mine.id, bob, 'not a member'),
      send(mine.id, alice, 'fine'),
      send(left.id, bob, 'left already', 'k'),
      send('no-such-room', alice, 'nowhere'),
      send(left.id, alice, 'fine too'),
    ]);
    const refused = { ok: false, error: expect.objectContaining({ code: 'forbidden' }) };
    expect(results).toEqual([
      refused,
      expect.objectContaining({ ok: true, message: expect.objectContaining({ seq: 1, text: 'fine' }) }),
      refused,
      refused,
      expect.objectContaining({ ok: true, message: expect.objectContaining({ seq: 1, text: 'fine too' }) }),
    ]);
    expect(await roomRow(mine.id)).toMatchObject({ last_seq: 1, last_version: 1 });
  });

  it('writes nothing when one send fails: the statement is atomic', async () => {
    const r1 = await createRoom(services.db, alice.id, 'atomic-1');
    const r2 = await createRoom(services.db, alice.id, 'atomic-2');
    await expect(
      commitSends(services.db, [send(r1.id, alice, 'fine'), send(r2.id, alice, 'bad\u0000text')]),
    ).rejects.toThrow();
    expect(await storedSeqs(r1.id)).toEqual([]);
    expect(await roomRow(r1.id)).toMatchObject({ last_seq: 0, last_version: 0 });
  });

  it('stays gap-free under concurrent statements and room transactions on overlapping rooms', async () => {
    const rooms = await Promise.all(
      Array.from({ length: 5 }, (_, i) => createRoom(services.db, alice.id, `c${i}`)),
    );
    // 12 statements, each over 3 of the 5 rooms (in varying order), racing 6 per-room
    // transactions; every send of user alice has a clientMsgId that two statements share.
    const statements = Array.from({ length: 12 }, (_, s) =>
      Array.from({ length: 3 }, (_, k) => rooms[(s + k * 2) % rooms.length]!).flatMap((room, k) => [
        send(room.id, alice, `s${s}-${k}`, `key-${s % 6}-${k}`),
        send(room.id, alice, `s${s}-${k}-free`),
      ]),
    );
    const perRoom = Array.from({ length: 6 }, (_, i) =>
      commitBatch(services.db, rooms[i % rooms.length]!.id, [
        {
          kind: 'send',
          userId: alice.id,
          name: alice.username,
          text: `tx${i}`,
          clientMsgId: null,
          attachmentId: null,
        },
      ]),
    );
    const outcomes = await Promise.all(statements.map((ops) => commitSends(services.db, ops)));
    await Promise.all(perRoom);
    // Sends the statement could not take go through the room's own transaction, as the writer does.
    for (const [s, results] of outcomes.entries()) {
      for (const [i, r] of results.entries()) {
        if (r !== 'retry') continue;
        const op = statements[s]![i]!;
        const { results: again } = await commitBatch(services.db, op.roomId, [
          { kind: 'send', ...op, attachmentId: null },
        ]);
        outcomes[s]![i] = again[0] as SendResult;
      }
    }
    for (const room of rooms) {
      const seqs = await storedSeqs(room.id);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      const row = await roomRow(room.id);
      expect(row.last_seq).toBe(seqs.length);
      expect(row.last_version).toBe(seqs.length);
    }
    // Every (room, clientMsgId) stored once, and every send with it answered with that row.
    const byKey = new Map<string, Set<string>>();
    for (const [s, results] of outcomes.entries()) {
      for (const [i, r] of results.entries()) {
        if (r === 'retry' || !r.ok) throw new Error('a send failed');
        const op = statements[s]![i]!;
        if (op.clientMsgId === null) continue;
        const key = `${op.roomId}/${op.clientMsgId}`;
        byKey.set(key, (byKey.get(key) ?? new Set()).add(r.message.id));
      }
    }
    for (const ids of byKey.values()) expect(ids.size).toBe(1);
    const [count] = await services.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE room_id = ANY($1::text[]) AND client_msg_id IS NOT NULL`,
      [rooms.map((r) => r.id)],
    );
    expect(count!.n).toBe(byKey.size);
  });

  // Needs a second connection holding the lock: embedded Postgres has one connection.
  it.runIf(usesPostgres)(
    'does not wait for a room another transaction holds: its sends are retry',
    async () => {
      const busy = await createRoom(services.db, alice.id, 'held');
      const free = await createRoom(services.db, alice.id, 'free');
      const lock = await holdRoomLock(services.db, busy.id);
      try {
        const results = await commitSends(services.db, [
          send(busy.id, alice, 'waits'),
          send(free.id, alice, 'goes'),
          send(busy.id, alice, 'waits too'),
        ]);
        expect(results[0]).toBe('retry');
        expect(results[2]).toBe('retry');
        expect(results[1]).toMatchObject({ ok: true, message: { seq: 1 } });
      } finally {
        await lock.release();
      }
      expect(await roomRow(busy.id)).toMatchObject({ last_seq: 0, last_version: 0 });
    },
  );
});

describe('commitSends with one send (its own statement text, the light-load case)', () => {
  const refused = { ok: false, error: expect.objectContaining({ code: 'forbidden' }) };

  it('follows the same rules: a new message, a duplicate of a stored one, non-members and missing rooms refused', async () => {
    const room = await createRoom(services.db, alice.id, 'alone');
    const [first] = await commitSends(services.db, [send(room.id, alice, 'one', 'k1')], () => 1_000);
    expect(first).toMatchObject({ ok: true, duplicate: false, message: { seq: 1, version: 1, text: 'one' } });
    const [again] = await commitSends(services.db, [send(room.id, alice, 'one again', 'k1')]);
    expect(again).toMatchObject({ ok: true, duplicate: true, message: { seq: 1, text: 'one' } });
    expect(await commitSends(services.db, [send(room.id, bob, 'not a member')])).toEqual([refused]);
    expect(await commitSends(services.db, [send('no-such-room', alice, 'nowhere')])).toEqual([refused]);
    // ts never goes back, whatever the clock says; the seq goes on from the room.
    const [next] = await commitSends(services.db, [send(room.id, alice, 'two')], () => 500);
    expect(next).toMatchObject({ ok: true, message: { seq: 2, version: 2 } });
    expect(next !== 'retry' && next!.ok && next!.message.ts).toBe(1_000);
    expect(await storedSeqs(room.id)).toEqual([1, 2]);
    expect(await roomRow(room.id)).toMatchObject({ last_seq: 2, last_version: 2, last_ts: '1000' });
  });

  // Needs a second connection holding the lock: embedded Postgres has one connection.
  it.runIf(usesPostgres)('does not wait for its room held by another transaction: retry', async () => {
    const room = await createRoom(services.db, alice.id, 'alone-held');
    const lock = await holdRoomLock(services.db, room.id);
    try {
      expect(await commitSends(services.db, [send(room.id, alice, 'waits')])).toEqual(['retry']);
    } finally {
      await lock.release();
    }
    expect(await roomRow(room.id)).toMatchObject({ last_seq: 0, last_version: 0 });
  });

  // The reason for the second text: with array parameters Postgres planned the statement
  // afresh at every execution (~0.6 ms, more than running it); docs/performance.md.
  it.runIf(usesPostgres)('is planned once per connection, not at every send (a generic plan)', async () => {
    const room = await createRoom(services.db, alice.id, 'alone-plan');
    // One connection throughout, so its prepared statement is the one looked at.
    const plans = await services.db.transaction(async (tx) => {
      for (let i = 0; i < 8; i++) await commitSends(tx, [send(room.id, alice, `p${i}`)]);
      const [row] = await tx.query<{ generic: number; custom: number }>(
        `SELECT generic_plans::int AS generic, custom_plans::int AS custom
           FROM pg_prepared_statements WHERE name = 'parley_commit_send'`,
      );
      return row;
    });
    expect(plans?.generic).toBeGreaterThan(0);
  });
});

const editedAtOf = (r: SendResult | undefined) => (r && r !== 'retry' && r.ok ? r.message.editedAt : null);

describe("commitBatch's optimistic path (read, decide, one guarded write)", () => {
  // The read of the changed rows was `m.id = ANY(…) OR m.id IN (…)`: the OR kept it off the
  // primary key, so every edit, delete and reaction read the whole room (~0.3 s in a room of
  // 1M messages), and both statements were planned afresh at every execution (their custom
  // plans saw the arrays' lengths, their generic plans could not); docs/performance.md.
  it("reads a change's rows by id, not by scanning the room, with plans kept per connection", async () => {
    const room = await createRoom(services.db, alice.id, 'big');
    const N = 20_000;
    await services.db.query(
      `INSERT INTO messages (id, room_id, seq, user_id, name, text, ts, version)
       SELECT $1 || ':' || g, $1, g, $2, 'alice', 'message ' || g, g, g FROM generate_series(1, $3::int) g`,
      [room.id, alice.id, N],
    );
    await services.db.query('UPDATE rooms SET last_seq = $2, last_version = $2, last_ts = $3 WHERE id = $1', [
      room.id,
      N,
      N,
    ]);
    await services.db.query('ANALYZE messages');
    const query = services.db.query.bind(services.db);
    let read: { sql: string; params: unknown[] } | undefined;
    const spy = vi.spyOn(services.db, 'query').mockImplementation(async (sql, params, opts) => {
      if (opts?.name === 'parley_batch_state') read = { sql, params: params ?? [] };
      return query(sql, params, opts);
    });
    const edited = await commitBatch(services.db, room.id, [
      { kind: 'edit', userId: alice.id, messageId: `${room.id}:${N}`, text: 'edited' },
    ]).finally(() => spy.mockRestore());
    expect(edited).toMatchObject({ results: [{ ok: true, changed: true }] });
    const [plan] = await services.db.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${read!.sql}`,
      read!.params,
    );
    // Rows the plan's nodes on `messages` produced or filtered out: a handful, not the room.
    const touched = (node: Record<string, unknown>): number =>
      (node['Relation Name'] === 'messages'
        ? Number(node['Actual Rows'] ?? 0) + Number(node['Rows Removed by Filter'] ?? 0)
        : 0) +
      ((node.Plans as Record<string, unknown>[] | undefined) ?? []).reduce((n, c) => n + touched(c), 0);
    const out = plan!['QUERY PLAN'];
    const json: unknown = typeof out === 'string' ? JSON.parse(out) : out;
    expect(touched((json as { Plan: Record<string, unknown> }[])[0]!.Plan)).toBeLessThan(100);

    // And each statement is planned once per connection, not at every edit (Postgres only:
    // embedded Postgres does not keep prepared statements by name).
    if (!usesPostgres) return;
    const plans = await services.db.transaction(async (tx) => {
      const db = { ...services.db, query: tx.query.bind(tx) };
      for (let i = 0; i < 8; i++) {
        const r = await commitBatch(db, room.id, [
          { kind: 'edit', userId: alice.id, messageId: `${room.id}:${N - 1}`, text: `e${i}` },
        ]);
        expect(r).toMatchObject({ results: [{ ok: true, changed: true }] });
      }
      return tx.query<{ name: string; generic: number }>(
        `SELECT name, generic_plans::int AS generic FROM pg_prepared_statements
          WHERE name IN ('parley_batch_state', 'parley_batch_write_guarded') ORDER BY name`,
      );
    });
    expect(plans.map((p) => p.name)).toEqual(['parley_batch_state', 'parley_batch_write_guarded']);
    for (const p of plans) expect(p.generic, p.name).toBeGreaterThan(0);
  });

  it('a change decided on a stale read is not written: the room held, written or a member removed since goes through the transaction', async () => {
    const room = await createRoom(services.db, alice.id, 'optimistic');
    await addMember(services.db, room.id, alice.id, bob.username);
    const [first] = await commitSends(services.db, [send(room.id, alice, 'target'), send(room.id, bob, 'b')]);
    const target = first && first !== 'retry' && first.ok ? first.message : undefined;
    expect(target?.version).toBe(1);
    const messageId = target!.id;

    // Uncontended: the optimistic path.
    const plain = await commitBatch(services.db, room.id, [
      { kind: 'edit', userId: alice.id, messageId, text: 'e1' },
    ]);
    expect(plain.retried).toBeUndefined();
    expect(plain.updated.map((m) => m.version)).toEqual([3]);

    // Between the read and the write, something else happens to the room.
    const query = services.db.query.bind(services.db);
    const meanwhile = (act: () => Promise<unknown>) => {
      let done = false;
      return vi.spyOn(services.db, 'query').mockImplementation(async (sql, params, opts) => {
        if (opts?.name === 'parley_batch_write_guarded' && !done) {
          done = true;
          await act();
        }
        return query(sql, params, opts);
      });
    };
    // A send took version 4: the reaction, decided when the room was at 3, takes 5.
    let spy = meanwhile(() => commitSends(services.db, [send(room.id, bob, 'meanwhile')]));
    const reacted = await commitBatch(services.db, room.id, [
      { kind: 'react', userId: alice.id, messageId, emoji: '👍', on: true },
    ]).finally(() => spy.mockRestore());
    expect(reacted).toMatchObject({ retried: true, updated: [{ version: 5 }] });
    expect((await roomRow(room.id)).last_version).toBe(5);

    // Bob was a member when read and left before the write (which bumps no version): refused.
    const bobs = await commitSends(services.db, [send(room.id, bob, 'bob writes')]);
    const bob0 = bobs[0];
    const bobsId = bob0 && bob0 !== 'retry' && bob0.ok ? bob0.message.id : '';
    spy = meanwhile(() => leaveRoom(services.db, room.id, bob.id));
    const refused = await commitBatch(services.db, room.id, [
      { kind: 'edit', userId: bob.id, messageId: bobsId, text: 'after leaving' },
    ]).finally(() => spy.mockRestore());
    expect(refused).toMatchObject({ retried: true, results: [{ ok: false, error: { code: 'forbidden' } }] });
    expect((await roomRow(room.id)).last_version).toBe(6);
    const [row] = await services.db.query<{ text: string }>('SELECT text FROM messages WHERE id = $1', [
      bobsId,
    ]);
    expect(row!.text).toBe('bob writes');

    // Held by another session: the write skips it, the transaction waits for it. (PGlite runs
    // one transaction at a time: there the read itself waits.)
    if (!usesPostgres) return;
    const holder = await holdRoomLock(services.db, room.id);
    const held = commitBatch(services.db, room.id, [
      { kind: 'edit', userId: alice.id, messageId, text: 'e2' },
    ]);
    // The guarded write skipped the held room and its transaction now waits for the lock.
    await waitUntil(
      'the commit queued behind the held lock',
      async () => (await holder.blocked()) === 1,
      10_000,
    );
    await holder.release();
    expect(await held).toMatchObject({ retried: true, updated: [{ text: 'e2', version: 7 }] });
  });
});
