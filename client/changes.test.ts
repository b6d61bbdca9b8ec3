import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendMessages } from '../core/messages/messages.ts';
import type { Message, Room } from '../core/schemas.ts';
import { startWorld, type TestWorld } from '../test/realtime-support.ts';
import { waitUntil } from '../test/wait.ts';
import type { ParleyClient } from './index.ts';
import { ActionError, MessageActions, RoomSync, type ChatSocket } from './index.ts';
import { connectedSocket, nativeClient } from './test-support.ts';

/**
 * Catch-up by version against the real server: a client that missed edits, deletes and
 * reactions (more than one `changes` batch) ends holding exactly the server's history, and
 * what it shows (through onLoaded/onNewer/onUpdated) is the same.
 */

let world: TestWorld;
const sockets: ChatSocket[] = [];

beforeAll(async () => {
  world = await startWorld({
    RATE_LIMIT_MESSAGE_PER_SECOND: '100000',
    RATE_LIMIT_MESSAGE_PER_10_SECONDS: '100000',
    RATE_LIMIT_REACT_PER_SECOND: '100000',
    RATE_LIMIT_REACT_PER_10_SECONDS: '100000',
  });
}, 180_000);
afterEach(() => {
  for (const s of sockets.splice(0)) s.disconnect();
});
afterAll(() => world?.close());

const native = (prefix: string) => nativeClient(world.url, prefix);
const connected = (client: ParleyClient) => connectedSocket(client, sockets);

/** A RoomSync and what a view built on it would show, by seq. */
function view(client: ParleyClient, socket: ChatSocket, room: Room) {
  const shown = new Map<number, Message>();
  const show = (ms: Message[]) => ms.forEach((m) => shown.set(m.seq, m));
  const sync = new RoomSync({
    roomId: room.id,
    socket,
    history: (roomId, cursor) => client.messages.history(roomId, cursor),
    onLoaded: show,
    onNewer: (_received, added) => show(added),
    onUpdated: show,
  });
  return { sync, shown, loadOlder: async () => show(await sync.older(100)) };
}

async function fullHistory(client: ParleyClient, roomId: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const page = await client.messages.history(roomId, { afterSeq: all.at(-1)?.seq ?? 0, limit: 100 });
    all.push(...page.messages);
    if (!page.hasMore) return all;
  }
}

/** Signed attachment URLs differ per read; everything else must be equal. */
const comparable = (ms: Message[]) =>
  ms.map((m) => ({ ...m, attachment: m.attachment && { ...m.attachment, url: '' } }));

describe('RoomSync catch-up by version', () => {
  it('applies live message_updated and never goes back to an older version', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    const room = await alice.rooms.create('live changes');
    await alice.rooms.addMember(room.id, bob.user!.username);
    const a = await connected(alice);
    const b = await connected(bob);
    const mine = view(alice, a, room);
    const theirs = view(bob, b, room);
    await waitUntil('both joined', () => mine.sync.joined && theirs.sync.joined, 10_000);
    const ack = await a.timeout(10_000).emitWithAck('message', { roomId: room.id, text: 'first' });
    if (!ack.ok) throw new Error(ack.error.code);
    const reply = await b
      .timeout(10_000)
      .emitWithAck('message', { roomId: room.id, text: 'answer', replyTo: ack.message.id });
    if (!reply.ok) throw new Error(reply.error.code);
    expect(reply.message.replyTo).toMatchObject({ id: ack.message.id, text: 'first' });

    const actions = new MessageActions({
      roomId: room.id,
      socket: a,
      onChanged: (m) => mine.sync.applyChanges([m]),
    });
    const edited = await actions.edit(ack.message.id, 'first, edited');
    expect(edited.editedAt).not.toBeNull();
    await new MessageActions({ roomId: room.id, socket: b }).react(ack.message.id, '👍', true);
    await waitUntil(
      'bob sees the edit and his reaction',
      () => theirs.shown.get(1)?.reactions.length === 1,
      10_000,
    );
    await waitUntil(
      'alice sees bob’s reaction',
      () => mine.shown.get(1)?.reactions[0]?.userIds[0] === bob.user!.id,
      10_000,
    );
    expect(theirs.shown.get(1)?.text).toBe('first, edited');
    // An older copy arriving late changes nothing.
    theirs.sync.applyChanges([ack.message]);
    expect(theirs.sync.timeline.get(1)?.text).toBe('first, edited');
    await expect(
      new MessageActions({ roomId: room.id, socket: b }).edit(ack.message.id, 'not mine'),
    ).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(actions.react(ack.message.id, 'ab', true)).rejects.toBeInstanceOf(ActionError);
    mine.sync.destroy();
    theirs.sync.destroy();
  });

  it('after missing edits, deletes and reactions (over 100 changes) ends exactly as the server’s history', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    const room = await alice.rooms.create('catch-up by version');
    await alice.rooms.addMember(room.id, bob.user!.username);
    await appendMessages(
      world.services.db,
      room.id,
      Array.from({ length: 130 }, (_, i) => ({
        userId: alice.user!.id,
        name: alice.user!.username,
        text: `message ${i + 1}`,
        clientMsgId: null,
        attachmentId: null,
      })),
    );
    const a = await connected(alice);
    await a.timeout(10_000).emitWithAck('join', { roomId: room.id });
    const first = (await alice.messages.history(room.id, { afterSeq: 0, limit: 1 })).messages[0]!;
    // A reply whose quote must follow its parent's edit, although the reply itself never changes.
    const reply = await a
      .timeout(10_000)
      .emitWithAck('message', { roomId: room.id, text: 'reply', replyTo: first.id });
    expect(reply.ok).toBe(true);
    const b = await connected(bob);
    const shown = view(bob, b, room);
    await waitUntil('first page', () => shown.sync.ready, 10_000);
    while (shown.sync.timeline.hasOlder) await shown.loadOlder();
    expect(shown.sync.timeline.size).toBe(131);
    const before = shown.sync.lastVersion;
    expect(before).toBe((await bob.rooms.get(room.id)).lastVersion);

    b.disconnect();
    const actions = new MessageActions({ roomId: room.id, socket: a });
    const messages = await fullHistory(alice, room.id);
    for (const m of messages.slice(0, 50)) await actions.edit(m.id, `${m.text}, edited`);
    for (const m of messages.slice(10, 40)) await actions.react(m.id, '🎉', true);
    for (const m of messages.slice(40, 80)) await actions.react(m.id, '👍🏽', true);
    for (const m of messages.slice(60, 70)) await actions.react(m.id, '👍🏽', false);
    for (const m of messages.slice(80, 115)) await actions.delete(m.id);
    await actions.edit(messages[0]!.id, 'edited twice');
    const after = await a
      .timeout(10_000)
      .emitWithAck('message', { roomId: room.id, text: 'while bob was away' });
    expect(after.ok).toBe(true);

    const lastVersion = (await alice.rooms.get(room.id)).lastVersion;
    expect(lastVersion - before).toBeGreaterThan(100);
    b.connect();
    await waitUntil('caught up', () => shown.sync.joined && shown.sync.lastVersion === lastVersion, 15_000);
    await waitUntil('new message', () => shown.sync.timeline.newest === 132, 10_000);

    const server = comparable(await fullHistory(bob, room.id));
    expect(comparable(shown.sync.timeline.messages())).toEqual(server);
    expect(comparable([...shown.shown.values()].sort((x, y) => x.seq - y.seq))).toEqual(server);
    expect(server[0]!.text).toBe('edited twice');
    expect(server[130]!.replyTo?.text).toBe('edited twice');
    expect(server[85]).toMatchObject({ text: '', reactions: [] });
    expect(server[85]!.deletedAt).not.toBeNull();
    shown.sync.destroy();
  }, 60_000);

  it('joins again after a reconnect that happened while a join was still paging changes', async () => {
    const alice = await native('alice');
    const bob = await native('bob');
    const room = await alice.rooms.create('reconnect while paging');
    await alice.rooms.addMember(room.id, bob.user!.username);
    await appendMessages(
      world.services.db,
      room.id,
      Array.from({ length: 105 }, (_, i) => ({
        userId: alice.user!.id,
        name: alice.user!.username,
        text: `m ${i + 1}`,
        clientMsgId: null,
        attachmentId: null,
      })),
    );
    const b = await connected(bob);
    let dropDuringPage = false;
    let dropped = 0;
    const sync = new RoomSync({
      roomId: room.id,
      socket: b,
      history: async (roomId, cursor) => {
        const page = await bob.messages.history(roomId, cursor);
        if (cursor.changedAfter !== undefined && dropDuringPage) {
          dropDuringPage = false;
          // The connection drops and comes back while this join is still catching up.
          b.disconnect();
          b.connect();
          await new Promise<void>((resolve) => b.once('connect', () => resolve()));
          dropped++;
        }
        return page;
      },
      onNewer: () => undefined,
    });
    await waitUntil('first page', () => sync.ready, 10_000);
    while (sync.timeline.hasOlder) await sync.older(100);
    b.disconnect();
    const a = await connected(alice);
    await a.timeout(10_000).emitWithAck('join', { roomId: room.id });
    const actions = new MessageActions({ roomId: room.id, socket: a });
    for (const m of await fullHistory(alice, room.id)) await actions.react(m.id, '👀', true);
    dropDuringPage = true;
    b.connect();
    await waitUntil('dropped while paging', () => dropped === 1, 15_000);
    await waitUntil('joined again', () => sync.joined, 10_000);
    // Joined on the server, not only in the client's mind: live messages arrive.
    const live = await a.timeout(10_000).emitWithAck('message', { roomId: room.id, text: 'live after all' });
    expect(live.ok).toBe(true);
    await waitUntil('live message', () => sync.timeline.newest === 106, 10_000);
    expect(comparable(sync.timeline.messages())).toEqual(comparable(await fullHistory(bob, room.id)));
    sync.destroy();
  }, 60_000);
});
