import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sweepOrphanUploads, sweepOptionsFrom } from '../core/uploads/uploads.ts';
import type { Attachment, Message, Room } from '../core/schemas.ts';
import type { ObjectStore, UploadTarget } from '../core/storage/index.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../test/realtime-support.ts';
import { silentLogger } from '../test/support.ts';
import { waitUntil } from '../test/wait.ts';

/**
 * Part 2's changes to messages over real sockets: edit, delete, react, replyTo,
 * message_updated, versions, join {sinceVersion} and GET /api/messages?changedAfter.
 */
let world: TestWorld;
const open: ChatClient[] = [];

const GENEROUS = {
  RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
  RATE_LIMIT_MESSAGE_PER_10_SECONDS: '1000000',
  RATE_LIMIT_REACT_PER_SECOND: '100000',
  RATE_LIMIT_REACT_PER_10_SECONDS: '1000000',
};

beforeAll(async () => {
  world = await startWorld(GENEROUS);
}, 180_000);
afterAll(async () => {
  for (const c of open) c.close();
  await world?.close();
});

const connect = async (user: TestUser, w = world) => {
  const c = await user.connect({}, w.url);
  open.push(c);
  return c;
};

const aliceAndBobJoined = async (w = world) => {
  const alice = await w.user();
  const bob = await w.user();
  const room = await w.room(alice, bob);
  const a = await connect(alice, w);
  const b = await connect(bob, w);
  await a.joined(room);
  await b.joined(room);
  return { alice, bob, room, a, b };
};

const code = (ack: { ok: boolean; error?: { code: string } }) => (ack.ok ? 'ok' : ack.error!.code);
const lastVersion = async (user: TestUser, room: Room) =>
  (await user.api.request<{ room: Room }>('GET', `/api/rooms/${room.id}`)).body.room.lastVersion;

async function uploaded(u: TestUser, roomId: string, text: string): Promise<Attachment> {
  const bytes = Buffer.byteLength(text);
  const t = await u.api.request<UploadTarget>('POST', '/api/upload/init', {
    roomId,
    filename: 'a.txt',
    mime: 'text/plain',
    bytes,
  });
  expect(t.status).toBe(200);
  const target = t.body;
  if (target.method === 'POST') {
    const form = new FormData();
    for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
    form.append('file', new Blob([text], { type: 'text/plain' }), 'f');
    expect((await fetch(target.url, { method: 'POST', body: form })).status).toBeLessThan(300);
  } else {
    expect(
      (await fetch(target.url, { method: 'PUT', headers: target.headers, body: text })).status,
    ).toBeLessThan(300);
  }
  const c = await u.api.request<{ attachment: Attachment }>('POST', '/api/upload/complete', {
    roomId,
    key: target.key,
  });
  expect(c.status).toBe(201);
  return c.body.attachment;
}

/** The real store, except that deleting an object fails. */
const failingDeletes = (store: ObjectStore, attempts: { count: number }): ObjectStore => ({
  bucket: store.bucket,
  endpoint: store.endpoint,
  embedded: store.embedded,
  presignUpload: (r) => store.presignUpload(r),
  signGetUrl: (o) => store.signGetUrl(o),
  head: (k) => store.head(k),
  delete: () => {
    attempts.count += 1;
    return Promise.reject(new Error('store is down'));
  },
  ensureBucket: (o) => store.ensureBucket(o),
  close: async () => undefined,
});

describe('versions', () => {
  it('a new message takes the next version; room.lastVersion follows', async () => {
    const { alice, room, a } = await aliceAndBobJoined();
    const one = await a.sent(room, 'one');
    const two = await a.sent(room, 'two');
    expect([one.version, two.version]).toEqual([1, 2]);
    expect(one).toMatchObject({ editedAt: null, deletedAt: null, replyTo: null, reactions: [] });
    expect(await lastVersion(alice, room)).toBe(2);
    const again = await a.joined(room);
    expect(again.room).toMatchObject({ lastSeq: 2, lastVersion: 2 });
    expect(again.changes).toEqual([]);
    expect(again.hasMoreChanges).toBe(false);
  });
});

describe('edit', () => {
  it('changes the text, sets editedAt, takes a version, acks after commit and updates every socket', async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'helo');
    await b.next('message');
    const edited = await a.changed('edit', room, sent.id, { text: '  hello  ' });
    expect(edited).toMatchObject({
      id: sent.id,
      seq: sent.seq,
      ts: sent.ts,
      text: 'hello',
      version: 2,
      deletedAt: null,
    });
    expect(edited.editedAt).toBeGreaterThanOrEqual(sent.ts);
    expect(await b.next('message_updated')).toEqual(edited);
    expect(await a.next('message_updated')).toEqual(edited);
    // Stored: history shows the edit.
    const page = await alice.api.history({ roomId: room.id });
    expect(page.body.messages).toEqual([edited]);
  });

  it('the same text again answers the message unchanged and takes no version', async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'same');
    const again = await a.changed('edit', room, sent.id, { text: 'same ' });
    expect(again).toEqual(sent);
    expect(await lastVersion(alice, room)).toBe(1);
    // No message_updated went out for it: the next one b sees is the reaction below.
    await a.changed('react', room, sent.id, { emoji: '👍', on: true });
    expect((await b.next('message_updated')).version).toBe(2);
  });

  it('only the author; unknown, foreign or deleted → not_found; text rules as for message', async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'mine');
    expect(code(await b.change('edit', room, sent.id, { text: 'hijack' }))).toBe('forbidden');
    expect(code(await a.change('edit', room, 'no-such-message', { text: 'x' }))).toBe('not_found');
    // A message of another room, even one alice is in, is not found through this room.
    const other = await world.room(alice, bob);
    await a.joined(other);
    const elsewhere = await a.sent(other, 'elsewhere');
    expect(code(await a.change('edit', room, elsewhere.id, { text: 'x' }))).toBe('not_found');
    for (const bad of [
      { text: '' },
      { text: '   ' },
      { text: 'x'.repeat(4001) },
      { text: 'ok', extra: 1 },
      {},
      { text: 42 },
    ]) {
      expect(code(await a.change('edit', room, sent.id, bad)), JSON.stringify(bad).slice(0, 40)).toBe(
        'invalid_request',
      );
    }
    expect(code(await a.change('edit', room, sent.id, { text: '🙂'.repeat(4000) }))).toBe('ok');
    await a.changed('delete', room, sent.id);
    expect(code(await a.change('edit', room, sent.id, { text: 'back' }))).toBe('not_found');
  });

  it('needs the room joined and a membership', async () => {
    const { alice, room, a } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'x');
    const fresh = await connect(alice);
    expect(code(await fresh.change('edit', room, sent.id, { text: 'y' }))).toBe('not_joined');
    const outsider = await connect(await world.user());
    expect(code(await outsider.change('edit', room, sent.id, { text: 'y' }))).toBe('forbidden');
    await alice.leaveRoom(room);
    await waitUntil(
      'removed from the room',
      async () => code(await a.change('edit', room, sent.id, { text: 'z' })) === 'forbidden',
      5_000,
    );
  });
});

describe('delete', () => {
  it('leaves a tombstone: same id, seq, userId, name, ts; no text, attachment or reactions', async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'regret');
    await b.changed('react', room, sent.id, { emoji: '😮', on: true });
    const tomb = await a.changed('delete', room, sent.id);
    expect(tomb).toMatchObject({
      id: sent.id,
      seq: sent.seq,
      userId: sent.userId,
      name: sent.name,
      ts: sent.ts,
      text: '',
      attachment: null,
      reactions: [],
      version: 3,
    });
    expect(tomb.deletedAt).toBeGreaterThanOrEqual(sent.ts);
    expect(await b.next('message_updated', (m) => m.version === 3)).toEqual(tomb);
    // Deleting again answers the same tombstone and takes no version.
    expect(await a.changed('delete', room, sent.id)).toEqual(tomb);
    expect(await lastVersion(alice, room)).toBe(3);
    expect((await alice.api.history({ roomId: room.id })).body.messages).toEqual([tomb]);
    expect(code(await b.change('react', room, sent.id, { emoji: '👍', on: true }))).toBe('not_found');
  });

  it("the author or the room's owner (its creator); other members are forbidden", async () => {
    const owner = await world.user();
    const bob = await world.user();
    const carol = await world.user();
    const room = await world.room(owner, bob, carol);
    const [o, b, c] = [await connect(owner), await connect(bob), await connect(carol)];
    for (const s of [o, b, c]) await s.joined(room);
    const bobs = await b.sent(room, 'bob says');
    expect(code(await c.change('delete', room, bobs.id))).toBe('forbidden');
    expect((await o.changed('delete', room, bobs.id)).deletedAt).not.toBeNull();
    const owners = await o.sent(room, 'owner says');
    expect(code(await b.change('delete', room, owners.id))).toBe('forbidden');
    expect(code(await b.change('delete', room, 'nope'))).toBe('not_found');
    for (const bad of [{ extra: 1 }, { messageId: 42 }, { messageId: '' }]) {
      expect(
        code(await b.emit('delete', { roomId: room.id, messageId: owners.id, ...bad })),
        JSON.stringify(bad),
      ).toBe('invalid_request');
    }
    expect(code(await b.emit('delete', { roomId: room.id }))).toBe('invalid_request');
  });

  it("removes the attachment's object after the commit: its URL no longer serves it", async () => {
    const { alice, room, a, b } = await aliceAndBobJoined();
    const att = await uploaded(alice, room.id, 'secret bytes');
    const sent = await a.sent(room, 'file', { attachmentId: att.id });
    const url = sent.attachment!.url;
    expect(await (await fetch(url)).text()).toBe('secret bytes');
    const tomb = await a.changed('delete', room, sent.id);
    expect(tomb.attachment).toBeNull();
    await b.next('message_updated');
    await waitUntil('object removed', async () => (await fetch(url)).status === 404, 5_000);
    expect(await world.services.storage.head(att.key)).toBeNull();
    await waitUntil(
      'row removed',
      async () => (await world.services.db.prisma.attachment.findUnique({ where: { id: att.id } })) === null,
      5_000,
    );
    // Never usable again.
    expect(code(await a.send(room, 'again', { attachmentId: att.id }))).toBe('attachment_invalid');
  });

  it('a failed object delete never blocks the ack, and the upload sweep removes it later', async () => {
    const deleteAttempts = { count: 0 };
    const failing = await startWorld(GENEROUS, {
      ...world.services,
      storage: failingDeletes(world.services.storage, deleteAttempts),
    });
    try {
      const alice = await failing.user();
      const room = await failing.room(alice);
      const a = await connect(alice, failing);
      await a.joined(room);
      const att = await uploaded(alice, room.id, 'still here');
      const sent = await a.sent(room, 'file', { attachmentId: att.id });
      expect((await a.changed('delete', room, sent.id)).attachment).toBeNull();
      await vi.waitFor(() => expect(deleteAttempts.count).toBe(1)); // the purge attempt has run (and failed)
      expect(await world.services.storage.head(att.key)).not.toBeNull();
      const row = await world.services.db.prisma.attachment.findUnique({ where: { id: att.id } });
      expect(row?.discardedAt).not.toBeNull();
      // The store is back: the sweep finishes the job.
      await sweepOrphanUploads(
        { ...world.services, logger: silentLogger },
        sweepOptionsFrom(world.services.config),
      );
      expect(await world.services.storage.head(att.key)).toBeNull();
      expect(await world.services.db.prisma.attachment.findUnique({ where: { id: att.id } })).toBeNull();
    } finally {
      await failing.close();
    }
  });
});

describe('react', () => {
  it('counts per emoji in order of first use, users in order of reacting; idempotent per user and emoji', async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'vote');
    const r1 = await b.changed('react', room, sent.id, { emoji: '👍', on: true });
    expect(r1.reactions).toEqual([{ emoji: '👍', count: 1, userIds: [bob.id] }]);
    await a.changed('react', room, sent.id, { emoji: '🎉', on: true });
    const r3 = await a.changed('react', room, sent.id, { emoji: '👍', on: true });
    expect(r3.reactions).toEqual([
      { emoji: '👍', count: 2, userIds: [bob.id, alice.id] },
      { emoji: '🎉', count: 1, userIds: [alice.id] },
    ]);
    expect(r3.version).toBe(4);
    // Again: unchanged, no version.
    expect(await a.changed('react', room, sent.id, { emoji: '👍', on: true })).toEqual(r3);
    const off = await b.changed('react', room, sent.id, { emoji: '👍', on: false });
    expect(off.reactions).toEqual([
      { emoji: '👍', count: 1, userIds: [alice.id] },
      { emoji: '🎉', count: 1, userIds: [alice.id] },
    ]);
    expect(await b.changed('react', room, sent.id, { emoji: '👍', on: false })).toEqual(off);
    expect(await lastVersion(alice, room)).toBe(5);
    const seen = await b.next('message_updated', (m) => m.version === 5);
    expect(seen).toEqual(off);
    expect((await alice.api.history({ roomId: room.id })).body.messages[0]).toEqual(off);
    // Once nobody reacts with an emoji any more, it starts again at the end.
    await a.changed('react', room, sent.id, { emoji: '👍', on: false });
    const back = await b.changed('react', room, sent.id, { emoji: '👍', on: true });
    expect(back.reactions).toEqual([
      { emoji: '🎉', count: 1, userIds: [alice.id] },
      { emoji: '👍', count: 1, userIds: [bob.id] },
    ]);
  });

  it('accepts one emoji (ZWJ, skin tone, flag, keycap), refuses anything else as invalid_request', async () => {
    const { room, a } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'emoji');
    for (const emoji of ['👩‍💻', '👍🏽', '🇯🇵', '1️⃣', '❤️']) {
      expect(code(await a.change('react', room, sent.id, { emoji, on: true })), emoji).toBe('ok');
    }
    for (const emoji of ['', ' ', 'a', 'ok', '👍👍', '👍 ', 42, null]) {
      expect(code(await a.change('react', room, sent.id, { emoji, on: true })), String(emoji)).toBe(
        'invalid_request',
      );
    }
    expect(code(await a.change('react', room, sent.id, { emoji: '👍' }))).toBe('invalid_request');
    expect(code(await a.change('react', room, sent.id, { emoji: '👍', on: 'yes' }))).toBe('invalid_request');
    expect(code(await a.change('react', room, sent.id, { emoji: '👍', on: true, x: 1 }))).toBe(
      'invalid_request',
    );
  });

  it('at most 20 distinct emoji on a message (conflict); more users on an existing one are fine', async () => {
    const { room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'popular');
    const twenty = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗'];
    expect(twenty).toHaveLength(20);
    for (const emoji of twenty) await a.changed('react', room, sent.id, { emoji, on: true });
    expect(code(await a.change('react', room, sent.id, { emoji: '🤔', on: true }))).toBe('conflict');
    expect(code(await b.change('react', room, sent.id, { emoji: '🤔', on: true }))).toBe('conflict');
    const more = await b.changed('react', room, sent.id, { emoji: '😀', on: true });
    expect(more.reactions).toHaveLength(20);
    expect(more.reactions[0]).toMatchObject({ emoji: '😀', count: 2 });
    // Removing one frees a slot.
    await a.changed('react', room, sent.id, { emoji: '🤗', on: false });
    expect(code(await a.change('react', room, sent.id, { emoji: '🤔', on: true }))).toBe('ok');
  });

  it('two users reacting with the same emoji at once: both count, once each, everywhere', async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const sent = await a.sent(room, 'race');
    const [ra, rb] = await Promise.all([
      a.changed('react', room, sent.id, { emoji: '🔥', on: true }),
      b.changed('react', room, sent.id, { emoji: '🔥', on: true }),
    ]);
    const final = ra.version > rb.version ? ra : rb;
    expect(final.reactions).toEqual([
      { emoji: '🔥', count: 2, userIds: expect.arrayContaining([alice.id, bob.id]) },
    ]);
    for (const s of [a, b]) {
      await waitUntil(
        'converged',
        () => s.seen.get(room.id)?.get(sent.seq)?.version === final.version,
        5_000,
      );
      expect(s.seen.get(room.id)!.get(sent.seq)).toEqual(final);
    }
    expect((await alice.api.history({ roomId: room.id })).body.messages[0]).toEqual(final);
  });
});

describe('replyTo', () => {
  it("carries the parent's current excerpt (200 code points) in the ack, live, history and join", async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const long = '𝒜'.repeat(250);
    const parent = await a.sent(room, long);
    const reply = await b.sent(room, 'answer', { replyTo: parent.id });
    const excerpt = {
      id: parent.id,
      seq: parent.seq,
      userId: alice.id,
      name: alice.name,
      text: '𝒜'.repeat(200),
    };
    expect(reply.replyTo).toEqual(excerpt);
    expect((await a.next('message', (m) => m.id === reply.id)).replyTo).toEqual(excerpt);
    // The parent edited: the reply shows its current text wherever it appears.
    await a.changed('edit', room, parent.id, { text: 'shorter' });
    const page = await bob.api.history({ roomId: room.id });
    expect(page.body.messages.find((m) => m.id === reply.id)!.replyTo).toEqual({
      ...excerpt,
      text: 'shorter',
    });
    // Deleted: "" from then on.
    await a.changed('delete', room, parent.id);
    const joined = await b.joined(room);
    expect(joined.messages.find((m) => m.id === reply.id)!.replyTo).toEqual({ ...excerpt, text: '' });
  });

  it('reply_invalid for an unknown, foreign or deleted parent, and nothing is stored', async () => {
    const { alice, bob, room, a } = await aliceAndBobJoined();
    const other = await world.room(alice, bob);
    await a.joined(other);
    const foreign = await a.sent(other, 'elsewhere');
    const gone = await a.sent(room, 'gone');
    await a.changed('delete', room, gone.id);
    for (const replyTo of ['no-such-id', foreign.id, gone.id]) {
      expect(code(await a.send(room, 'reply', { replyTo }))).toBe('reply_invalid');
    }
    expect(code(await a.send(room, 'reply', { replyTo: '' }))).toBe('invalid_request');
    expect(await lastVersion(alice, room)).toBe(2);
    const page = await alice.api.history({ roomId: room.id });
    expect(page.body.messages.map((m) => m.seq)).toEqual([1]);
  });
});

describe('catch-up', () => {
  it('join {sinceSeq, sinceVersion} returns the new messages and every change missed while away', async () => {
    const { alice, bob, room, a } = await aliceAndBobJoined();
    const m1 = await a.sent(room, 'one');
    const m2 = await a.sent(room, 'two');
    const m3 = await a.sent(room, 'three');
    // Bob holds seq 3 / version 3, then goes away.
    const b2 = await connect(bob);
    const before = await b2.joined(room);
    expect(before.room).toMatchObject({ lastSeq: 3, lastVersion: 3 });
    b2.close();
    const edited = await a.changed('edit', room, m1.id, { text: 'one!' });
    const tomb = await a.changed('delete', room, m2.id);
    const reacted = await a.changed('react', room, m3.id, { emoji: '👀', on: true });
    const m4 = await a.sent(room, 'four');

    const back = await connect(bob);
    const joined = await back.joined(room, 3, 3);
    expect(joined.messages).toEqual([m4]);
    expect(joined.changes).toEqual([edited, tomb, reacted]);
    expect(joined.hasMoreChanges).toBe(false);
    expect(joined.room).toMatchObject({ lastSeq: 4, lastVersion: 7 });
    // Exactly up to date: bob's view equals the server's.
    const all = (await alice.api.history({ roomId: room.id, afterSeq: 0, limit: 100 })).body.messages;
    expect([...back.seen.get(room.id)!.values()].sort((x, y) => x.seq - y.seq)).toEqual(all);
    // Up to date already: nothing to catch up.
    const idle = await back.joined(room, 4, 7);
    expect([idle.messages, idle.changes]).toEqual([[], []]);
  });

  it('changes are capped at 100 with hasMoreChanges; changedAfter pages the rest', async () => {
    const { alice, room, a } = await aliceAndBobJoined();
    const sent: Message[] = [];
    for (let i = 0; i < 5; i++) sent.push(await a.sent(room, `m${i}`));
    for (let i = 0; i < 120; i++) await a.changed('edit', room, sent[i % 5]!.id, { text: `edit ${i}` });
    const joined = await a.joined(room, 5, 5);
    // Only 5 messages changed: their latest versions, ascending.
    expect(joined.changes.map((m) => m.version)).toEqual([121, 122, 123, 124, 125]);
    expect(joined.hasMoreChanges).toBe(false);
    for (let i = 0; i < 110; i++) sent.push(await a.sent(room, `n${i}`));
    for (const m of sent.slice(5, 115)) await a.changed('react', room, m.id, { emoji: '✅', on: true });
    const many = await a.joined(room, 115, 125);
    expect(many.changes).toHaveLength(100);
    expect(many.hasMoreChanges).toBe(true);
    const rest = await alice.api.history({ roomId: room.id, changedAfter: many.changes.at(-1)!.version });
    expect(rest.body.messages.map((m) => m.version)).toEqual(Array.from({ length: 10 }, (_, i) => 336 + i));
    expect(rest.body.hasMore).toBe(false);
  });

  it('GET changedAfter visits every change once across pages, in version order; no cursor mixes', async () => {
    const { alice, bob, room, a, b } = await aliceAndBobJoined();
    const sent: Message[] = [];
    for (let i = 0; i < 30; i++) sent.push(await (i % 2 ? a : b).sent(room, `m${i}`));
    for (let i = 0; i < 30; i += 3)
      await (i % 2 ? a : b).changed('edit', room, sent[i]!.id, { text: `e${i}` });
    for (let i = 1; i < 30; i += 4) await a.changed('react', room, sent[i]!.id, { emoji: '👍', on: true });
    await b.changed('delete', room, sent[4]!.id);
    const final = new Map(
      (await alice.api.history({ roomId: room.id, afterSeq: 0, limit: 100 })).body.messages.map((m) => [
        m.id,
        m,
      ]),
    );
    const visited: Message[] = [];
    let cursor = 0;
    for (;;) {
      const page = await bob.api.history({ roomId: room.id, changedAfter: cursor, limit: 7 });
      expect(page.status).toBe(200);
      visited.push(...page.body.messages);
      if (!page.body.hasMore) break;
      cursor = page.body.messages.at(-1)!.version;
    }
    const versions = visited.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(new Set(visited.map((m) => m.id)).size).toBe(30);
    for (const m of visited) expect(m).toEqual(final.get(m.id));
    expect(visited.at(-1)!.version).toBe(await lastVersion(alice, room));
    // A changedAfter past the end is an empty page.
    expect((await bob.api.history({ roomId: room.id, changedAfter: 10_000 })).body).toEqual({
      messages: [],
      hasMore: false,
    });
    for (const bad of [
      { changedAfter: -1 },
      { changedAfter: 'x' },
      { changedAfter: 1.5 },
      { changedAfter: 1, afterSeq: 0 },
      { changedAfter: 1, beforeSeq: 5 },
      { changedAfter: 1, beforeTs: 5 },
    ] as Record<string, string | number>[]) {
      expect((await bob.api.history({ roomId: room.id, ...bad })).status, JSON.stringify(bad)).toBe(400);
    }
    const outsider = await world.user();
    expect((await outsider.api.history({ roomId: room.id, changedAfter: 0 })).status).toBe(404);
  });
});

describe('edit racing delete', () => {
  it('ends in one of the two orders, never a mix, and every socket converges on it', async () => {
    for (let round = 0; round < 5; round++) {
      const { alice, room, a, b } = await aliceAndBobJoined();
      const a2 = await connect(alice);
      await a2.joined(room);
      const sent = await a.sent(room, 'contested');
      const [edit, del] = await Promise.all([
        a.change('edit', room, sent.id, { text: 'edited' }),
        a2.change('delete', room, sent.id),
      ]);
      expect(del.ok).toBe(true);
      const tomb = del.ok ? del.message : undefined;
      // Edit first then delete (both ok), or delete first (the edit is not_found).
      if (edit.ok) expect(edit.message.version).toBeLessThan(tomb!.version);
      else expect(edit.error.code).toBe('not_found');
      expect(tomb).toMatchObject({
        text: '',
        deletedAt: expect.any(Number),
        editedAt: edit.ok ? expect.any(Number) : null,
      });
      const stored = (await alice.api.history({ roomId: room.id })).body.messages[0]!;
      expect(stored).toEqual(tomb);
      for (const s of [a, a2, b]) {
        await waitUntil(
          'converged',
          () => s.seen.get(room.id)?.get(sent.seq)?.version === tomb!.version,
          5_000,
        );
        expect(s.seen.get(room.id)!.get(sent.seq)).toEqual(tomb);
      }
    }
  });
});

describe('rate limits', () => {
  let limited: TestWorld;
  beforeAll(async () => {
    limited = await startWorld({});
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('react has its own limit (5 a second by default); edit and delete count toward message', async () => {
    const { room, a } = await aliceAndBobJoined(limited);
    const sent = await a.sent(room, 'limits');
    const emoji = [...'😀😁😂🤣😃😄😅'];
    const acks = await Promise.all(
      emoji.map((e) => a.change('react', room, sent.id, { emoji: e, on: true })),
    );
    expect(acks.map(code).filter((c) => c === 'ok')).toHaveLength(5);
    const refused = acks.find((x) => !x.ok);
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'rate_limited', retryAfterMs: expect.any(Number) },
    });
    // The message limit is untouched by reactions: edits still go through (1 send used so far).
    const edits = await Promise.all(
      Array.from({ length: 11 }, (_, i) => a.change('edit', room, sent.id, { text: `edit ${i}` })),
    );
    // 10 a second per socket, the send above included.
    expect(edits.map(code).filter((c) => c === 'ok')).toHaveLength(9);
    expect(code(await a.change('delete', room, sent.id))).toBe('rate_limited');
  });
});
