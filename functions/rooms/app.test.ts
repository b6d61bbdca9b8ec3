import { beforeAll, describe, expect, it } from 'vitest';
import type { Room } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { TestAccount, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, uniqueName } from '../../test/support.ts';

let services: Services;
let transport: FetchLike;
let alice: TestAccount;
let bob: TestAccount;
let mallory: TestAccount;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
  [alice, bob, mallory] = [uniqueName('alice'), uniqueName('bob'), uniqueName('mallory')].map(
    (n) => new TestAccount(transport, n),
  ) as [TestAccount, TestAccount, TestAccount];
  await Promise.all([alice.register(), bob.register(), mallory.register()]);
});

describe('rooms', () => {
  it('creates a room with a trimmed name; the creator is its only member', async () => {
    const res = await alice.request<{ room: Room }>('POST', '/api/rooms', { name: '  Design review  ' });
    expect(res.status).toBe(201);
    expect(res.body.room).toEqual({
      id: expect.any(String),
      name: 'Design review',
      createdAt: expect.any(String),
      lastSeq: 0,
      lastVersion: 0,
      kind: 'group',
      ownerId: alice.user!.id,
    });
    const members = await alice.request<{ members: { userId: string }[] }>(
      'GET',
      `/api/rooms/${res.body.room.id}/members`,
    );
    expect(members.body.members.map((m) => m.userId)).toEqual([alice.user!.id]);
  });

  it.each([
    ['blank', { name: '   ' }],
    ['81 code points', { name: '😀'.repeat(81) }],
    ['control characters', { name: 'a\u0007b' }],
    ['unknown field', { name: 'ok', private: true }],
    ['wrong type', { name: 7 }],
    ['lone surrogate', { name: 'x\ud800' }],
  ])('rejects a %s name', async (_l, body) => {
    const res = await alice.request<{ error: { code: string } }>('POST', '/api/rooms', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  it('accepts 80 code points of emoji', async () => {
    expect((await alice.request('POST', '/api/rooms', { name: '😀'.repeat(80) })).status).toBe(201);
  });

  it('lists only the caller’s rooms', async () => {
    const mine = await alice.createRoom('mine');
    const theirs = await bob.createRoom('theirs');
    const list = await alice.request<{ rooms: Room[] }>('GET', '/api/rooms');
    expect(list.status).toBe(200);
    const ids = list.body.rooms.map((r) => r.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
  });

  it('adds members case-insensitively; adding again answers 200 with the same joinedAt', async () => {
    const room = await alice.createRoom('team');
    const first = await alice.addMember(room.id, bob.username!.toUpperCase());
    expect(first.status).toBe(201);
    expect(first.body.member).toEqual({
      userId: bob.user!.id,
      username: bob.username,
      joinedAt: expect.any(String),
      role: 'member',
      lastReadSeq: 0,
      online: false,
    });
    const again = await alice.addMember(room.id, bob.username!);
    expect(again.status).toBe(200);
    expect(again.body.member).toEqual(first.body.member);
    // The new member can add others and sees the room.
    expect((await bob.request('GET', `/api/rooms/${room.id}`)).status).toBe(200);
    const members = await bob.request<{ members: { username: string }[] }>(
      'GET',
      `/api/rooms/${room.id}/members`,
    );
    expect(members.body.members.map((m) => m.username)).toEqual([alice.username, bob.username]);
  });

  it('answers 404 for an unknown user and 400 for a blank one', async () => {
    const room = await alice.createRoom('r');
    const unknown = await alice.addMember(room.id, uniqueName('ghost'));
    expect(unknown.status).toBe(404);
    expect((unknown.body as unknown as { error: { code: string } }).error.code).toBe('not_found');
    expect((await alice.addMember(room.id, '  ')).status).toBe(400);
  });

  it('leaving removes the member, answers 204, publishes member.left; then the room is gone for them', async () => {
    const room = await alice.createRoom('leave');
    await alice.addMember(room.id, bob.username!);
    const seen: unknown[] = [];
    const off = services.bus.subscribe((e) => seen.push(e));
    try {
      const res = await bob.request('DELETE', `/api/rooms/${room.id}/members/me`);
      expect(res.status).toBe(204);
      await expect
        .poll(() => seen)
        .toContainEqual({ type: 'member.left', roomId: room.id, userId: bob.user!.id });
    } finally {
      off();
    }
    expect((await bob.request('GET', `/api/rooms/${room.id}`)).status).toBe(404);
    expect((await bob.request('DELETE', `/api/rooms/${room.id}/members/me`)).status).toBe(404);
    const members = await alice.request<{ members: { userId: string }[] }>(
      'GET',
      `/api/rooms/${room.id}/members`,
    );
    expect(members.body.members.map((m) => m.userId)).toEqual([alice.user!.id]);
  });

  it('requires authentication on every route', async () => {
    const anon = new TestAccount(transport);
    const room = await alice.createRoom('auth');
    for (const [method, path, body] of [
      ['POST', '/api/rooms', { name: 'x' }],
      ['GET', '/api/rooms'],
      ['GET', `/api/rooms/${room.id}`],
      ['POST', `/api/rooms/${room.id}/members`, { username: bob.username }],
      ['GET', `/api/rooms/${room.id}/members`],
      ['DELETE', `/api/rooms/${room.id}/members/me`],
      ['GET', `/api/messages?roomId=${room.id}`],
    ] as const) {
      const res = await anon.request<{ error: { code: string } }>(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('authentication is checked before the body: an anonymous oversized body is 401, not 413', async () => {
    const anon = new TestAccount(transport);
    const res = await anon.request('POST', '/api/rooms', { name: 'x'.repeat(100_000) });
    expect(res.status).toBe(401);
  });
});

describe('cross-room access', () => {
  let room: Room;
  beforeAll(async () => {
    room = await alice.createRoom('private');
    await alice.addMember(room.id, bob.username!);
  });

  const routes = (roomId: string) =>
    [
      ['GET', `/api/rooms/${roomId}`],
      ['POST', `/api/rooms/${roomId}/members`, { username: 'someone' }],
      ['GET', `/api/rooms/${roomId}/members`],
      ['DELETE', `/api/rooms/${roomId}/members/me`],
      ['GET', `/api/messages?roomId=${encodeURIComponent(roomId)}`],
    ] as const;

  it('answers a non-member 404 not_found on every room route, exactly as for a room that does not exist', async () => {
    const seen = new Set<string>();
    for (const roomId of [room.id, '01a00000-0000-7000-8000-000000000000', 'not-an-id', '*', '{}', 'a:b']) {
      for (const [method, path, body] of routes(roomId)) {
        const res = await mallory.request<{ error: { code: string } }>(method, path, body);
        expect(res.status, `${method} ${path}`).toBe(404);
        seen.add(JSON.stringify(res.body));
      }
    }
    // One body for "private" and "nonexistent" on each route kind: no existence oracle.
    expect(seen.size).toBeLessThanOrEqual(2); // 'Room not found' (rooms, messages)
    // Mallory cannot add herself either, and the room is unchanged.
    const members = await alice.request<{ members: { userId: string }[] }>(
      'GET',
      `/api/rooms/${room.id}/members`,
    );
    expect(members.body.members.map((m) => m.userId).sort()).toEqual([alice.user!.id, bob.user!.id].sort());
  });

  it('the same routes work for a member (the 404s above are not vacuous)', async () => {
    for (const [method, path, body] of routes(room.id).filter(([m]) => m !== 'DELETE')) {
      const res = await bob.request(method, path, method === 'POST' ? { username: alice.username } : body);
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
    }
  });
});
