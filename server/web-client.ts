import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Hono } from 'hono';
import type { Config } from '../core/config.ts';
import type { AppEnv } from '../core/http/types.ts';
import type { Logger } from '../core/logger.ts';
import type { ObjectStore } from '../core/storage/index.ts';
import { contentSecurityPolicy } from '../web/content-security-policy.ts';

/**
 * Serves the built browser client (web/dist, built by `npm install` or `npm run build:web`)
 * at `/`, with a strict Content-Security-Policy: scripts and styles from this origin only,
 * and network/image access limited to this origin plus the object store's.
 */

const WEB_DIST = fileURLToPath(new URL('../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
};

interface StaticFile {
  body: Buffer;
  gzipped: Buffer | undefined;
  type: string;
  cacheControl: string;
}

export interface WebClientOptions {
  storage: Pick<ObjectStore, 'signGetUrl' | 'presignUpload'>;
  config: Pick<Config, 'storage'>;
  logger: Logger;
  /** Defaults to web/dist next to this repository's server/. */
  dir?: string;
}

export async function webClientRoutes(options: WebClientOptions): Promise<Hono<AppEnv>> {
  const csp = contentSecurityPolicy(await objectStoreOrigins(options));
  const files = await loadFiles(options.dir ?? WEB_DIST);
  const routes = new Hono<AppEnv>();

  if (files.size === 0) {
    options.logger.warn({ dir: options.dir ?? WEB_DIST }, 'web client not built: run `npm run build:web`');
    routes.get('/', (c) => c.text('The web client is not built. Run `npm run build:web` and restart.', 503));
    return routes;
  }

  routes.get('/*', async (c, next) => {
    const path = c.req.path === '/' ? '/index.html' : c.req.path;
    const file = files.get(path);
    if (!file) return next();
    c.header('Content-Type', file.type);
    c.header('Cache-Control', file.cacheControl);
    c.header('Vary', 'Accept-Encoding');
    if (file.type.startsWith('text/html')) {
      c.header('Content-Security-Policy', csp);
      c.header('Referrer-Policy', 'no-referrer');
      c.header('X-Frame-Options', 'DENY');
      c.header('Cross-Origin-Opener-Policy', 'same-origin');
    }
    const gz = file.gzipped && /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
    if (gz) c.header('Content-Encoding', 'gzip');
    return c.body(new Uint8Array(gz ? file.gzipped! : file.body));
  });
  return routes;
}

/**
 * The origins the browser uploads to and loads attachments from, read off URLs the store
 * signs (local computation, no request): exact for AWS virtual hosts, R2, MinIO and s3rver.
 */
export async function objectStoreOrigins({ storage, config, logger }: WebClientOptions): Promise<string[]> {
  const origins = new Set<string>();
  try {
    origins.add(
      new URL(await storage.signGetUrl({ key: 'csp-probe', mime: 'image/png', filename: 'probe.png' }))
        .origin,
    );
    const target = await storage.presignUpload({
      key: 'csp-probe',
      mime: 'image/png',
      bytes: 1,
      method: config.storage.uploadMethod,
    });
    origins.add(new URL(target.url).origin);
  } catch (err) {
    logger.warn(
      { err },
      'could not determine the object store origin for the CSP; uploads from the web client will be blocked',
    );
  }
  // A loopback store is reachable as localhost and 127.0.0.1 alike; allow the twin too.
  for (const o of [...origins]) {
    const u = new URL(o);
    if (u.hostname === '127.0.0.1') origins.add(`${u.protocol}//localhost${u.port ? `:${u.port}` : ''}`);
    if (u.hostname === 'localhost') origins.add(`${u.protocol}//127.0.0.1${u.port ? `:${u.port}` : ''}`);
  }
  return [...origins];
}

async function loadFiles(dir: string): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return files;
  }
  if (!names.includes('index.html')) return files;
  const zip = promisify(gzip);
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = await readFile(join(dir, name));
    files.set(`/${name}`, {
      body,
      gzipped: body.length > 1024 ? await zip(body) : undefined,
      type,
      // Bundles carry a content hash in their names; index.html and the icon do not.
      cacheControl: /-[A-Z0-9]{8}\.(js|css)(\.map)?$/.test(name)
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    });
  }
  return files;
}
