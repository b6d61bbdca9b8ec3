import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../core/http/app.ts';
import { createS3Store } from '../core/storage/s3.ts';
import type { Services } from '../core/services.ts';
import { sharedServices, silentLogger, testConfig } from '../test/support.ts';
import { objectStoreOrigins, webClientRoutes } from './web-client.ts';

const SCRIPT = `console.info(${JSON.stringify('x'.repeat(4000))});`;

describe('web client static files', () => {
  let services: Services;
  let dir: string;

  beforeAll(async () => {
    services = await sharedServices();
    dir = await mkdtemp(join(tmpdir(), 'parley-web-'));
    await writeFile(
      join(dir, 'index.html'),
      '<!doctype html><script type="module" src="./main-ABCDEFGH.js"></script>',
    );
    await writeFile(join(dir, 'main-ABCDEFGH.js'), SCRIPT);
    await writeFile(join(dir, 'notes.exe'), 'not served: unknown type');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const appFor = async (directory: string) => {
    const app = createHttpApp({ config: services.config, logger: silentLogger });
    app.get('/api/ping', (c) => c.json({ ok: true }));
    app.route(
      '/',
      await webClientRoutes({
        storage: services.storage,
        config: services.config,
        logger: silentLogger,
        dir: directory,
      }),
    );
    return app;
  };

  it('serves index.html at / with a strict CSP naming the object store', async () => {
    const app = await appFor(dir);
    const res = await app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const csp = res.headers.get('content-security-policy')!;
    const store = new URL(
      await services.storage.signGetUrl({ key: 'k', mime: 'image/png', filename: 'a.png' }),
    ).origin;
    expect(csp).toContain(`img-src 'self' ${store}`);
    expect(csp).toContain(`connect-src 'self' ${store}`);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('serves hashed bundles cacheable forever, gzipped when accepted', async () => {
    const app = await appFor(dir);
    const plain = await app.request('/main-ABCDEFGH.js');
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await plain.text()).toBe(SCRIPT);

    const zipped = await app.request('/main-ABCDEFGH.js', { headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await zipped.arrayBuffer())).toString()).toBe(SCRIPT);
  });

  it('leaves every other path to the API and its JSON 404', async () => {
    const app = await appFor(dir);
    expect(await (await app.request('/api/ping')).json()).toEqual({ ok: true });
    for (const path of ['/api/nope', '/notes.exe', '/../package.json', '/main-ABCDEFGH.js/x']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
  });

  it('says how to build the client when it is not built', async () => {
    const app = await appFor(join(dir, 'missing'));
    const res = await app.request('/');
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:web');
  });

  it('derives the store origin for AWS virtual hosts and for custom endpoints', async () => {
    const config = testConfig();
    const urls = { uploadUrlExpiresSeconds: 300, downloadUrlExpiresSeconds: 300 };
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
    const aws = createS3Store(
      {
        bucket: 'parley-media',
        endpoint: undefined,
        region: 'eu-west-1',
        credentials,
        forcePathStyle: false,
      },
      urls,
    );
    const r2 = createS3Store(
      {
        bucket: 'media',
        endpoint: 'https://acc123.r2.cloudflarestorage.com',
        region: 'auto',
        credentials,
        forcePathStyle: true,
      },
      urls,
    );
    try {
      expect(await objectStoreOrigins({ storage: aws, config, logger: silentLogger })).toEqual([
        'https://parley-media.s3.eu-west-1.amazonaws.com',
      ]);
      const r2Config = { ...config, storage: { ...config.storage, uploadMethod: 'put' as const } };
      expect(await objectStoreOrigins({ storage: r2, config: r2Config, logger: silentLogger })).toEqual([
        'https://acc123.r2.cloudflarestorage.com',
      ]);
    } finally {
      await Promise.all([aws.close(), r2.close()]);
    }
  });
});
