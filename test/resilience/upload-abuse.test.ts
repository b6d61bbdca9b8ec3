import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attachment } from '../../core/schemas.ts';
import type { UploadTarget } from '../../core/storage/index.ts';
import { startWorld, type ChatClient, type TestUser, type TestWorld } from '../realtime-support.ts';
import { report } from './support/figures.ts';

/**
 * Upload abuse, end to end against the embedded object store: other users' keys, other
 * rooms' attachments, reuse, size and type lies, forbidden types and sizes, hostile
 * filenames. Each attempt is refused with the contract's code and leaves nothing usable.
 */
let world: TestWorld;
let alice: TestUser;
let bob: TestUser;
let mallory: TestUser;
let room: { id: string };
let malloryRoom: { id: string };
let a: ChatClient;
let b: ChatClient;
let m: ChatClient;
const outcomes: Record<string, string> = {};

const init = (u: TestUser, body: Record<string, unknown>) =>
  u.api.request<UploadTarget & { error?: { code: string } }>('POST', '/api/upload/init', body);
const complete = (u: TestUser, roomId: string, key: string) =>
  u.api.request<{ attachment: Attachment; error?: { code: string } }>('POST', '/api/upload/complete', {
    roomId,
    key,
  });

async function put(target: UploadTarget, body: string, type: string): Promise<number> {
  if (target.method === 'POST') {
    const form = new FormData();
    // A liar changes the Content-Type field too (s3rver, unlike S3, does not hold it to the policy).
    for (const [k, v] of Object.entries(target.fields))
      form.append(k, k.toLowerCase() === 'content-type' ? type : v);
    form.append('file', new Blob([body], { type }), 'f');
    return (await fetch(target.url, { method: 'POST', body: form })).status;
  }
  return (
    await fetch(target.url, { method: 'PUT', headers: { ...target.headers, 'content-type': type }, body })
  ).status;
}

async function uploaded(
  u: TestUser,
  roomId: string,
  text = 'hello',
  mime = 'text/plain',
): Promise<Attachment> {
  const t = await init(u, { roomId, filename: 'a.txt', mime, bytes: Buffer.byteLength(text) });
  expect(t.status).toBe(200);
  expect(await put(t.body, text, mime)).toBeLessThan(300);
  const c = await complete(u, roomId, t.body.key);
  expect(c.status).toBe(201);
  return c.body.attachment;
}

beforeAll(async () => {
  world = await startWorld({ MAX_UPLOAD_BYTES: '1024' });
  alice = await world.user('alice');
  bob = await world.user('bob');
  mallory = await world.user('mallory');
  room = await world.room(alice, bob, mallory);
  malloryRoom = await world.room(mallory);
  a = await alice.connect();
  b = await bob.connect();
  m = await mallory.connect();
  for (const c of [a, b, m]) await c.joined(room.id);
  await m.joined(malloryRoom.id);
});

afterAll(async () => {
  for (const c of [a, b, m]) c?.close();
  await world?.close();
});

const code = (r: { status: number; body: { error?: { code: string } } }) =>
  `${r.status}${r.body.error ? ` ${r.body.error.code}` : ''}`;
const ackCode = (ack: { ok: boolean; error?: { code: string } }) => (ack.ok ? 'ok' : ack.error!.code);

describe('upload abuse', () => {
  it("refuses completing someone else's upload, in their room or in one's own", async () => {
    const t = await init(alice, { roomId: room.id, filename: 'a.txt', mime: 'text/plain', bytes: 5 });
    expect(await put(t.body, 'hello', 'text/plain')).toBeLessThan(300);
    outcomes["complete another user's key"] = code(await complete(mallory, room.id, t.body.key));
    outcomes["complete another user's key under one's own room"] = code(
      await complete(mallory, malloryRoom.id, t.body.key),
    );
    outcomes['complete a key that was never issued'] = code(
      await complete(mallory, room.id, `uploads/${room.id}/${mallory.id}/forged`),
    );
    outcomes['complete with a path-traversal key'] = code(
      await complete(mallory, room.id, `../../${t.body.key}`),
    );
    // The rightful owner is unaffected.
    expect((await complete(alice, room.id, t.body.key)).status).toBe(201);
    expect(outcomes["complete another user's key"]).toBe('404 not_found');
    expect(outcomes["complete another user's key under one's own room"]).toBe('404 not_found');
    expect(outcomes['complete a key that was never issued']).toBe('404 not_found');
    expect(outcomes['complete with a path-traversal key']).toBe('404 not_found');
  });

  it("refuses sending someone else's attachment, another room's attachment, or one twice", async () => {
    const alices = await uploaded(alice, room.id);
    outcomes["send another user's attachment"] = ackCode(
      await m.send(room.id, 'mine now', { attachmentId: alices.id }),
    );
    const elsewhere = await uploaded(mallory, malloryRoom.id);
    outcomes["send another room's attachment"] = ackCode(
      await m.send(room.id, 'smuggled', { attachmentId: elsewhere.id }),
    );
    const once = await uploaded(mallory, room.id);
    outcomes['first use of an attachment'] = ackCode(
      await m.send(room.id, 'first', { attachmentId: once.id }),
    );
    outcomes['reuse of an attachment'] = ackCode(await m.send(room.id, 'again', { attachmentId: once.id }));
    outcomes['reuse under another clientMsgId'] = ackCode(
      await m.send(room.id, 'again', { attachmentId: once.id, clientMsgId: 'other-id' }),
    );
    const pending = await init(mallory, { roomId: room.id, filename: 'p.txt', mime: 'text/plain', bytes: 3 });
    const pendingId =
      (
        await world.services.db.prisma.attachment.findFirst({
          where: { key: pending.body.key },
          select: { id: true },
        })
      )?.id ?? 'unknown';
    outcomes['send an attachment that was never completed'] = ackCode(
      await m.send(room.id, 'pending', { attachmentId: pendingId }),
    );
    expect(outcomes["send another user's attachment"]).toBe('attachment_invalid');
    expect(outcomes["send another room's attachment"]).toBe('attachment_invalid');
    expect(outcomes['first use of an attachment']).toBe('ok');
    expect(outcomes['reuse of an attachment']).toBe('attachment_invalid');
    expect(outcomes['reuse under another clientMsgId']).toBe('attachment_invalid');
    expect(outcomes['send an attachment that was never completed']).toBe('attachment_invalid');
  });

  it('catches size and type lies at complete: 422, object deleted, key dead for good', async () => {
    const lingering: string[] = [];
    for (const [label, declared, sent, declaredMime, sentMime] of [
      ['bigger than declared', 4, 'hello world', 'text/plain', 'text/plain'],
      ['smaller than declared', 100, 'hi', 'text/plain', 'text/plain'],
      ['HTML posing as PNG', 20, '<script>x</script>!!', 'image/png', 'text/html'],
      ['SVG posing as PNG', 11, '<svg></svg>', 'image/png', 'image/svg+xml'],
    ] as const) {
      const t = await init(mallory, { roomId: room.id, filename: 'x', mime: declaredMime, bytes: declared });
      expect(t.status, label).toBe(200);
      expect(await put(t.body, sent, sentMime)).toBeLessThan(300);
      const first = await complete(mallory, room.id, t.body.key);
      outcomes[`${label}: complete`] = code(first);
      expect(code(first), label).toBe('422 upload_mismatch');
      expect(
        await world.services.storage.head(t.body.key),
        `${label}: the lying object is deleted`,
      ).toBeNull();
      // Re-uploading the right bytes under the same key does not revive it.
      await put(t.body, 'x'.repeat(declared), declaredMime);
      const again = await complete(mallory, room.id, t.body.key);
      outcomes[`${label}: complete again`] = code(again);
      expect(again.status, label).not.toBe(201);
      expect(again.status, label).not.toBe(200);
      // The refused key never completes; an object re-uploaded under it is unusable (noted in the report).
      if ((await world.services.storage.head(t.body.key)) !== null) lingering.push(label);
    }
    outcomes['objects re-uploaded under a refused key left in the store'] = lingering.length
      ? lingering.join(', ')
      : 'none';
  });

  it('refuses forbidden types, oversized declarations and cleans hostile filenames', async () => {
    for (const mime of [
      'text/html',
      'image/svg+xml',
      'application/javascript',
      'application/xml',
      'text/html; charset=utf-8',
      'TEXT/HTML',
    ]) {
      const r = await init(mallory, { roomId: room.id, filename: 'x', mime, bytes: 3 });
      outcomes[`init ${mime}`] = code(r);
      expect(code(r), mime).toBe('400 invalid_request');
    }
    const big = await init(mallory, { roomId: room.id, filename: 'x', mime: 'text/plain', bytes: 1025 });
    outcomes['init over MAX_UPLOAD_BYTES'] = code(big);
    expect(code(big)).toBe('413 payload_too_large');
    const nonMember = await init(bob, {
      roomId: malloryRoom.id,
      filename: 'x',
      mime: 'text/plain',
      bytes: 3,
    });
    outcomes['init in a room one is not in'] = code(nonMember);
    expect(code(nonMember)).toBe('404 not_found');

    const hostile = '../../etc/pass\u0000wd\r\n<script>.txt';
    const t = await init(mallory, { roomId: room.id, filename: hostile, mime: 'text/plain', bytes: 3 });
    expect(t.status).toBe(200);
    expect(t.body.key).not.toContain('..');
    expect(t.body.key).not.toContain('etc');
    expect(await put(t.body, 'abc', 'text/plain')).toBeLessThan(300);
    const done = await complete(mallory, room.id, t.body.key);
    expect(done.status).toBe(201);
    // eslint-disable-next-line no-control-regex
    expect(done.body.attachment.filename).not.toMatch(/[/\\\u0000-\u001f]/);
    outcomes['hostile filename stored as'] = done.body.attachment.filename;
  });

  it('reports', () => {
    report('upload-abuse', { cases: Object.keys(outcomes).length, outcomes });
  });
});
