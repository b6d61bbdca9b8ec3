import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, testConfig } from '../../test/support.ts';
import { openObjectStore } from './index.ts';
import { startLocalS3, type LocalS3 } from './local-s3.ts';
import { createS3Store } from './s3.ts';
import type { ObjectStore, UploadTarget } from './types.ts';

const URLS = { uploadUrlExpiresSeconds: 300, downloadUrlExpiresSeconds: 900 };

/** Uploads exactly as a browser does: multipart with every field, then the file; or a PUT with the headers. */
async function upload(target: UploadTarget, body: Uint8Array<ArrayBuffer>, type: string): Promise<Response> {
  if (target.method === 'POST') {
    const form = new FormData();
    for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
    form.append('file', new Blob([body], { type }), 'ignored-by-the-store.bin');
    return fetch(target.url, { method: 'POST', body: form });
  }
  return fetch(target.url, { method: 'PUT', headers: target.headers, body });
}

const bytesOf = (text: string) => new TextEncoder().encode(text);

function decodePolicy(fields: Record<string, string>): { expiration: string; conditions: unknown[] } {
  return JSON.parse(Buffer.from(fields.Policy!, 'base64').toString('utf8'));
}

describe('S3 object store against the embedded s3rver', () => {
  let local: LocalS3;
  let store: ObjectStore;

  beforeAll(async () => {
    local = await startLocalS3({ dataDir: ':memory:', port: 0, bucket: 'storage-test' }, silentLogger);
    store = createS3Store(local.settings, URLS);
    await store.ensureBucket(['http://localhost:3000']);
  });
  afterAll(async () => {
    await store?.close();
    await local?.close();
  });

  it('signs a POST policy that pins the key, the exact type and the exact size', async () => {
    const before = Date.now();
    const target = await store.presignUpload({
      key: 'rooms/r1/u1/k1',
      mime: 'image/png',
      bytes: 1234,
      method: 'post',
    });
    if (target.method !== 'POST') throw new Error('expected a POST');
    expect(target.url).toBe(`${local.endpoint}/storage-test`);
    expect(target.fields['Content-Type']).toBe('image/png');
    expect(target.fields.key).toBe('rooms/r1/u1/k1');
    for (const f of ['Policy', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Signature']) {
      expect(target.fields[f], f).toEqual(expect.any(String));
    }

    const policy = decodePolicy(target.fields);
    const expiration = Date.parse(policy.expiration);
    expect(expiration).toBeGreaterThan(before);
    expect(expiration - before).toBeLessThanOrEqual(10 * 60 * 1000);
    expect(Math.abs(expiration - target.expiresAt)).toBeLessThan(2_000);

    const c = policy.conditions;
    expect(c).toContainEqual({ bucket: 'storage-test' });
    expect(c).toContainEqual({ key: 'rooms/r1/u1/k1' });
    expect(c).toContainEqual(['eq', '$Content-Type', 'image/png']);
    expect(c).toContainEqual({ 'Content-Type': 'image/png' });
    expect(c).toContainEqual(['content-length-range', 1234, 1234]);
    expect(c).toContainEqual({ 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256' });
    expect(c).toContainEqual({ 'X-Amz-Credential': target.fields['X-Amz-Credential'] });
    expect(c).toContainEqual({ 'X-Amz-Date': target.fields['X-Amz-Date'] });
    // Nothing that would widen it: no prefix match on the key, no second size range.
    expect(JSON.stringify(c)).not.toContain('starts-with');
    expect(c.filter((x) => Array.isArray(x) && x[0] === 'content-length-range')).toHaveLength(1);
    expect(c).toHaveLength(8);

    // Every condition names a field that is sent (the file's size is checked by the range).
    for (const cond of c) {
      const name = Array.isArray(cond) ? String(cond[1]).replace(/^\$/, '') : Object.keys(cond as object)[0]!;
      if (name === 'content-length-range' || (Array.isArray(cond) && cond[0] === 'content-length-range'))
        continue;
      if (name === 'bucket') continue; // implied by the URL
      expect(Object.keys(target.fields), name).toContain(name);
    }
  });

  it('never signs an upload URL for longer than 10 minutes', async () => {
    const long = createS3Store(local.settings, { ...URLS, uploadUrlExpiresSeconds: 3600 });
    try {
      const post = await long.presignUpload({ key: 'k', mime: 'text/plain', bytes: 1, method: 'post' });
      if (post.method !== 'POST') throw new Error('expected a POST');
      expect(Date.parse(decodePolicy(post.fields).expiration) - Date.now()).toBeLessThanOrEqual(600_000);
      const put = await long.presignUpload({ key: 'k', mime: 'text/plain', bytes: 1, method: 'put' });
      expect(new URL(put.url).searchParams.get('X-Amz-Expires')).toBe('600');
    } finally {
      await long.close();
    }
  });

  it('stores a browser-style multipart POST and serves it back through a signed GET', async () => {
    const body = bytesOf('%PDF-1.4 not really a pdf, but bytes are bytes\n');
    const key = 'rooms/r1/u1/post-flow';
    const target = await store.presignUpload({
      key,
      mime: 'application/pdf',
      bytes: body.length,
      method: 'post',
    });
    const res = await upload(target, body, 'application/pdf');
    expect(res.status).toBe(204);

    expect(await store.head(key)).toEqual({ bytes: body.length, mime: 'application/pdf' });
    const url = await store.signGetUrl({ key, mime: 'application/pdf', filename: 'report "final".pdf' });
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(body);
    expect(got.headers.get('content-type')).toBe('application/pdf');
    expect(got.headers.get('content-disposition')).toBe(
      'attachment; filename="report _final_.pdf"; filename*=UTF-8\'\'report%20%22final%22.pdf',
    );
  });

  it('signs a PUT over Content-Type and the exact Content-Length, and stores what is sent with those headers', async () => {
    const body = bytesOf('hello, put');
    const key = 'rooms/r1/u1/put-flow';
    const target = await store.presignUpload({ key, mime: 'text/plain', bytes: body.length, method: 'put' });
    if (target.method !== 'PUT') throw new Error('expected a PUT');
    expect(target.headers).toEqual({ 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
    const q = new URL(target.url).searchParams;
    expect(q.get('X-Amz-SignedHeaders')!.split(';')).toEqual(
      expect.arrayContaining(['content-length', 'content-type', 'host']),
    );
    expect(Number(q.get('X-Amz-Expires'))).toBeLessThanOrEqual(600);
    expect(q.has('x-amz-checksum-crc32')).toBe(false);

    const res = await upload(target, body, 'text/plain');
    expect(res.status).toBe(200);
    expect(await store.head(key)).toEqual({ bytes: body.length, mime: 'text/plain' });
    const got = await fetch(await store.signGetUrl({ key, mime: 'text/plain', filename: 'note.txt' }));
    expect(await got.text()).toBe('hello, put');
    expect(got.headers.get('content-disposition')).toBe('attachment; filename="note.txt"');
  });

  it('lets raster images display inline, with a UTF-8 filename', async () => {
    const url = await store.signGetUrl({ key: 'x', mime: 'image/png', filename: 'café.png' });
    const q = new URL(url).searchParams;
    expect(q.get('response-content-disposition')).toBe(
      'inline; filename="caf_.png"; filename*=UTF-8\'\'caf%C3%A9.png',
    );
    expect(q.get('response-content-type')).toBe('image/png');
    expect(Number(q.get('X-Amz-Expires'))).toBe(900);
  });

  it('refuses expired signed GET URLs, and ones whose key id was tampered with', async () => {
    const key = 'rooms/r1/u1/expiry';
    const body = bytesOf('expires');
    await upload(
      await store.presignUpload({ key, mime: 'text/plain', bytes: body.length, method: 'put' }),
      body,
      'text/plain',
    );
    const object = { key, mime: 'text/plain', filename: 'e.txt' };

    // A clock 20 minutes back signs a 15-minute URL that ended 5 minutes ago.
    const past = createS3Store(local.settings, { ...URLS, now: () => Date.now() - 20 * 60_000 });
    try {
      const expired = await fetch(await past.signGetUrl(object));
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('Request has expired');
    } finally {
      await past.close();
    }

    const fresh = new URL(await store.signGetUrl(object));
    expect((await fetch(fresh)).status).toBe(200);
    const tampered = new URL(fresh);
    tampered.searchParams.set(
      'X-Amz-Credential',
      fresh.searchParams.get('X-Amz-Credential')!.replace(/^[^/]+/, 'SOMEONE-ELSE'),
    );
    const refused = await fetch(tampered);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('InvalidAccessKeyId');
    // s3rver does not verify SigV4 signatures, so a changed signature or expiry is only
    // refused by real S3/R2; that is outside what this store can show.
  });

  it('answers head with null for a missing object, and deletes idempotently', async () => {
    expect(await store.head('rooms/none/none/none')).toBeNull();
    const key = 'rooms/r1/u1/delete-me';
    const body = bytesOf('bye');
    await upload(
      await store.presignUpload({ key, mime: 'text/plain', bytes: 3, method: 'put' }),
      body,
      'text/plain',
    );
    expect(await store.head(key)).not.toBeNull();
    await store.delete(key);
    expect(await store.head(key)).toBeNull();
    await store.delete(key);
  });

  it('answers a browser CORS preflight for uploads from an allowed origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${local.endpoint}/storage-test`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      });
    const ok = await preflight('http://localhost:3000');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    expect((await preflight('https://evil.example')).status).toBe(403);
  });
});

describe('the embedded store opened from config', () => {
  it('starts on loopback with its bucket when no S3_BUCKET is set, and stops on close', async () => {
    const store = await openObjectStore(testConfig(), silentLogger);
    expect(store.embedded).toBe(true);
    expect(store.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const target = await store.presignUpload({ key: 'a/b', mime: 'text/plain', bytes: 2, method: 'post' });
    expect((await upload(target, bytesOf('hi'), 'text/plain')).status).toBe(204);
    expect(await store.head('a/b')).toEqual({ bytes: 2, mime: 'text/plain' });
    await store.close();
    await expect(fetch(store.endpoint!)).rejects.toThrow();
  });

  it('keeps objects in DATA_DIR across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-data-'));
    try {
      const config = testConfig({ DATA_DIR: dataDir });
      const first = await openObjectStore(config, silentLogger);
      await upload(
        await first.presignUpload({ key: 'keep/me', mime: 'text/plain', bytes: 4, method: 'put' }),
        bytesOf('kept'),
        'text/plain',
      );
      await first.close();
      expect(existsSync(join(dataDir, 's3'))).toBe(true);

      const second = await openObjectStore(config, silentLogger);
      try {
        expect(await second.head('keep/me')).toEqual({ bytes: 4, mime: 'text/plain' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('uses a configured bucket as it is, without starting anything', async () => {
    const store = await openObjectStore(
      testConfig({
        S3_BUCKET: 'configured',
        S3_ENDPOINT: 'http://127.0.0.1:9',
        S3_ACCESS_KEY_ID: 'a',
        S3_SECRET_ACCESS_KEY: 'b',
      }),
      silentLogger,
    );
    try {
      expect(store.embedded).toBe(false);
      expect(store.endpoint).toBe('http://127.0.0.1:9');
      const target = await store.presignUpload({ key: 'k', mime: 'text/plain', bytes: 1, method: 'post' });
      // Path-style for a custom endpoint.
      expect(target.url).toBe('http://127.0.0.1:9/configured');
    } finally {
      await store.close();
    }
  });
});
