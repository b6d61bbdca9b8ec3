import { describe, expect, it } from 'vitest';
import type { Database } from '../core/db/database.ts';
import { RoomMembers } from './room-members.ts';

/** A database whose member query answers from a map, counting and optionally holding queries. */
function fakeDb(rooms: Map<string, string[]>) {
  const calls: string[] = [];
  let hold: Promise<void> | undefined;
  const db = {
    prisma: {
      roomMember: {
        findMany: async ({ where }: { where: { roomId: string } }) => {
          calls.push(where.roomId);
          const snapshot = [...(rooms.get(where.roomId) ?? [])];
          await hold;
          return snapshot.map((userId) => ({ userId }));
        },
      },
    },
  } as unknown as Database;
  return {
    db,
    calls,
    holdWhile: (p: Promise<void>) => {
      hold = p;
    },
  };
}

describe('the member cache', () => {
  it('loads a room once however many ask at once, then answers synchronously', async () => {
    const { db, calls } = fakeDb(new Map([['r', ['a', 'b']]]));
    const members = new RoomMembers(db);
    expect(members.cached('r')).toBeUndefined();
    const got = await Promise.all([members.get('r'), members.get('r'), members.get('r')]);
    expect(got.map((s) => [...s])).toEqual([
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(calls).toEqual(['r']);
    expect([...members.cached('r')!]).toEqual(['a', 'b']);
  });

  it('follows joins and departures', async () => {
    const { db } = fakeDb(new Map([['r', ['a']]]));
    const members = new RoomMembers(db);
    await members.get('r');
    members.joined('r', 'b');
    members.left('r', 'a');
    expect([...members.cached('r')!]).toEqual(['b']);
    // Events for rooms it does not hold change nothing (the next load reads the truth).
    members.joined('other', 'x');
    expect(members.cached('other')).toBeUndefined();
  });

  it('does not keep a load that a membership event overtook', async () => {
    const rooms = new Map([['r', ['a', 'b']]]);
    const { db, calls, holdWhile } = fakeDb(rooms);
    const members = new RoomMembers(db);
    let release!: () => void;
    holdWhile(new Promise<void>((r) => (release = r)));
    const loading = members.get('r');
    // The load has read (a, b); b is removed before it returns.
    await new Promise((r) => setTimeout(r, 5));
    rooms.set('r', ['a']);
    members.left('r', 'b');
    release();
    await loading;
    holdWhile(Promise.resolve());
    expect(members.cached('r')).toBeUndefined();
    expect([...(await members.get('r'))]).toEqual(['a']);
    expect(calls).toEqual(['r', 'r']);
  });

  it('is bounded (least recently used first) and reloads after its TTL', async () => {
    let now = 0;
    const { db, calls } = fakeDb(new Map([...'abcd'].map((r) => [r, [`${r}1`]])));
    const members = new RoomMembers(db, { maxRooms: 2, ttlMs: 1_000, now: () => now });
    await members.get('a');
    await members.get('b');
    members.cached('a'); // a is now the most recently used
    await members.get('c');
    expect(members.size).toBe(2);
    expect(members.cached('b')).toBeUndefined();
    expect(members.cached('a')).toBeDefined();
    now = 2_000;
    expect(members.cached('a')).toBeUndefined();
    await members.get('a');
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
