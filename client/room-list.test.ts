import { EventEmitter } from 'node:events';
import type { Ack, AckResult } from '../core/events.ts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message, Room, RoomListEntry } from '../core/schemas.ts';
import { ReadReceipts } from './read-receipts.ts';
import { ReadReporter } from './read-reporter.ts';
import { RoomList } from './room-list.ts';
import type { ChatSocket } from './socket.ts';

/**
 * The client-side state of issue 13, fed with the events the server's user channel sends
 * (a plain emitter stands in for the socket: only the events matter here; the browser e2e
 * and the server's tests cover them on the wire).
 */

const ME = 'me';
const room = (id: string, over: Partial<Room> = {}): Room => ({
  id,
  name: id,
  createdAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
  lastSeq: 0,
  lastVersion: 0,
  kind: 'group',
  ownerId: ME,
  ...over,
});
const entry = (id: string, over: Partial<RoomListEntry> = {}): RoomListEntry => ({
  ...room(id),
  lastReadSeq: 0,
  unread: 0,
  lastMessage: null,
  ...over,
});
const message = (roomId: string, seq: number, userId: string, ts: number): Message => ({
  id: `${roomId}-${seq}`,
  roomId,
  seq,
  userId,
  name: userId,
  text: `text ${seq}`,
  ts,
  clientMsgId: null,
  attachment: null,
  version: seq,
  editedAt: null,
  deletedAt: null,
  replyTo: null,
  reactions: [],
});

function setup(serverList: () => Promise<RoomListEntry[]>) {
  const socket = new EventEmitter();
  const changes: RoomListEntry[][] = [];
  const removed: string[] = [];
  const list = new RoomList({
    socket: socket as unknown as ChatSocket,
    meId: ME,
    list: serverList,
    onChange: (rooms) => changes.push(rooms.map((r) => ({ ...r }))),
    onRemoved: (id) => removed.push(id),
  });
  const order = () => list.all.map((r) => r.id);
  return { socket, list, changes, removed, order };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RoomList', () => {
  it('loads the server list on connect and keeps it in activity order as messages arrive', async () => {
    const { socket, list, order } = setup(async () => [
      entry('a', {
        lastSeq: 3,
        lastReadSeq: 3,
        lastMessage: { seq: 3, userId: 'x', name: 'x', text: 't', ts: 3_000 },
      }),
      entry('b', {
        lastSeq: 5,
        lastReadSeq: 2,
        unread: 3,
        lastMessage: { seq: 5, userId: 'x', name: 'x', text: 't', ts: 5_000 },
      }),
    ]);
    socket.emit('connect');
    await list.refresh();
    expect(order()).toEqual(['b', 'a']);
    expect(list.get('b')?.unread).toBe(3);

    // activity (a room this socket has not joined) moves it up and counts one more unread.
    socket.emit('activity', { roomId: 'a', seq: 4, userId: 'x', ts: 6_000 });
    expect(order()).toEqual(['a', 'b']);
    expect(list.get('a')).toMatchObject({ lastSeq: 4, unread: 1 });
    // The same seq again (activity and message both arrive): counted once.
    socket.emit('message', message('a', 4, 'x', 6_000));
    expect(list.get('a')).toMatchObject({ lastSeq: 4, unread: 1, lastMessage: { seq: 4, text: 'text 4' } });
    // One's own message is never unread and moves one's marker.
    socket.emit('message', message('b', 6, ME, 7_000));
    expect(list.get('b')).toMatchObject({ lastSeq: 6, lastReadSeq: 6, unread: 0 });
    expect(order()).toEqual(['b', 'a']);
    expect(list.totalUnread).toBe(1);
  });

  it('adds, renames and removes rooms live, and fetches an added room’s exact counts', async () => {
    vi.useFakeTimers();
    let server: RoomListEntry[] = [];
    const { socket, list, removed, order } = setup(async () => server);
    await list.refresh();
    expect(order()).toEqual([]);

    server = [entry('c', { lastSeq: 7, unread: 7, ownerId: 'other' })];
    socket.emit('room_added', { room: room('c', { lastSeq: 7, ownerId: 'other' }) });
    expect(order()).toEqual(['c']); // at once, before the server's counts
    await vi.advanceTimersByTimeAsync(500);
    expect(list.get('c')?.unread).toBe(7);

    socket.emit('room_updated', { room: room('c', { name: 'Renamed', lastSeq: 7, ownerId: ME }) });
    expect(list.get('c')).toMatchObject({ name: 'Renamed', ownerId: ME, unread: 7 });

    socket.emit('room_removed', { roomId: 'c' });
    expect(order()).toEqual([]);
    expect(removed).toEqual(['c']);
  });

  it('takes read_state from another device, and never moves a marker back', async () => {
    const { socket, list } = setup(async () => [entry('a', { lastSeq: 10, lastReadSeq: 4, unread: 6 })]);
    await list.refresh();
    socket.emit('read_state', { roomId: 'a', lastReadSeq: 10, unread: 0 });
    expect(list.get('a')).toMatchObject({ lastReadSeq: 10, unread: 0 });
    socket.emit('read_state', { roomId: 'a', lastReadSeq: 8, unread: 2 }); // late, older
    expect(list.get('a')).toMatchObject({ lastReadSeq: 10, unread: 0 });
    list.markRead('a', 9);
    expect(list.get('a')?.lastReadSeq).toBe(10);
  });

  it('marks read locally: all read is 0, a partial read keeps the count unless told', async () => {
    const { list } = setup(async () => [entry('a', { lastSeq: 10, lastReadSeq: 0, unread: 10 })]);
    await list.refresh();
    list.markRead('a', 5);
    expect(list.get('a')).toMatchObject({ lastReadSeq: 5, unread: 10 });
    list.markRead('a', 6, 4);
    expect(list.get('a')).toMatchObject({ lastReadSeq: 6, unread: 4 });
    list.markRead('a', 10);
    expect(list.get('a')).toMatchObject({ lastReadSeq: 10, unread: 0 });
  });

  it('keeps events that arrive while the list is being fetched (they are newer than it)', async () => {
    let answer: (rooms: RoomListEntry[]) => void = () => undefined;
    const { socket, list, order } = setup(
      () => new Promise<RoomListEntry[]>((resolve) => (answer = resolve)),
    );
    const fetching = list.refresh();
    socket.emit('room_added', { room: room('new') });
    socket.emit('room_removed', { roomId: 'old' });
    answer([entry('old'), entry('kept')]);
    await fetching;
    expect(order().sort()).toEqual(['kept', 'new']);
  });

  it('drops rooms the server no longer lists after a reconnect (removed while away)', async () => {
    let server = [entry('a'), entry('b')];
    const { list, removed, order } = setup(async () => server);
    await list.refresh();
    server = [entry('a')];
    await list.refresh();
    expect(order()).toEqual(['a']);
    expect(removed).toEqual(['b']);
  });
});

describe('ReadReporter', () => {
  it('sends at most one read per room per interval, with the newest seq, never one already sent', async () => {
    vi.useFakeTimers();
    const sent: { roomId: string; seq: number }[] = [];
    const acked: [string, number][] = [];
    const reporter = new ReadReporter({
      intervalMs: 500,
      emit: async (p) => {
        sent.push(p);
        return { ok: true, lastReadSeq: p.seq };
      },
      onRead: (roomId, seq) => acked.push([roomId, seq]),
    });
    reporter.seen('a', 1); // goes at once
    reporter.seen('a', 2);
    reporter.seen('a', 3);
    reporter.seen('b', 9); // another room has its own window
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([
      { roomId: 'a', seq: 1 },
      { roomId: 'b', seq: 9 },
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sent.at(-1)).toEqual({ roomId: 'a', seq: 3 });
    reporter.seen('a', 2);
    reporter.seen('a', 3);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(sent).toHaveLength(3);
    expect(acked).toEqual([
      ['a', 1],
      ['b', 9],
      ['a', 3],
    ]);
    reporter.destroy();
  });

  it('sends a refused or unanswered read again on retry(), and waits out a rate limit', async () => {
    vi.useFakeTimers();
    const answers: Ack<AckResult<'read'>>[] = [
      { ok: false, error: { code: 'unavailable', message: 'down' } },
      { ok: false, error: { code: 'rate_limited', message: 'slow', retryAfterMs: 1_000 } },
    ];
    const sent: number[] = [];
    const reporter = new ReadReporter({
      emit: async (p) => {
        sent.push(p.seq);
        return answers.shift() ?? { ok: true, lastReadSeq: p.seq };
      },
    });
    reporter.seen('a', 4);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([4]);
    reporter.retry();
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toEqual([4, 4]); // rate limited now
    await vi.advanceTimersByTimeAsync(900);
    expect(sent).toEqual([4, 4]);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([4, 4, 4]);
    reporter.destroy();
  });
});

describe('ReadReceipts', () => {
  it('names the other members who read a message, from members and live receipts', () => {
    const r = new ReadReceipts('a', ME);
    const member = (userId: string, lastReadSeq: number) => ({
      userId,
      username: userId.toUpperCase(),
      joinedAt: '2026-01-01T00:00:00.000Z',
      role: 'member' as const,
      lastReadSeq,
      online: false,
    });
    r.setMembers([member(ME, 9), member('bob', 3), member('carol', 5)]);
    expect(r.seenBy(5).map((x) => x.name)).toEqual(['CAROL']);
    expect(r.apply({ roomId: 'a', userId: 'bob', lastReadSeq: 6 })).toBe(true);
    expect(r.apply({ roomId: 'a', userId: 'bob', lastReadSeq: 4 })).toBe(false); // never back
    expect(r.apply({ roomId: 'other', userId: 'bob', lastReadSeq: 9 })).toBe(false);
    expect(r.seenBy(5).map((x) => x.name)).toEqual(['BOB', 'CAROL']);
    // A receipt from someone the list does not name yet: asks for the list again.
    r.apply({ roomId: 'a', userId: 'dave', lastReadSeq: 9 });
    expect(r.hasUnnamed()).toBe(true);
    expect(r.seenBy(9)).toEqual([]);
    r.setMembers([member(ME, 9), member('bob', 1), member('dave', 2)]); // carol removed
    expect(r.seenBy(6).map((x) => x.name)).toEqual(['BOB', 'DAVE']);
  });
});
