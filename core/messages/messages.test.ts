import { beforeAll, describe, expect, it } from 'vitest';
import { createRoom } from '../rooms/rooms.ts';
import { appendMessages, readHistory, type Draft } from './messages.ts';
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

const draft = (
  user: { id: string; username: string },
  text: string,
  clientMsgId: string | null = null,
): Draft => ({
  userId: user.id,
  name: user.username,
  text,
  clientMsgId,
  attachmentId: null,
});

describe('appendMessages', () => {
  it('assigns gap-free seqs across concurrent batches, in commit order', async () => {
    const room = await createRoom(services.db, alice.id, 'busy');
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 1 + (b % 4) }, (_, i) => draft(alice, `b${b}-${i}`)),
    );
    const results = await Promise.all(batches.map((d) => appendMessages(services.db, room.id, d)));
    const seqs = results.flat().map((r) => (r.ok ? r.message.seq : -1));
    const total = batches.flat().length;
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // Within one batch seqs are consecutive and in draft order.
    for (const r of results) {
      const s = r.map((x) => (x.ok ? x.message.seq : -1));
      expect(s).toEqual(s.map((_, i) => s[0]! + i));
    }
    const page = await readHistory(services.db, room.id, { limit: 100 });
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('returns the original for a repeated clientMsgId, sequentially, concurrently and within one batch', async () => {
    const room = await createRoom(services.db, alice.id, 'dedupe');
    const [first] = await appendMessages(services.db, room.id, [draft(alice, 'hello', 'abc')]);
    expect(first).toMatchObject({ ok: true, duplicate: false });
    const [again] = await appendMessages(services.db, room.id, [draft(alice, 'hello (retry)', 'abc')]);
    expect(again).toEqual({ ok: true, duplicate: true, message: (first as { message: unknown }).message });

    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () => appendMessages(services.db, room.id, [draft(alice, 'race', 'race-1')])),
    );
    const originals = concurrent.flat().filter((r) => r.ok && !r.duplicate);
    expect(originals).toHaveLength(1);
    const ids = new Set(concurrent.flat().map((r) => (r.ok ? r.message.id : '')));
    expect(ids.size).toBe(1);

    const inBatch = await appendMessages(services.db, room.id, [
      draft(alice, 'x', 'dup'),
      draft(alice, 'y', 'dup'),
    ]);
    expect(inBatch[1]).toMatchObject({ ok: true, duplicate: true });
    expect((inBatch[1] as { message: { text: string } }).message.text).toBe('x');

    const page = await readHistory(services.db, room.id, { limit: 100 });
    expect(page.messages.map((m) => m.seq)).toEqual([1, 2, 3]); // duplicates took no seq
  });

  it('scopes clientMsgId per user: another user may reuse it', async () => {
    const room = await createRoom(services.db, alice.id, 'scoped');
    await services.db.prisma.roomMember.create({
      data: { id: `m-${bob.id}-${room.id}`, roomId: room.id, userId: bob.id },
    });
    const [a] = await appendMessages(services.db, room.id, [draft(alice, 'a', 'same')]);
    const [b] = await appendMessages(services.db, room.id, [draft(bob, 'b', 'same')]);
    expect(a).toMatchObject({ ok: true, duplicate: false });
    expect(b).toMatchObject({ ok: true, duplicate: false });
  });

  it('refuses non-members without taking a seq', async () => {
    const room = await createRoom(services.db, alice.id, 'members only');
    const results = await appendMessages(services.db, room.id, [draft(bob, 'intruder'), draft(alice, 'ok')]);
    expect(results[0]).toMatchObject({ ok: false });
    expect((results[0] as { error: { code: string } }).error.code).toBe('forbidden');
    expect(results[1]).toMatchObject({ ok: true, message: { seq: 1 } });
    const unknownRoom = await appendMessages(services.db, 'no-such-room', [draft(alice, 'x')]);
    expect((unknownRoom[0] as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it('refuses attachments that are not a completed upload of this room by the sender', async () => {
    const room = await createRoom(services.db, alice.id, 'attachments');
    const [r] = await appendMessages(services.db, room.id, [{ ...draft(alice, ''), attachmentId: 'nope' }]);
    expect((r as { error: { code: string } }).error.code).toBe('attachment_invalid');
  });

  it('keeps ts non-decreasing even when the clock goes backwards', async () => {
    const room = await createRoom(services.db, alice.id, 'clock');
    await appendMessages(services.db, room.id, [draft(alice, 'late')], () => 2_000_000_000_000);
    const [r] = await appendMessages(services.db, room.id, [draft(alice, 'early')], () => 1_000_000_000_000);
    expect((r as { message: { ts: number } }).message.ts).toBe(2_000_000_000_000);
  });
});
