import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoomListEntry } from '../core/schemas.ts';
import { startWorld, type TestWorld } from '../test/realtime-support.ts';
import { waitUntil } from '../test/wait.ts';
import { ReadReporter, RoomList, type ChatSocket, type ParleyClient } from './index.ts';
import { connectedSocket, nativeClient } from './test-support.ts';

/**
 * The client library's room list and read markers against the real server (issue 13): one
 * user on two devices, each a RoomList on its own socket, kept by the user's channel alone.
 */

let world: TestWorld;
const sockets: ChatSocket[] = [];
const stores: { destroy(): void }[] = [];

beforeAll(async () => {
  world = await startWorld();
}, 180_000);
afterEach(() => {
  for (const s of stores.splice(0)) s.destroy();
  for (const s of sockets.splice(0)) s.disconnect();
});
afterAll(() => world?.close());

const LIVE_MS = 5_000;

/** A device of the user: its socket and the RoomList it keeps. */
async function device(client: ParleyClient) {
  const socket = await connectedSocket(client, sockets);
  const list = new RoomList({
    socket,
    meId: client.user!.id,
    list: () => client.rooms.list(),
    onChange: () => undefined,
  });
  stores.push(list);
  await list.refresh();
  return { socket, list };
}

const entry = (d: { list: RoomList }, roomId: string): RoomListEntry | undefined => d.list.get(roomId);

describe('RoomList and ReadReporter on the user channel', () => {
  it('follows adds, activity, reads on another device, renames and removal', async () => {
    const alice = await nativeClient(world.url, 'alice');
    const bob = await nativeClient(world.url, 'bob');
    await bob.auth.me();
    const phone = await device(bob);
    const laptop = await device(bob);

    const room = await alice.rooms.create('alive');
    await alice.rooms.addMember(room.id, bob.user!.username);
    for (const d of [phone, laptop]) await waitUntil('room_added', () => !!entry(d, room.id), LIVE_MS);

    const aliceSocket = await connectedSocket(alice, sockets);
    const joined = await aliceSocket.emitWithAck('join', { roomId: room.id });
    expect(joined.ok).toBe(true);
    for (const text of ['one', 'two', 'three']) {
      const ack = await aliceSocket.emitWithAck('message', { roomId: room.id, text });
      expect(ack.ok).toBe(true);
    }
    for (const d of [phone, laptop]) {
      await waitUntil('activity', () => entry(d, room.id)?.unread === 3, LIVE_MS);
      expect(entry(d, room.id)?.lastSeq).toBe(3);
    }

    // Read on the laptop, throttled: the phone follows by read_state, the server agrees.
    const acked: number[] = [];
    const reads = new ReadReporter({
      emit: (payload) => laptop.socket.timeout(5_000).emitWithAck('read', payload),
      onRead: (roomId, seq) => {
        acked.push(seq);
        laptop.list.markRead(roomId, seq);
      },
    });
    stores.push(reads);
    reads.seen(room.id, 2);
    reads.seen(room.id, 3);
    await waitUntil('read acked', () => acked.includes(3), LIVE_MS);
    expect(entry(laptop, room.id)?.unread).toBe(0);
    await waitUntil('read_state', () => entry(phone, room.id)?.unread === 0, LIVE_MS);
    expect(entry(phone, room.id)?.lastReadSeq).toBe(3);
    const listed = (await bob.rooms.list()).find((r) => r.id === room.id);
    expect(listed).toMatchObject({ lastReadSeq: 3, unread: 0, lastMessage: { seq: 3, text: 'three' } });

    await alice.rooms.rename(room.id, 'renamed');
    for (const d of [phone, laptop])
      await waitUntil('room_updated', () => entry(d, room.id)?.name === 'renamed', LIVE_MS);

    await alice.rooms.removeMember(room.id, bob.user!.id);
    for (const d of [phone, laptop]) await waitUntil('room_removed', () => !entry(d, room.id), LIVE_MS);
  });

  it('opens the same direct room for both, and searches what was said in it', async () => {
    const alice = await nativeClient(world.url, 'alice');
    const bob = await nativeClient(world.url, 'bob');
    await bob.auth.me();
    const bobDevice = await device(bob);
    const first = await alice.rooms.direct(bob.user!.username);
    expect(first.created).toBe(true);
    expect(first.room.kind).toBe('direct');
    await waitUntil('room_added', () => !!entry(bobDevice, first.room.id), LIVE_MS);
    const again = await bob.rooms.direct(alice.user!.username);
    expect([again.created, again.room.id]).toEqual([false, first.room.id]);

    const socket = await connectedSocket(alice, sockets);
    await socket.emitWithAck('join', { roomId: first.room.id });
    await socket.emitWithAck('message', { roomId: first.room.id, text: 'a quiet zebra crossing' });
    const page = await bob.search('quiet zeb');
    expect(page.messages.map((m) => m.text)).toEqual(['a quiet zebra crossing']);
    expect(page.nextCursor).toBeNull();
  });
});
