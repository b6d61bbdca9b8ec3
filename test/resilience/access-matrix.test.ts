import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadTarget } from '../../core/storage/index.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../realtime-support.ts';
import { report } from './support/figures.ts';

/**
 * The generated access matrix: every user × every room × every REST route and socket event.
 * A member gets the room; anyone else (never a member, or a member who left) gets exactly
 * the contract's refusal, learns nothing (no room data in any answer, nothing live on any
 * socket) and changes nothing (row counts of every table that hangs off a room unchanged).
 */
let world: TestWorld;
const users: Record<string, TestUser> = {};
const rooms: Record<string, { id: string; name: string; members: string[] }> = {};
const pendingKeys: Record<string, string> = {};

const USERS = ['owner', 'member', 'leaver', 'outsider'] as const;
/** Whom members add during the run: someone outside the matrix, so membership stays fixed. */
let invitee: TestUser;

beforeAll(async () => {
  world = await startWorld({
    RATE_LIMIT_MESSAGE_PER_SECOND: '1000',
    RATE_LIMIT_MESSAGE_PER_10_SECONDS: '10000',
  });
  for (const u of USERS) users[u] = await world.user(u.slice(0, 6));
  invitee = await world.user('invitee');
  const make = async (label: string, owner: TestUser, ...others: TestUser[]) => {
    const name = `secret-${label}-${Math.random().toString(36).slice(2, 8)}`;
    const room = await owner.api.createRoom(name);
    for (const o of others) expect((await owner.api.addMember(room.id, o.name)).status).toBe(201);
    rooms[label] = { id: room.id, name, members: [owner.name, ...others.map((o) => o.name)] };
  };
  await make('shared', users.owner!, users.member!, users.leaver!);
  await make('private', users.owner!);
  await make('foreign', users.outsider!);
  await users.leaver!.leaveRoom({ id: rooms.shared!.id } as never);
  rooms.shared!.members = rooms.shared!.members.filter((m) => m !== users.leaver!.name);
  // Content in every room, and an upload started by a member of each.
  for (const [label, r] of Object.entries(rooms)) {
    const owner = label === 'foreign' ? users.outsider! : users.owner!;
    const s = await owner.connect();
    await s.joined(r.id);
    await s.sent(r.id, `confidential in ${r.name}`);
    s.close();
    const init = await owner.api.request<UploadTarget>('POST', '/api/upload/init', {
      roomId: r.id,
      filename: 'x.txt',
      mime: 'text/plain',
      bytes: 3,
    });
    expect(init.status).toBe(200);
    pendingKeys[label] = init.body.key;
  }
});

afterAll(() => world?.close());

const isMember = (user: string, room: string) => rooms[room]!.members.includes(users[user]!.name);
const isOwner = (user: string, room: string) => user === (room === 'foreign' ? 'outsider' : 'owner');
/** A user id that is nobody's: removing it is 404 for the owner, 403 for other members. */
const NOT_A_MEMBER = '01a00000-0000-7000-8000-00000000dead';

async function counts(roomId: string) {
  const p = world.services.db.prisma;
  return {
    messages: await p.message.count({ where: { roomId } }),
    members: await p.roomMember.count({ where: { roomId } }),
    attachments: await p.attachment.count({ where: { roomId } }),
  };
}

interface Cell {
  user: string;
  room: string;
  action: string;
  member: boolean;
  outcome: string;
  leaked: boolean;
}

describe('access matrix', () => {
  it('gives members access and everyone else the contract refusal, with zero cross-room reads or writes', async () => {
    const cells: Cell[] = [];
    const before = Object.fromEntries(
      await Promise.all(Object.entries(rooms).map(async ([l, r]) => [l, await counts(r.id)] as const)),
    );
    // A socket per user, listening to everything, for the whole run.
    const listeners: Record<string, { client: ChatClient; heard: string[] }> = {};
    for (const u of USERS) {
      const client = await users[u]!.connect();
      const heard: string[] = [];
      for (const e of [
        'message',
        'typing',
        'presence',
        'activity',
        'room_added',
        'room_updated',
        'room_removed',
      ])
        client.raw.on(e, (p: unknown) => heard.push(JSON.stringify(p)));
      listeners[u] = { client, heard };
    }

    for (const u of USERS) {
      const api = users[u]!.api;
      for (const [label, r] of Object.entries(rooms)) {
        const member = isMember(u, label);
        const record = (action: string, outcome: string, body: unknown) => {
          const text = String(JSON.stringify(body));
          cells.push({
            user: u,
            room: label,
            action,
            member,
            outcome,
            leaked:
              // Its name (its messages say `confidential in <name>`) or its id: a bare
              // 'confidential' would flag the outsider's own room's last message in its list.
              !member && (text.includes(r.name) || text.includes(r.id)),
          });
        };
        const rest = async (action: string, method: string, path: string, body?: unknown) => {
          const res = await api.request<{ error?: { code: string } }>(method, path, body);
          record(action, `${res.status}${res.body?.error ? ` ${res.body.error.code}` : ''}`, res.body);
        };
        await rest('GET room', 'GET', `/api/rooms/${r.id}`);
        await rest('GET members', 'GET', `/api/rooms/${r.id}/members`);
        await rest('GET history', 'GET', `/api/messages?roomId=${r.id}`);
        await rest('GET history afterSeq', 'GET', `/api/messages?roomId=${r.id}&afterSeq=0`);
        await rest('POST member', 'POST', `/api/rooms/${r.id}/members`, { username: invitee.name });
        // The same name again: the owner's rename changes nothing but proves the right.
        await rest('PATCH room', 'PATCH', `/api/rooms/${r.id}`, { name: r.name });
        await rest('DELETE a member', 'DELETE', `/api/rooms/${r.id}/members/${NOT_A_MEMBER}`);
        await rest('upload init', 'POST', '/api/upload/init', {
          roomId: r.id,
          filename: 'y.txt',
          mime: 'text/plain',
          bytes: 3,
        });
        await rest("upload complete (a member's key)", 'POST', '/api/upload/complete', {
          roomId: r.id,
          key: pendingKeys[label],
        });
        const list = await api.request<{ rooms: { id: string }[] }>('GET', '/api/rooms');
        record(
          'GET rooms lists it',
          list.body.rooms.some((x) => x.id === r.id) ? 'listed' : 'absent',
          member ? {} : list.body,
        );

        const s = listeners[u]!.client;
        for (const [event, payload] of [
          ['join', { roomId: r.id }],
          ['join sinceSeq', { roomId: r.id, sinceSeq: 0 }],
          ['message', { roomId: r.id, text: `from ${u}` }],
          ['typing', { roomId: r.id, typing: true }],
        ] as const) {
          const ack = (await s.raw.timeout(5_000).emitWithAck(event.split(' ')[0]!, payload)) as {
            ok: boolean;
            error?: { code: string };
          };
          record(`socket ${event}`, ack.ok ? 'ok' : ack.error!.code, ack);
        }
        if (!member) await rest('DELETE members/me', 'DELETE', `/api/rooms/${r.id}/members/me`);
      }
    }

    // Expected answers, by membership.
    const expected = (c: Cell): string => {
      if (c.member) {
        return (
          {
            'GET room': '200',
            'GET members': '200',
            'GET history': '200',
            'GET history afterSeq': '200',
            // The first member to add the invitee creates the membership; later ones find it.
            'POST member': c.outcome === '201' || c.outcome === '200' ? c.outcome : '200 or 201',
            'PATCH room': isOwner(c.user, c.room) ? '200' : '403 forbidden',
            'DELETE a member': isOwner(c.user, c.room) ? '404 not_found' : '403 forbidden',
            'upload init': '200',
            // Only the uploader may complete; the owner started these uploads, and nothing was stored.
            "upload complete (a member's key)": '404 not_found',
            'GET rooms lists it': 'listed',
            'socket join': 'ok',
            'socket join sinceSeq': 'ok',
            'socket message': 'ok',
            'socket typing': 'ok',
          } as Record<string, string>
        )[c.action]!;
      }
      if (c.action === 'GET rooms lists it') return 'absent';
      if (c.action.startsWith('socket ')) return 'forbidden';
      return '404 not_found';
    };
    const wrong = cells
      .filter((c) => c.outcome !== expected(c))
      .map((c) => `${c.user} × ${c.room} × ${c.action}: ${c.outcome} (expected ${expected(c)})`);
    const leaks = cells.filter((c) => c.leaked).map((c) => `${c.user} × ${c.room} × ${c.action}`);

    // Nothing live reached a non-member's socket: no message, typing or presence of a room it is not in.
    const heardLeaks: string[] = [];
    for (const u of USERS) {
      for (const [label, r] of Object.entries(rooms)) {
        if (isMember(u, label)) continue;
        for (const h of listeners[u]!.heard)
          if (h.includes(r.id)) heardLeaks.push(`${u} heard ${label}: ${h.slice(0, 120)}`);
      }
      listeners[u]!.client.close();
    }
    const after = Object.fromEntries(
      await Promise.all(Object.entries(rooms).map(async ([l, r]) => [l, await counts(r.id)] as const)),
    );
    // Members wrote exactly one message and started one upload each; non-members nothing.
    const writesByNonMembers: string[] = [];
    for (const label of Object.keys(rooms)) {
      const memberCount = rooms[label]!.members.length;
      const b = before[label]!;
      const a = after[label]!;
      if (a.messages !== b.messages + memberCount)
        writesByNonMembers.push(
          `${label}: messages ${b.messages} → ${a.messages} with ${memberCount} member senders`,
        );
      if (a.attachments !== b.attachments + memberCount)
        writesByNonMembers.push(`${label}: attachments ${b.attachments} → ${a.attachments}`);
      // Plus the invitee, added by a member.
      if (a.members !== b.members + 1)
        writesByNonMembers.push(`${label}: members ${b.members} → ${a.members}`);
    }
    const outsiderIn = await world.services.db.prisma.roomMember.count({
      where: { userId: users.outsider!.id, roomId: { in: [rooms.shared!.id, rooms.private!.id] } },
    });
    const leaverIn = await world.services.db.prisma.roomMember.count({ where: { userId: users.leaver!.id } });

    report('access-matrix', {
      users: USERS.length,
      rooms: Object.keys(rooms).length,
      cells: cells.length,
      nonMemberCells: cells.filter((c) => !c.member).length,
      wrong: wrong.length,
      leaks: leaks.length + heardLeaks.length,
      writesByNonMembers: writesByNonMembers.length,
    });
    expect(wrong).toEqual([]);
    expect(leaks).toEqual([]);
    expect(heardLeaks).toEqual([]);
    expect(writesByNonMembers).toEqual([]);
    expect(outsiderIn).toBe(0);
    expect(leaverIn).toBe(0);
    expect(cells.filter((c) => !c.member).length).toBeGreaterThan(40);
  });
});
