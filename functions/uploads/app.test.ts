import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { appendMessages } from '../../core/messages/messages.ts';
import { registry, uploadsCompleted } from '../../core/metrics.ts';
import type { Attachment, Message, Room } from '../../core/schemas.ts';
import type { Services } from '../../core/services.ts';
import { openObjectStore, type UploadTarget } from '../../core/storage/index.ts';
import { startUploadSweeper, sweepOrphanUploads, sweepOptionsFrom } from '../../core/uploads/uploads.ts';
import { TestAccount, type RawResponse, type FetchLike } from '../../test/accounts.ts';
import { restApp, sharedServices, silentLogger, testConfig, uniqueName } from '../../test/support.ts';

/**
 * The upload flow as a client lives it: init over REST, the file straight to the (real,
 * embedded) object store exactly as a browser sends it, complete over REST, then the
 * attachment in a message and in history, fetched back through its signed URL.
 */

let services: Services;
let transport: FetchLike;
let putTransport: FetchLike;

beforeAll(async () => {
  services = await sharedServices();
  const app = await restApp(services);
  transport = (path, init) => app.request(path, init);
  const putApp = await restApp({ ...services, config: testConfig({ UPLOAD_METHOD: 'put' }) });
  putTransport = (path, init) => putApp.request(path, init);
});

async function user(prefix: string, via = transport): Promise<TestAccount> {
  const c = new TestAccount(via, uniqueName(prefix));
  await c.register();
  return c;
}

type InitBody = { roomId: string; filename: string; mime: string; bytes: number };
type InitResponse = UploadTarget;

const init = (c: TestAccount, body: InitBody | Record<string, unknown>) =>
  c.request<InitResponse & { error?: { code: string } }>('POST', '/api/upload/init', body);
const complete = (c: TestAccount, roomId: string, key: string) =>
  c.request<{ attachment: Attachment; error?: { code: string } }>('POST', '/api/upload/complete', {
    roomId,
    key,
  });

/** The file as a browser sends it: POST multipart with every field then `file`; PUT with exactly the headers. */
async function sendFile(
  target: UploadTarget,
  body: Uint8Array<ArrayBuffer>,
  type: string,
  tamper: Record<string, string> = {},
) {
  if (target.method === 'POST') {
    const form = new FormData();
    for (const [k, v] of Object.entries({ ...target.fields, ...tamper })) form.append(k, v);
    form.append('file', new Blob([body], { type }), 'whatever.bin');
    return fetch(target.url, { method: 'POST', body: form });
  }
  return fetch(target.url, { method: 'PUT', headers: { ...target.headers, ...tamper }, body });
}

const png = (n: number) => {
  const b = new Uint8Array(randomBytes(n));
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].slice(0, n));
  return b;
};

/** init → upload → complete; returns the attachment. */
async function uploadFile(
  c: TestAccount,
  roomId: string,
  body = png(2048),
  mime = 'image/png',
  filename = 'cat.png',
): Promise<{ attachment: Attachment; body: Uint8Array<ArrayBuffer> }> {
  const started = await init(c, { roomId, filename, mime, bytes: body.length });
  expect(started.status).toBe(200);
  const sent = await sendFile(started.body, body, mime);
  expect(sent.ok).toBe(true);
  const done = await complete(c, roomId, started.body.key);
  expect(done.status).toBe(201);
  return { attachment: done.body.attachment, body };
}

async function fetchBytes(url: string): Promise<{ res: Response; bytes: Uint8Array }> {
  const res = await fetch(url);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const errorCode = (r: RawResponse<unknown>) => (r.body as { error?: { code?: string } }).error?.code;

describe('uploads with presigned POST (the S3 default)', () => {
  let alice: TestAccount;
  let bob: TestAccount;
  let room: Room;

  beforeAll(async () => {
    alice = await user('alice');
    bob = await user('bob');
    room = await alice.createRoom('media');
    expect((await alice.addMember(room.id, bob.username!)).status).toBe(201);
  });

  it('uploads a picture as a browser would, completes it, and serves the same bytes back', async () => {
    const body = png(64 * 1024);
    const started = await init(alice, {
      roomId: room.id,
      filename: '../../etc/cat\u0007.png',
      mime: 'image/png',
      bytes: body.length,
    });
    expect(started.status).toBe(200);
    const target = started.body;
    if (target.method !== 'POST') throw new Error('expected a POST');
    expect(Object.keys(target).sort()).toEqual(['expiresAt', 'fields', 'key', 'method', 'url']);
    // The server chose the key: scoped by room and uploader, nothing from the filename.
    expect(target.key).toMatch(new RegExp(`^uploads/${room.id}/${alice.user!.id}/[0-9a-f-]{36}$`));
    expect(target.fields.key).toBe(target.key);
    expect(target.fields['Content-Type']).toBe('image/png');
    expect(target.expiresAt).toBeGreaterThan(Date.now());
    expect(target.expiresAt - Date.now()).toBeLessThanOrEqual(600_000);

    const sent = await sendFile(target, body, 'image/png');
    expect(sent.status).toBe(204);

    const first = await complete(alice, room.id, target.key);
    expect(first.status).toBe(201);
    const a = first.body.attachment;
    expect(a).toEqual({
      id: expect.any(String),
      roomId: room.id,
      userId: alice.user!.id,
      key: target.key,
      mime: 'image/png',
      bytes: body.length,
      filename: '....etccat.png',
      ts: expect.any(Number),
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//),
    });
    const { res, bytes } = await fetchBytes(a.url);
    expect(res.status).toBe(200);
    expect(bytes).toEqual(body);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toMatch(/^inline; filename="\.\.\.\.etccat\.png"$/);

    // Completing again answers with the same attachment, 200.
    const second = await complete(alice, room.id, target.key);
    expect(second.status).toBe(200);
    expect({ ...second.body.attachment, url: '' }).toEqual({ ...a, url: '' });
  });

  it('sends the attachment in a message that another member sees in history with a working URL', async () => {
    const body = new Uint8Array(randomBytes(5000));
    const { attachment } = await uploadFile(alice, room.id, body, 'application/pdf', 'minutes.pdf');
    const [sent] = await appendMessages(services.db, room.id, [
      {
        userId: alice.user!.id,
        name: alice.username!,
        text: 'the minutes',
        clientMsgId: null,
        attachmentId: attachment.id,
      },
    ]);
    expect(sent!.ok).toBe(true);

    const page = await bob.history({ roomId: room.id });
    expect(page.status).toBe(200);
    const m = page.body.messages.find((x: Message) => x.attachment?.id === attachment.id)!;
    expect(m.attachment).toEqual({
      id: attachment.id,
      mime: 'application/pdf',
      bytes: 5000,
      filename: 'minutes.pdf',
      url: expect.any(String),
    });
    const { res, bytes } = await fetchBytes(m.attachment!.url);
    expect(res.status).toBe(200);
    expect(bytes).toEqual(body);
    // Not an image: it downloads, never renders.
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="minutes.pdf"');
    expect(res.headers.get('content-type')).toBe('application/pdf');
  });

  it('catches a file larger than declared at complete: deleted, 422, and the key never completes', async () => {
    const started = await init(alice, {
      roomId: room.id,
      filename: 'small.png',
      mime: 'image/png',
      bytes: 100,
    });
    // s3rver does not enforce the policy's content-length-range (S3 would): complete must.
    expect((await sendFile(started.body, png(5000), 'image/png')).status).toBe(204);
    expect(await services.storage.head(started.body.key)).toEqual({ bytes: 5000, mime: 'image/png' });

    const res = await complete(alice, room.id, started.body.key);
    expect(res.status).toBe(422);
    expect(errorCode(res)).toBe('upload_mismatch');
    expect(await services.storage.head(started.body.key)).toBeNull();

    // Even the right bytes under the still-valid URL cannot revive the key.
    expect((await sendFile(started.body, png(100), 'image/png')).status).toBe(204);
    const again = await complete(alice, room.id, started.body.key);
    expect(again.status).toBe(422);
    expect(errorCode(again)).toBe('upload_mismatch');
    // ...and what was put there is deleted again.
    expect(await services.storage.head(started.body.key)).toBeNull();
  });

  it('catches a smaller file too', async () => {
    const started = await init(alice, { roomId: room.id, filename: 'x.png', mime: 'image/png', bytes: 1000 });
    await sendFile(started.body, png(999), 'image/png');
    const res = await complete(alice, room.id, started.body.key);
    expect(res.status).toBe(422);
    expect(await services.storage.head(started.body.key)).toBeNull();
  });

  it('catches a type other than declared: an HTML file posing as a PNG is deleted', async () => {
    const html = new TextEncoder().encode('<html><script>alert(1)</script></html>');
    const started = await init(alice, {
      roomId: room.id,
      filename: 'x.png',
      mime: 'image/png',
      bytes: html.length,
    });
    const sent = await sendFile(started.body, html, 'text/html', { 'Content-Type': 'text/html' });
    expect(sent.status).toBe(204);
    expect((await services.storage.head(started.body.key))?.mime).toBe('text/html');

    const res = await complete(alice, room.id, started.body.key);
    expect(res.status).toBe(422);
    expect(errorCode(res)).toBe('upload_mismatch');
    expect(await services.storage.head(started.body.key)).toBeNull();
  });

  it('answers 404 when nothing was uploaded, and still completes once the file arrives', async () => {
    const body = png(300);
    const started = await init(alice, {
      roomId: room.id,
      filename: 'late.png',
      mime: 'image/png',
      bytes: body.length,
    });
    const early = await complete(alice, room.id, started.body.key);
    expect(early.status).toBe(404);
    expect(errorCode(early)).toBe('not_found');
    await sendFile(started.body, body, 'image/png');
    expect((await complete(alice, room.id, started.body.key)).status).toBe(201);
  });

  it("refuses another user's key, the wrong room, and keys that were never issued, all as 404", async () => {
    const started = await init(alice, {
      roomId: room.id,
      filename: 'mine.png',
      mime: 'image/png',
      bytes: 10,
    });
    await sendFile(started.body, png(10), 'image/png');

    const stolen = await complete(bob, room.id, started.body.key);
    expect(stolen.status).toBe(404);

    const other = await alice.createRoom('elsewhere');
    expect((await complete(alice, other.id, started.body.key)).status).toBe(404);
    expect((await complete(alice, room.id, `uploads/${room.id}/${alice.user!.id}/made-up`)).status).toBe(404);
    expect((await complete(alice, room.id, 'x'.repeat(1024))).status).toBe(404);

    // None of that rejected or completed it: the uploader still can.
    expect((await complete(alice, room.id, started.body.key)).status).toBe(201);
  });

  it('refuses non-members at init and an uploader who left before complete', async () => {
    const carol = await user('carol');
    const outsider = await init(carol, { roomId: room.id, filename: 'a.png', mime: 'image/png', bytes: 10 });
    expect(outsider.status).toBe(404);
    expect(errorCode(outsider)).toBe('not_found');
    expect(
      (await init(carol, { roomId: 'no-such-room', filename: 'a.png', mime: 'image/png', bytes: 10 })).status,
    ).toBe(404);

    const dave = await user('dave');
    expect((await alice.addMember(room.id, dave.username!)).status).toBe(201);
    const started = await init(dave, { roomId: room.id, filename: 'a.png', mime: 'image/png', bytes: 10 });
    expect(started.status).toBe(200);
    await sendFile(started.body, png(10), 'image/png');
    expect((await dave.request('DELETE', `/api/rooms/${room.id}/members/me`)).status).toBe(204);
    expect((await complete(dave, room.id, started.body.key)).status).toBe(404);
  });

  it('accepts an attachment in one message only, from its uploader, in its room, once completed', async () => {
    const { attachment } = await uploadFile(alice, room.id);
    const other = await alice.createRoom('other');
    const draft = (userId: string, name: string, attachmentId: string) => ({
      userId,
      name,
      text: '',
      clientMsgId: null,
      attachmentId,
    });

    const [wrongRoom] = await appendMessages(services.db, other.id, [
      draft(alice.user!.id, 'alice', attachment.id),
    ]);
    expect(wrongRoom).toMatchObject({ ok: false, error: { code: 'attachment_invalid' } });
    const [notYours] = await appendMessages(services.db, room.id, [
      draft(bob.user!.id, 'bob', attachment.id),
    ]);
    expect(notYours).toMatchObject({ ok: false, error: { code: 'attachment_invalid' } });

    const pending = await init(alice, { roomId: room.id, filename: 'p.png', mime: 'image/png', bytes: 10 });
    const pendingRow = await services.db.prisma.attachment.findUnique({ where: { key: pending.body.key } });
    const [notCompleted] = await appendMessages(services.db, room.id, [
      draft(alice.user!.id, 'alice', pendingRow!.id),
    ]);
    expect(notCompleted).toMatchObject({ ok: false, error: { code: 'attachment_invalid' } });

    const [first, twiceInOneBatch] = await appendMessages(services.db, room.id, [
      draft(alice.user!.id, 'alice', attachment.id),
      draft(alice.user!.id, 'alice', attachment.id),
    ]);
    expect(first).toMatchObject({ ok: true });
    expect(twiceInOneBatch).toMatchObject({ ok: false, error: { code: 'attachment_invalid' } });
    const [reused] = await appendMessages(services.db, room.id, [
      draft(alice.user!.id, 'alice', attachment.id),
    ]);
    expect(reused).toMatchObject({ ok: false, error: { code: 'attachment_invalid' } });
  });
});

describe('complete under concurrency and failure', () => {
  it('answers two simultaneous completes with one 201 and one 200 for the same attachment', async () => {
    const alice = await user('alice');
    const room = await alice.createRoom('race');
    const started = await init(alice, { roomId: room.id, filename: 'r.png', mime: 'image/png', bytes: 50 });
    await sendFile(started.body, png(50), 'image/png');
    const results = await Promise.all([1, 2, 3].map(() => complete(alice, room.id, started.body.key)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect(new Set(results.map((r) => r.body.attachment.id)).size).toBe(1);
  });

  it('answers 503 unavailable when the object store does not answer, and completes later', async () => {
    const alice = await user('alice');
    const room = await alice.createRoom('down');
    const down = await openObjectStore(
      testConfig({
        S3_BUCKET: 'down',
        S3_ENDPOINT: 'http://127.0.0.1:9',
        S3_ACCESS_KEY_ID: 'a',
        S3_SECRET_ACCESS_KEY: 'b',
      }),
      silentLogger,
    );
    try {
      const app = await restApp({ ...services, storage: down });
      const viaDown = new TestAccount((p, i) => app.request(p, i));
      viaDown.cookie = alice.cookie;
      const started = await init(alice, { roomId: room.id, filename: 'd.png', mime: 'image/png', bytes: 20 });
      await sendFile(started.body, png(20), 'image/png');
      const res = await complete(viaDown, room.id, started.body.key);
      expect(res.status).toBe(503);
      expect(errorCode(res)).toBe('unavailable');
      expect((await complete(alice, room.id, started.body.key)).status).toBe(201);
    } finally {
      await down.close();
    }
  });

  it('counts completions by result in /metrics', async () => {
    const count = async (result: string) =>
      (await uploadsCompleted.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    const before = Object.fromEntries(
      await Promise.all(['created', 'repeated', 'mismatch', 'missing'].map(async (r) => [r, await count(r)])),
    );
    const alice = await user('alice');
    const room = await alice.createRoom('metrics');
    const ok = await init(alice, { roomId: room.id, filename: 'm.png', mime: 'image/png', bytes: 10 });
    expect((await complete(alice, room.id, ok.body.key)).status).toBe(404);
    await sendFile(ok.body, png(10), 'image/png');
    expect((await complete(alice, room.id, ok.body.key)).status).toBe(201);
    expect((await complete(alice, room.id, ok.body.key)).status).toBe(200);
    const bad = await init(alice, { roomId: room.id, filename: 'm.png', mime: 'image/png', bytes: 10 });
    await sendFile(bad.body, png(11), 'image/png');
    expect((await complete(alice, room.id, bad.body.key)).status).toBe(422);

    for (const result of ['created', 'repeated', 'mismatch', 'missing']) {
      expect(await count(result), result).toBe(before[result] + 1);
    }
    expect(await registry.metrics()).toContain('parley_uploads_completed_total{result="mismatch"}');
  });
});

describe('uploads with presigned PUT (UPLOAD_METHOD=put, as for R2)', () => {
  it('uploads with exactly the returned headers, completes, and serves the bytes back', async () => {
    const alice = await user('alice', putTransport);
    const room = await alice.createRoom('put');
    const body = png(4096);
    const started = await init(alice, {
      roomId: room.id,
      filename: 'put.png',
      mime: 'image/png',
      bytes: body.length,
    });
    expect(started.status).toBe(200);
    const target = started.body;
    if (target.method !== 'PUT') throw new Error('expected a PUT');
    expect(Object.keys(target).sort()).toEqual(['expiresAt', 'headers', 'key', 'method', 'url']);
    expect(target.headers).toEqual({ 'Content-Type': 'image/png', 'Content-Length': String(body.length) });
    const signed = new URL(target.url).searchParams.get('X-Amz-SignedHeaders')!.split(';');
    expect(signed).toEqual(expect.arrayContaining(['content-length', 'content-type']));

    expect((await sendFile(target, body, 'image/png')).status).toBe(200);
    const done = await complete(alice, room.id, target.key);
    expect(done.status).toBe(201);
    const { bytes } = await fetchBytes(done.body.attachment.url);
    expect(bytes).toEqual(body);
  });

  it('catches a size lie at complete', async () => {
    const alice = await user('alice', putTransport);
    const room = await alice.createRoom('put');
    const started = await init(alice, { roomId: room.id, filename: 'a.txt', mime: 'text/plain', bytes: 5 });
    const big = new TextEncoder().encode('much more than five bytes');
    // s3rver ignores the signature; S3/R2 would refuse this Content-Length outright.
    expect(
      (await sendFile(started.body, big, 'text/plain', { 'Content-Length': String(big.length) })).status,
    ).toBe(200);
    const res = await complete(alice, room.id, started.body.key);
    expect(res.status).toBe(422);
    expect(await services.storage.head(started.body.key)).toBeNull();
  });
});

describe('request shape and the order of checks', () => {
  let alice: TestAccount;
  let outsider: TestAccount;
  let room: Room;

  beforeAll(async () => {
    alice = await user('alice');
    outsider = await user('out');
    room = await alice.createRoom('shape');
  });

  const good = (roomId: string) => ({ roomId, filename: 'a.png', mime: 'image/png', bytes: 10 });

  it('requires a session before anything else (401)', async () => {
    const anon = new TestAccount(transport);
    expect((await anon.request('POST', '/api/upload/init', { nonsense: true })).status).toBe(401);
    expect((await anon.request('POST', '/api/upload/complete', good(room.id))).status).toBe(401);
  });

  it.each([
    ['html', { mime: 'text/html' }],
    ['svg', { mime: 'image/svg+xml' }],
    ['javascript', { mime: 'application/javascript' }],
    ['xml', { mime: 'application/xml' }],
    ['a type not on the list', { mime: 'application/zip' }],
    ['a malformed type', { mime: 'png' }],
    ['zero bytes', { bytes: 0 }],
    ['fractional bytes', { bytes: 1.5 }],
    ['bytes as a string', { bytes: '10' }],
    ['an empty filename', { filename: '' }],
    ['a filename of only separators', { filename: '///' }],
    ['a filename over 255 characters', { filename: `${'é'.repeat(252)}.png` }],
    ['an unknown field', { key: 'mine/chosen/key' }],
  ])('refuses %s with 400 invalid_request, before membership', async (_label, change) => {
    const res = await init(outsider, { ...good(room.id), ...change });
    expect(res.status).toBe(400);
    expect(errorCode(res)).toBe('invalid_request');
  });

  it('accepts a type with parameters and upper case as its plain lower-case form', async () => {
    const res = await init(alice, { ...good(room.id), mime: 'Text/Plain; charset=utf-8' });
    expect(res.status).toBe(200);
    if (res.body.method !== 'POST') throw new Error('expected a POST');
    expect(res.body.fields['Content-Type']).toBe('text/plain');
  });

  it('refuses more than MAX_UPLOAD_BYTES with 413, before membership', async () => {
    const max = services.config.storage.maxUploadBytes;
    const over = await init(outsider, { ...good(room.id), bytes: max + 1 });
    expect(over.status).toBe(413);
    expect(errorCode(over)).toBe('payload_too_large');
    expect((await init(alice, { ...good(room.id), bytes: max })).status).toBe(200);
  });

  it('honours a narrower allow-list and limit from config', async () => {
    const app = await restApp({
      ...services,
      config: testConfig({ UPLOAD_MIME_TYPES: 'text/plain', MAX_UPLOAD_BYTES: '100' }),
    });
    const c = new TestAccount((p, i) => app.request(p, i));
    c.cookie = alice.cookie;
    expect((await init(c, good(room.id))).status).toBe(400);
    expect((await init(c, { ...good(room.id), mime: 'text/plain', bytes: 101 })).status).toBe(413);
    expect((await init(c, { ...good(room.id), mime: 'text/plain', bytes: 100 })).status).toBe(200);
  });

  it('refuses a malformed complete body with 400', async () => {
    expect((await alice.request('POST', '/api/upload/complete', { roomId: room.id })).status).toBe(400);
    expect((await alice.request('POST', '/api/upload/complete', { roomId: room.id, key: '' })).status).toBe(
      400,
    );
    expect(
      (await alice.request('POST', '/api/upload/complete', { roomId: room.id, key: 'k', extra: 1 })).status,
    ).toBe(400);
  });
});

describe('orphan sweep', () => {
  it('deletes abandoned uploads and their objects, and keeps what is fresh or sent', async () => {
    const alice = await user('alice');
    const room = await alice.createRoom('sweep');
    const db = services.db.prisma;
    const options = sweepOptionsFrom(services.config);
    const longAgo = Date.now() - options.unsentMaxAgeMs - 60_000;

    // A pending upload whose URL expired long ago (its object arrived, complete never came).
    const abandoned = await init(alice, { roomId: room.id, filename: 'a.png', mime: 'image/png', bytes: 10 });
    await sendFile(abandoned.body, png(10), 'image/png');
    // A rejected one whose object was re-uploaded after the rejection.
    const rejected = await init(alice, { roomId: room.id, filename: 'r.png', mime: 'image/png', bytes: 10 });
    await sendFile(rejected.body, png(11), 'image/png');
    expect((await complete(alice, room.id, rejected.body.key)).status).toBe(422);
    await sendFile(rejected.body, png(10), 'image/png');
    // Completed, never sent.
    const unsent = await uploadFile(alice, room.id);
    // Completed and sent.
    const sent = await uploadFile(alice, room.id);
    const [msg] = await appendMessages(services.db, room.id, [
      {
        userId: alice.user!.id,
        name: 'alice',
        text: '',
        clientMsgId: null,
        attachmentId: sent.attachment.id,
      },
    ]);
    expect(msg!.ok).toBe(true);
    // Fresh and pending: its URL may still be in use.
    const fresh = await init(alice, { roomId: room.id, filename: 'f.png', mime: 'image/png', bytes: 10 });
    await sendFile(fresh.body, png(10), 'image/png');

    const old = [abandoned.body.key, rejected.body.key, unsent.attachment.key, sent.attachment.key];
    await db.attachment.updateMany({ where: { key: { in: old } }, data: { ts: BigInt(longAgo) } });
    await db.attachment.updateMany({
      where: { key: { in: old }, completedAt: { not: null } },
      data: { completedAt: new Date(longAgo) },
    });

    let total = 0;
    for (;;) {
      const { deleted, failed } = await sweepOrphanUploads({ ...services, logger: silentLogger }, options);
      expect(failed).toBe(0);
      total += deleted;
      if (deleted === 0) break;
    }
    expect(total).toBeGreaterThanOrEqual(3);

    for (const key of [abandoned.body.key, rejected.body.key, unsent.attachment.key]) {
      expect(await db.attachment.findUnique({ where: { key } }), key).toBeNull();
      expect(await services.storage.head(key), key).toBeNull();
    }
    expect(await db.attachment.findUnique({ where: { key: sent.attachment.key } })).not.toBeNull();
    expect(await services.storage.head(sent.attachment.key)).not.toBeNull();
    expect(await db.attachment.findUnique({ where: { key: fresh.body.key } })).not.toBeNull();
    expect(await services.storage.head(fresh.body.key)).not.toBeNull();

    // The sent attachment still works in history.
    const page = await alice.history({ roomId: room.id });
    const { bytes } = await fetchBytes(page.body.messages.at(-1)!.attachment!.url);
    expect(bytes).toEqual(sent.body);
    // A swept key is gone for good.
    expect((await complete(alice, room.id, abandoned.body.key)).status).toBe(404);
  });

  it('runs on its interval in a long-running server until stopped', async () => {
    const alice = await user('alice');
    const room = await alice.createRoom('sweeper');
    const started = await init(alice, { roomId: room.id, filename: 's.png', mime: 'image/png', bytes: 10 });
    await sendFile(started.body, png(10), 'image/png');
    await services.db.prisma.attachment.update({
      where: { key: started.body.key },
      data: { ts: BigInt(Date.now() - 24 * 3600_000) },
    });

    let resolveSwept: () => void;
    const swept = new Promise<void>((resolve) => (resolveSwept = resolve));
    const logger = createLogger('info', {
      write: (line: string) => {
        if (line.includes('swept orphaned uploads')) resolveSwept();
      },
    });
    const sweeper = startUploadSweeper({ ...services, logger }, 20);
    try {
      await swept;
    } finally {
      await sweeper.stop();
    }
    expect(await services.db.prisma.attachment.findUnique({ where: { key: started.body.key } })).toBeNull();
    expect(await services.storage.head(started.body.key)).toBeNull();
  });
});
