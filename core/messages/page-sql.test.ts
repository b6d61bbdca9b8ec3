import { beforeAll, describe, expect, it } from 'vitest';
import { createRoom } from '../rooms/rooms.ts';
import { appendMessages } from './messages.ts';
import { readJoinPage, readPage } from './page-sql.ts';
import type { Services } from '../services.ts';
import { registerUser } from '../users/users.ts';
import { sharedServices, uniqueName } from '../../test/support.ts';

let services: Services;
let alice: { id: string; username: string };
let bob: { id: string; username: string };

beforeAll(async () => {
  services = await sharedServices();
  alice = await registerUser(services.db, uniqueName('alice'), 'long enough');
  bob = await registerUser(services.db, uniqueName('bob'), 'long enough');
});

const send = (roomId: string, text: string) =>
  appendMessages(services.db, roomId, [
    { userId: alice.id, name: alice.username, text, clientMsgId: null, attachmentId: null },
  ]);

describe('readJoinPage', () => {
  it('reads the room, the joiners who are not members and the page in one statement', async () => {
    const room = await createRoom(services.db, alice.id, 'joinable');
    for (const text of ['one', 'two', 'three']) await send(room.id, text);
    const {
      room: head,
      nonMembers,
      page,
    } = await readJoinPage(services.db, room.id, { limit: 2 }, [alice.id, bob.id]);
    expect(head).toMatchObject({ id: room.id, name: 'joinable', lastSeq: 3, lastVersion: 3, kind: 'group' });
    expect(new Date(head!.createdAtMs).toISOString()).toBe(room.createdAt);
    expect([...nonMembers]).toEqual([bob.id]);
    expect(page.messages.map((m) => m.text)).toEqual(['two', 'three']);
    expect(page.hasMore).toBe(true);
    // The same page as the history statement reads.
    expect(page).toEqual(await readPage(services.db, room.id, { limit: 2 }));
    const after = await readJoinPage(services.db, room.id, { afterSeq: 1, limit: 100 }, [alice.id]);
    expect(after.page.messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(after.page.hasMore).toBe(false);
    expect(after.nonMembers.size).toBe(0);
  });

  it('answers an empty room with its row, and no such room with none', async () => {
    const room = await createRoom(services.db, alice.id, 'empty');
    const empty = await readJoinPage(services.db, room.id, { limit: 50 }, [alice.id]);
    expect(empty.room).toMatchObject({ id: room.id, lastSeq: 0, lastVersion: 0 });
    expect(empty.page).toMatchObject({ messages: [], hasMore: false });
    expect(empty.nonMembers.size).toBe(0);
    const none = await readJoinPage(services.db, 'no-such-room', { limit: 50 }, [alice.id]);
    expect(none.room).toBeNull();
    expect(none.nonMembers).toEqual(new Set([alice.id]));
  });
});
