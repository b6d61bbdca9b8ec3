import { beforeAll, describe, expect, it } from 'vitest';
import type { Database, QueryOptions } from '../core/db/database.ts';
import type { Draft } from '../core/messages/messages.ts';
import { addMember, createRoom } from '../core/rooms/rooms.ts';
import type { Message } from '../core/schemas.ts';
import type { Services } from '../core/services.ts';
import { registerUser } from '../core/users/users.ts';
import { holdRoomLock } from '../test/room-lock.ts';
import {
  recordingDatabase,
  sharedServices,
  silentLogger,
  uniqueName,
  usesPostgres,
} from '../test/support.ts';
import { MessageWriter } from './writer.ts';

let services: Services;
let alice: { id: string; username: string };

beforeAll(async () => {
  services = await sharedServices();
  alice = await registerUser(services.db, uniqueName('writer'), 'long enough');
}, 180_000); // the worker's first file boots embedded Postgres: slow on a busy machine

const draft = (text: string, clientMsgId: string | null = null): Draft => ({
  userId: alice.id,
  name: alice.username,
  text,
  clientMsgId,
  attachmentId: null,
});

function writerWithLog() {
  const batches: { roomId: string; messages: Message[] }[] = [];
  const updates: { roomId: string; messages: Message[] }[] = [];
  // Records the statements that bypass Prisma: the cross-room commits.
  const { db, statements } = recordingDatabase(services.db);
  const writer = new MessageWriter({
    db,
    logger: silentLogger,
    sign: async () => 'https://signed.example/object',
    now: Date.now,
    onCommitted: (roomId, messages) => batches.push({ roomId, messages }),
    onUpdated: (roomId, messages) => updates.push({ roomId, messages }),
  });
  return { writer, batches, updates, statements };
}

describe('MessageWriter (group commit)', () => {
  it('commits a lone send at once, alone', async () => {
    const room = await createRoom(services.db, alice.id, 'quiet');
    const { writer, batches } = writerWithLog();
    const first = await writer.submit(room.id, draft('one'));
    const second = await writer.submit(room.id, draft('two'));
    expect(first).toMatchObject({ ok: true, duplicate: false, message: { seq: 1, text: 'one' } });
    expect(second).toMatchObject({ ok: true, message: { seq: 2 } });
    await writer.idle();
    expect(batches.map((b) => b.messages.map((m) => m.seq))).toEqual([[1], [2]]);
  });

  it('groups sends that arrive during a commit into the next transaction, broadcasting in seq order', async () => {
    const room = await createRoom(services.db, alice.id, 'busy');
    const { writer, batches } = writerWithLog();
    const N = 60;
    const outcomes = await Promise.all(
      Array.from({ length: N }, (_, i) => writer.submit(room.id, draft(`m${i}`))),
    );
    await writer.idle();
    // Each send got its own seq, in submission order (the queue is FIFO).
    expect(outcomes.map((o) => (o.ok ? o.message.seq : -1))).toEqual(
      Array.from({ length: N }, (_, i) => i + 1),
    );
    // The first send went alone; everything queued behind it shared far fewer transactions.
    expect(batches[0]!.messages).toHaveLength(1);
    expect(batches.length).toBeLessThan(N / 4);
    expect(batches.flatMap((b) => b.messages.map((m) => m.seq))).toEqual(
      Array.from({ length: N }, (_, i) => i + 1),
    );
  });

  it("starts a room's next statement before the previous batch's broadcast, which still goes out first", async () => {
    const room = await createRoom(services.db, alice.id, 'overlap');
    const events: string[] = [];
    let second: Promise<unknown> | undefined;
    const db: Database = {
      ...services.db,
      query: <T>(sql: string, params?: unknown[], opts?: QueryOptions) => {
        if (opts?.name?.startsWith('parley_commit_send')) events.push('statement');
        const result = services.db.query<T>(sql, params, opts);
        // While the first statement runs, a second send arrives: it waits for that commit.
        second ??= writer.submit(room.id, draft('two'));
        return result;
      },
    };
    const writer: MessageWriter = new MessageWriter({
      db,
      logger: silentLogger,
      sign: async () => 'https://signed.example/object',
      now: Date.now,
      onCommitted: (_, messages) => events.push(`broadcast ${messages.map((m) => m.seq).join(',')}`),
    });
    expect(await writer.submit(room.id, draft('one'))).toMatchObject({ ok: true, message: { seq: 1 } });
    expect(await second).toMatchObject({ ok: true, message: { seq: 2 } });
    await writer.idle();
    // The second statement was sent before the first batch's broadcast (the database works
    // while the broadcast is written), and the broadcasts are still in seq order.
    expect(events).toEqual(['statement', 'statement', 'broadcast 1', 'broadcast 2']);
  });

  it('does not broadcast a duplicate, and answers it with the original', async () => {
    const room = await createRoom(services.db, alice.id, 'dupes');
    const { writer, batches } = writerWithLog();
    const [a, b] = await Promise.all([
      writer.submit(room.id, draft('x', 'k1')),
      writer.submit(room.id, draft('y', 'k1')),
    ]);
    const again = await writer.submit(room.id, draft('z', 'k1'));
    await writer.idle();
    expect(a).toMatchObject({ ok: true, duplicate: false });
    expect(b).toEqual({ ...a, duplicate: true });
    expect(again).toEqual({ ...a, duplicate: true });
    expect(batches.flatMap((x) => x.messages)).toHaveLength(1);
  });

  it('isolates a send the database rejects, so its batch neighbours still commit', async () => {
    const room = await createRoom(services.db, alice.id, 'poison');
    const { writer } = writerWithLog();
    // Postgres refuses NUL in text; the wire schema never lets one through, the writer must
    // still not fail the others in its batch because of it.
    const results = await Promise.allSettled([
      writer.submit(room.id, draft('first')),
      writer.submit(room.id, draft('fine')),
      writer.submit(room.id, draft('bad\u0000text')),
      writer.submit(room.id, draft('also fine')),
    ]);
    await writer.idle();
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const seqs = results.flatMap((r) =>
      r.status === 'fulfilled' && r.value.ok ? [r.value.message.seq] : [],
    );
    expect(seqs).toEqual([1, 2, 3]);
  });

  it('keeps rooms independent: a slow room does not hold up another', async () => {
    const r1 = await createRoom(services.db, alice.id, 'r1');
    const r2 = await createRoom(services.db, alice.id, 'r2');
    const { writer } = writerWithLog();
    const out = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => writer.submit(r1.id, draft(`a${i}`))),
      ...Array.from({ length: 10 }, (_, i) => writer.submit(r2.id, draft(`b${i}`))),
    ]);
    const seqsOf = (roomId: string) =>
      out.flatMap((o) => (o.ok && o.message.roomId === roomId ? [o.message.seq] : []));
    expect(seqsOf(r1.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(seqsOf(r2.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  it('commits changes in the same group commit as sends: consecutive versions in queue order', async () => {
    const room = await createRoom(services.db, alice.id, 'mixed');
    const { writer, batches, updates } = writerWithLog();
    const first = await writer.submit(room.id, draft('first'));
    const second = await writer.submit(room.id, draft('second'));
    if (!first.ok || !second.ok) throw new Error('setup failed');
    await writer.idle();
    // The first send starts a transaction at once; everything below queues behind it, together.
    const [lead, edit, fresh, react, del] = await Promise.all([
      writer.submit(room.id, draft('lead')),
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: first.message.id,
        text: 'first!',
      }),
      writer.submit(room.id, draft('fresh')),
      writer.submitChange(room.id, {
        kind: 'react',
        userId: alice.id,
        messageId: first.message.id,
        emoji: '👍',
        on: true,
      }),
      writer.submitChange(room.id, { kind: 'delete', userId: alice.id, messageId: second.message.id }),
    ]);
    await writer.idle();
    const v = (o: typeof lead) => (o.ok ? o.message.version : -1);
    expect(v(lead)).toBe(3);
    // One batch, in queue order: the edit took version 4, the send seq 4 and version 5, the
    // reaction 6, the delete 7 (an ack shows the message after its whole batch).
    expect(fresh).toMatchObject({ ok: true, message: { seq: 4, version: 5 } });
    expect(edit).toMatchObject({ ok: true, changed: true, message: { text: 'first!', version: 6 } });
    expect(react).toMatchObject({
      ok: true,
      changed: true,
      message: { version: 6, reactions: [{ emoji: '👍', count: 1 }] },
    });
    expect(del).toMatchObject({ ok: true, changed: true, message: { text: '', version: 7 } });
    expect(batches.map((b) => b.messages.map((m) => m.version))).toEqual([[1], [2], [3], [5]]);
    // The batch's changed messages go out after its new ones, once each, in version order.
    expect(updates.map((u) => u.messages.map((m) => m.version))).toEqual([[6, 7]]);
  });

  it('isolates a change the database rejects, so its batch neighbours still commit', async () => {
    const room = await createRoom(services.db, alice.id, 'poison-change');
    const { writer } = writerWithLog();
    const base = await writer.submit(room.id, draft('base'));
    if (!base.ok) throw new Error('setup failed');
    const results = await Promise.allSettled([
      writer.submit(room.id, draft('lead')),
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: base.message.id,
        text: 'bad\u0000',
      }),
      writer.submit(room.id, draft('fine')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('commits the plain sends of many rooms together, in one statement per batch', async () => {
    const rooms = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createRoom(services.db, alice.id, `many${i}`)),
    );
    const { writer, batches, statements } = writerWithLog();
    const out = await Promise.all(
      Array.from({ length: 3 }, (_, k) =>
        rooms.map((r) => writer.submit(r.id, draft(`${r.name}-${k}`))),
      ).flat(),
    );
    await writer.idle();
    // The first two sends start statements at once; the other 58 share the next ones.
    expect(statements.length).toBeLessThanOrEqual(4);
    for (const room of rooms) {
      const mine = out.filter((o) => o.ok && o.message.roomId === room.id);
      expect(mine.map((o) => (o.ok ? [o.message.seq, o.message.text] : []))).toEqual(
        [0, 1, 2].map((k) => [k + 1, `${room.name}-${k}`]),
      );
      const sent = batches.filter((b) => b.roomId === room.id).flatMap((b) => b.messages.map((m) => m.seq));
      expect(sent).toEqual([1, 2, 3]);
    }
  });

  it('keeps a room in order when a change comes between its sends: the change and what follows go through the room', async () => {
    const room = await createRoom(services.db, alice.id, 'ordered');
    const other = await createRoom(services.db, alice.id, 'beside');
    const { writer, batches, updates } = writerWithLog();
    const base = await writer.submit(room.id, draft('base'));
    if (!base.ok) throw new Error('setup failed');
    const [a, edit, b, c] = await Promise.all([
      writer.submit(room.id, draft('a')),
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: base.message.id,
        text: 'base!',
      }),
      writer.submit(room.id, draft('b')),
      writer.submit(other.id, draft('c')),
    ]);
    await writer.idle();
    expect(a).toMatchObject({ ok: true, message: { seq: 2, version: 2 } });
    expect(edit).toMatchObject({ ok: true, changed: true, message: { version: 3 } });
    expect(b).toMatchObject({ ok: true, message: { seq: 3, version: 4 } });
    expect(c).toMatchObject({ ok: true, message: { seq: 1 } });
    expect(batches.filter((x) => x.roomId === room.id).flatMap((x) => x.messages.map((m) => m.seq))).toEqual([
      1, 2, 3,
    ]);
    expect(updates.flatMap((u) => u.messages.map((m) => m.version))).toEqual([3]);
  });

  it('isolates a bad send in a cross-room batch: the others, in every room, still commit in order', async () => {
    const r1 = await createRoom(services.db, alice.id, 'poison-x1');
    const r2 = await createRoom(services.db, alice.id, 'poison-x2');
    const { writer } = writerWithLog();
    const results = await Promise.allSettled([
      writer.submit(r1.id, draft('lead')),
      writer.submit(r2.id, draft('lead')),
      writer.submit(r1.id, draft('one')),
      writer.submit(r2.id, draft('bad\u0000')),
      writer.submit(r1.id, draft('two')),
      writer.submit(r2.id, draft('after')),
    ]);
    await writer.idle();
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    const seqs = results.map((r) => (r.status === 'fulfilled' && r.value.ok ? r.value.message.seq : -1));
    expect(seqs).toEqual([1, 1, 2, -1, 3, 2]);
  });

  it('refuses a non-member in a cross-room batch without holding up the members', async () => {
    const r1 = await createRoom(services.db, alice.id, 'members-only');
    const bob = await registerUser(services.db, uniqueName('bob'), 'long enough');
    const r2 = await createRoom(services.db, bob.id, 'bobs');
    await addMember(services.db, r2.id, bob.id, alice.username);
    const { writer } = writerWithLog();
    const asBob = { ...draft('intruder'), userId: bob.id, name: bob.username };
    const [lead, intruder, fine, fine2] = await Promise.all([
      writer.submit(r2.id, draft('lead')),
      writer.submit(r1.id, asBob),
      writer.submit(r1.id, draft('fine')),
      writer.submit(r2.id, draft('fine2')),
    ]);
    expect(lead).toMatchObject({ ok: true, message: { seq: 1 } });
    expect(intruder).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(fine).toMatchObject({ ok: true, message: { seq: 1 } });
    expect(fine2).toMatchObject({ ok: true, message: { seq: 2 } });
  });

  // Another connection must hold the room's lock: embedded Postgres has one connection.
  it.runIf(usesPostgres)(
    'commits a room another transaction holds through its own transaction once free, in order, without holding up others',
    async () => {
      const held = await createRoom(services.db, alice.id, 'held');
      const free = await createRoom(services.db, alice.id, 'free');
      const { writer, batches } = writerWithLog();
      const lock = await holdRoomLock(services.db, held.id);
      const first = writer.submit(held.id, draft('first', 'h1'));
      const second = writer.submit(held.id, draft('second'));
      // The free room commits while the held one waits.
      expect(await writer.submit(free.id, draft('free'))).toMatchObject({ ok: true, message: { seq: 1 } });
      const third = writer.submit(held.id, draft('third'));
      await lock.release();
      expect(await first).toMatchObject({ ok: true, message: { seq: 1 } });
      expect(await second).toMatchObject({ ok: true, message: { seq: 2 } });
      expect(await third).toMatchObject({ ok: true, message: { seq: 3 } });
      expect(await writer.submit(held.id, draft('retry', 'h1'))).toMatchObject({
        ok: true,
        duplicate: true,
        message: { seq: 1 },
      });
      await writer.idle();
      expect(
        batches.filter((b) => b.roomId === held.id).flatMap((b) => b.messages.map((m) => m.seq)),
      ).toEqual([1, 2, 3]);
    },
  );
});
