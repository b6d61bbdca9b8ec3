import { beforeAll, describe, expect, it } from 'vitest';
import type { Database, QueryOptions } from '../core/db/database.ts';
import { commitBatch } from '../core/messages/batch.ts';
import type { Change } from '../core/messages/changes.ts';
import { RoomStateCache } from '../core/messages/room-state-cache.ts';
import { readMessageRows } from '../core/messages/row-json.ts';
import type { MessageRow } from '../core/messages/rows.ts';
import { commitSends } from '../core/messages/send-batch.ts';
import { addMember, createRoom, leaveRoom } from '../core/rooms/rooms.ts';
import type { Services } from '../core/services.ts';
import { registerUser } from '../core/users/users.ts';
import { recordingDatabase, sharedServices, silentLogger, uniqueName } from '../test/support.ts';
import { MessageWriter, type ChangeOutcome, type SendOutcome } from './writer.ts';

let services: Services;
type User = { id: string; username: string };
let alice: User;
let bob: User;

beforeAll(async () => {
  services = await sharedServices();
  alice = await registerUser(services.db, uniqueName('cache-alice'), 'long enough');
  bob = await registerUser(services.db, uniqueName('cache-bob'), 'long enough');
}, 180_000);

/** A writer whose statements are recorded by name (unnamed ones as `other`). */
function writerWithStatements(cache = new RoomStateCache()) {
  const { db, statements } = recordingDatabase(services.db);
  const writer = new MessageWriter({
    db,
    logger: silentLogger,
    sign: async () => 'https://signed.example/object',
    now: Date.now,
    onCommitted: () => {},
    roomState: cache,
  });
  /** The statements one call made. */
  const during = async <T>(act: () => Promise<T>): Promise<{ value: T; statements: string[] }> => {
    const from = statements.length;
    const value = await act();
    await writer.idle();
    return { value, statements: statements.slice(from) };
  };
  return { writer, cache, during };
}

const send = (writer: MessageWriter, roomId: string, user: User, text: string, replyToId?: string) =>
  writer.submit(roomId, {
    userId: user.id,
    name: user.username,
    text,
    clientMsgId: null,
    attachmentId: null,
    replyToId: replyToId ?? null,
  });

function sent(outcome: SendOutcome) {
  if (!outcome.ok) throw new Error(`send refused: ${outcome.error.code}`);
  return outcome.message;
}

function changed(outcome: ChangeOutcome) {
  if (!outcome.ok) throw new Error(`change refused: ${outcome.error.code}`);
  return outcome.message;
}

const byVersion = (r: MessageRow): MessageRow => ({
  ...r,
  reactions: [...r.reactions].sort((a, b) => a.version - b.version),
});

/** The cached entry of the room equals what a fresh read of the database says, marks included. */
async function expectCacheTrue(cache: RoomStateCache, roomId: string, required = true): Promise<number> {
  const entry = cache.take(roomId, [], []);
  if (!entry && !required) return 0;
  expect(entry, 'the room is cached').toBeDefined();
  const ids = [...entry!.rows.keys()];
  const fresh = await readMessageRows(services.db, ids, roomId);
  const sorted = (rows: MessageRow[]) => rows.map(byVersion).sort((a, b) => a.id.localeCompare(b.id));
  expect(sorted([...entry!.rows.values()])).toEqual(sorted(fresh));
  const [room] = await services.db.query<{
    last_seq: number;
    last_ts: string;
    last_version: number;
    owner_id: string;
  }>('SELECT last_seq, last_ts::text AS last_ts, last_version, owner_id FROM rooms WHERE id = $1', [roomId]);
  expect(entry!.marks).toEqual({
    lastSeq: room!.last_seq,
    lastTs: Number(room!.last_ts),
    lastVersion: room!.last_version,
    ownerId: room!.owner_id,
  });
  const { marks } = entry!;
  cache.committed(roomId, { readVersion: marks.lastVersion, marks, members: [], rows: [] }, entry);
  return ids.length;
}

describe("the writer's room-state cache (a change in one round trip)", () => {
  it('a change to a message this writer committed is one statement, the guarded write', async () => {
    const room = await createRoom(services.db, alice.id, 'one-trip');
    const { writer, cache, during } = writerWithStatements();
    const first = sent(await send(writer, room.id, alice, 'first'));
    // Nothing is known of the room yet: its first change reads it.
    const miss = await during(() =>
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: first.id,
        text: 'first, edited',
      }),
    );
    expect(miss.statements).toEqual(['parley_batch_state', 'parley_batch_write_guarded']);
    const second = sent(await send(writer, room.id, alice, 'second'));
    for (const change of [
      { kind: 'edit', userId: alice.id, messageId: second.id, text: 'second, edited' },
      { kind: 'react', userId: alice.id, messageId: second.id, emoji: '👍', on: true },
      { kind: 'react', userId: alice.id, messageId: first.id, emoji: '🎉', on: true },
      { kind: 'react', userId: alice.id, messageId: second.id, emoji: '👍', on: false },
      { kind: 'delete', userId: alice.id, messageId: first.id },
    ] satisfies Change[]) {
      const hit = await during(() => writer.submitChange(room.id, change));
      expect(hit.value, change.kind).toMatchObject({ ok: true, changed: true });
      expect(hit.statements, change.kind).toEqual(['parley_batch_write_guarded']);
    }
    // A no-op answers from the cache alone.
    const noop = await during(() =>
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: second.id,
        text: 'second, edited',
      }),
    );
    expect(noop.value).toMatchObject({ ok: true, changed: false, message: { text: 'second, edited' } });
    expect(noop.statements).toEqual([]);
    expect(await expectCacheTrue(cache, room.id)).toBe(2);
  });

  it('a write by another instance since is caught by the guard: the change reads afresh and nothing stale is written', async () => {
    const room = await createRoom(services.db, alice.id, 'elsewhere');
    const { writer, cache, during } = writerWithStatements(new RoomStateCache({ sharedBatches: 1 }));
    const target = sent(await send(writer, room.id, alice, 'target'));
    await writer.submitChange(room.id, {
      kind: 'react',
      userId: alice.id,
      messageId: target.id,
      emoji: '👀',
      on: true,
    });
    // Another instance (its own writer, its own cache) edits the message and sends one more.
    const other = writerWithStatements();
    changed(
      await other.writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: target.id,
        text: 'theirs',
      }),
    );
    await commitSends(services.db, [
      { roomId: room.id, userId: alice.id, name: alice.username, text: 'x', clientMsgId: null },
    ]);

    const stale = await during(() =>
      writer.submitChange(room.id, {
        kind: 'react',
        userId: alice.id,
        messageId: target.id,
        emoji: '🎉',
        on: true,
      }),
    );
    expect(stale.statements).toEqual([
      'parley_batch_write_guarded',
      'parley_batch_state',
      'parley_batch_write_guarded',
    ]);
    // Decided on the fresh read: the other instance's edit and the earlier reaction both show.
    expect(changed(stale.value)).toMatchObject({
      text: 'theirs',
      version: 5,
      reactions: [
        { emoji: '👀', count: 1 },
        { emoji: '🎉', count: 1 },
      ],
    });
    await expectCacheTrue(cache, room.id);
    // Another writer was seen in the room: its next batch is read first (a refused write
    // before each read is what alternating instances would otherwise cost), then the cache again.
    const next = { kind: 'edit', userId: alice.id, messageId: target.id, text: 'mine' } satisfies Change;
    expect((await during(() => writer.submitChange(room.id, next))).statements).toEqual([
      'parley_batch_state',
      'parley_batch_write_guarded',
    ]);
    expect(
      (await during(() => writer.submitChange(room.id, { ...next, text: 'mine again' }))).statements,
    ).toEqual(['parley_batch_write_guarded']);
  });

  it('a member removed since is refused, and is no longer taken for one', async () => {
    const room = await createRoom(services.db, alice.id, 'left');
    await addMember(services.db, room.id, alice.id, bob.username);
    const { writer, during } = writerWithStatements();
    const mine = sent(await send(writer, room.id, bob, "bob's"));
    await writer.submitChange(room.id, { kind: 'edit', userId: bob.id, messageId: mine.id, text: 'once' });
    await leaveRoom(services.db, room.id, bob.id); // raises no version: the membership guard catches it
    const refused = await during(() =>
      writer.submitChange(room.id, {
        kind: 'edit',
        userId: bob.id,
        messageId: mine.id,
        text: 'after leaving',
      }),
    );
    expect(refused.value).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(refused.statements).toEqual(['parley_batch_write_guarded', 'parley_batch_state']);
    const again = await during(() =>
      writer.submitChange(room.id, { kind: 'edit', userId: bob.id, messageId: mine.id, text: 'still out' }),
    );
    expect(again.value).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(again.statements).toEqual(['parley_batch_state']);
    const [row] = await services.db.query<{ text: string }>('SELECT text FROM messages WHERE id = $1', [
      mine.id,
    ]);
    expect(row!.text).toBe('once');
  });

  it('a member found removed by a read is forgotten: no later change of theirs is decided on the cache', async () => {
    const room = await createRoom(services.db, alice.id, 'forgotten');
    await addMember(services.db, room.id, alice.id, bob.username);
    const { writer, during } = writerWithStatements();
    // Sent before the room is cached, so never taken into it.
    const uncached = sent(await send(writer, room.id, alice, 'before'));
    const cached = sent(await send(writer, room.id, bob, 'cached'));
    await writer.submitChange(room.id, {
      kind: 'edit',
      userId: bob.id,
      messageId: cached.id,
      text: 'read once',
    });
    await leaveRoom(services.db, room.id, bob.id);
    // A message the cache lacks: read, refused; the read also says bob is no member.
    const refused = await writer.submitChange(room.id, {
      kind: 'react',
      userId: bob.id,
      messageId: uncached.id,
      emoji: '👍',
      on: true,
    });
    expect(refused).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const again = await during(() =>
      writer.submitChange(room.id, { kind: 'edit', userId: bob.id, messageId: cached.id, text: 'still out' }),
    );
    expect(again.value).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(again.statements).toEqual(['parley_batch_state']);
  });

  it("a cached reply shows its parent as it is now, after the parent's edit and delete", async () => {
    const room = await createRoom(services.db, alice.id, 'replies');
    const { writer, cache } = writerWithStatements();
    const parent = sent(await send(writer, room.id, alice, 'parent'));
    const child = sent(await send(writer, room.id, alice, 'child', parent.id));
    // Both read once by a change, so both are cached, the child with its parent's excerpt.
    await writer.submitChange(room.id, {
      kind: 'react',
      userId: alice.id,
      messageId: child.id,
      emoji: '👍',
      on: true,
    });
    await writer.submitChange(room.id, {
      kind: 'react',
      userId: alice.id,
      messageId: parent.id,
      emoji: '👍',
      on: true,
    });
    changed(
      await writer.submitChange(room.id, {
        kind: 'edit',
        userId: alice.id,
        messageId: parent.id,
        text: 'ü'.repeat(250),
      }),
    );
    expect(await expectCacheTrue(cache, room.id)).toBe(2);
    const shown = changed(
      await writer.submitChange(room.id, {
        kind: 'react',
        userId: alice.id,
        messageId: child.id,
        emoji: '👍',
        on: false,
      }),
    );
    expect(shown.replyTo).toMatchObject({ id: parent.id, text: 'ü'.repeat(200) });
    changed(await writer.submitChange(room.id, { kind: 'delete', userId: alice.id, messageId: parent.id }));
    expect(await expectCacheTrue(cache, room.id)).toBe(2);
  });

  it('a write that fails leaves no entry behind', async () => {
    const room = await createRoom(services.db, alice.id, 'failing');
    const cache = new RoomStateCache();
    const { writer } = writerWithStatements(cache);
    const target = sent(await send(writer, room.id, alice, 'target'));
    await writer.submitChange(room.id, { kind: 'edit', userId: alice.id, messageId: target.id, text: 'one' });
    let failing = true;
    const db: Database = {
      ...services.db,
      query: (sql: string, params?: unknown[], opts?: QueryOptions) =>
        failing && opts?.name === 'parley_batch_write_guarded'
          ? Promise.reject(new Error('connection lost'))
          : services.db.query(sql, params, opts),
    };
    await expect(
      commitBatch(
        db,
        room.id,
        [{ kind: 'edit', userId: alice.id, messageId: target.id, text: 'lost' }],
        Date.now,
        {
          cache,
        },
      ),
    ).rejects.toThrow('connection lost');
    failing = false;
    // Had the failed decision stayed cached, this would be a no-op ("lost" is what it held).
    expect(
      changed(
        await writer.submitChange(room.id, {
          kind: 'edit',
          userId: alice.id,
          messageId: target.id,
          text: 'lost',
        }),
      ),
    ).toMatchObject({ text: 'lost', version: 3 });
    await expectCacheTrue(cache, room.id);
  });

  it('stays what the database holds through a random run of sends, replies, edits, reactions and deletes', async () => {
    const room = await createRoom(services.db, alice.id, 'random');
    await addMember(services.db, room.id, alice.id, bob.username);
    const { writer, cache } = writerWithStatements(new RoomStateCache({ rowsPerRoom: 8 }));
    const users = [alice, bob];
    const ids: string[] = [sent(await send(writer, room.id, alice, 'seed')).id];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const emoji = ['👍', '🎉', '❤️'];
    let hits = 0;
    for (let i = 0; i < 80; i++) {
      const user = users[random(2)]!;
      const messageId = ids[random(ids.length)]!;
      const pick = random(6);
      const outcome =
        pick === 0
          ? await send(writer, room.id, user, `m${i}`)
          : pick === 1
            ? await send(writer, room.id, user, `reply ${i}`, messageId)
            : await writer.submitChange(
                room.id,
                pick === 2
                  ? { kind: 'edit', userId: user.id, messageId, text: `edit ${i} ${'é'.repeat(random(300))}` }
                  : pick === 3
                    ? { kind: 'delete', userId: user.id, messageId }
                    : { kind: 'react', userId: user.id, messageId, emoji: emoji[random(3)]!, on: pick === 4 },
              );
      if (pick <= 1 && outcome.ok) ids.push(outcome.message.id);
      await writer.idle();
      hits = Math.max(hits, await expectCacheTrue(cache, room.id, false));
    }
    expect(hits).toBeGreaterThan(0);
    expect(cache.size).toBeLessThanOrEqual(8);
  });
});

describe('RoomStateCache bounds', () => {
  const row = (roomId: string, i: number): MessageRow => ({
    id: `${roomId}:${i}`,
    roomId,
    seq: i,
    userId: 'u',
    name: 'u',
    text: 't',
    ts: BigInt(i),
    clientMsgId: null,
    attachmentId: null,
    version: i,
    editedAt: null,
    deletedAt: null,
    replyToId: null,
    attachment: null,
    reactions: [],
    replyTo: null,
  });
  const commit = (cache: RoomStateCache, roomId: string, from: number, to: number, readVersion = from - 1) =>
    cache.committed(roomId, {
      readVersion,
      marks: { lastSeq: to, lastTs: to, lastVersion: to, ownerId: 'u' },
      members: ['u'],
      rows: Array.from({ length: to - from + 1 }, (_, k) => row(roomId, from + k)),
    });

  it('holds at most rowsPerRoom rows of a room (the most recent) and maxRows in all (the most recent rooms)', () => {
    const cache = new RoomStateCache({ rowsPerRoom: 4, maxRows: 10 });
    commit(cache, 'a', 1, 6);
    expect(cache.size).toBe(4);
    expect(cache.take('a', ['u'], ['a:2'])).toBeUndefined();
    expect(cache.take('a', ['u'], ['a:3', 'a:6'])).toBeDefined();
    commit(cache, 'a', 1, 4, 0);
    commit(cache, 'b', 1, 4);
    commit(cache, 'c', 1, 4);
    expect(cache.size).toBe(8);
    expect(cache.take('a', ['u'], ['a:4'])).toBeUndefined();
    expect(cache.take('c', ['u'], ['c:4'])).toBeDefined();
  });

  it('keeps earlier rows only when the commit was decided on the version they are of', () => {
    const cache = new RoomStateCache();
    commit(cache, 'a', 1, 3);
    commit(cache, 'a', 4, 4, 3);
    expect(cache.take('a', ['u'], ['a:1', 'a:4'])).toBeDefined();
    commit(cache, 'a', 1, 3);
    commit(cache, 'a', 6, 6, 5); // someone else took 4 and 5: rows 1–3 may be stale
    expect(cache.size).toBe(1);
    expect(cache.skips('a')).toBe(false);
    cache.appended('a', [{ ...row('a', 8), ts: 8 }]); // not the next version: the entry goes, the room is shared
    expect(cache.size).toBe(0);
    expect(cache.skips('a')).toBe(true);
  });
});
