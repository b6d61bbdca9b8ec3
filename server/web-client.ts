import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type MiddlewareHandler } from 'hono';
import { every } from 'hono/combine';
import { compress } from 'hono/compress';
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

/** What the build emits; any other file in the directory is not served. */
const SERVED = /^\/(?:[\w.-]+\.(?:html|js|css|map|svg|png|ico|webmanifest))?$/;
/** Bundles carry a content hash in their names; index.html and the icon do not. */
const HASHED = /-[A-Z0-9]{8}\.(js|css)(\.map)?$/;

export interface WebClientOptions {
  storage: Pick<ObjectStore, 'signGetUrl' | 'presignUpload'>;
  config: Pick<Config, 'storage'>;
  logger: Logger;
  /** Defaults to web/dist next to this repository's server/. */
  dir?: string;
}

export async function webClientRoutes(options: WebClientOptions): Promise<Hono<AppEnv>> {
  const csp = contentSecurityPolicy(await objectStoreOrigins(options));
  const root = options.dir ?? WEB_DIST;
  const routes = new Hono<AppEnv>();

  if (!existsSync(join(root, 'index.html'))) {
    options.logger.warn({ dir: root }, 'web client not built: run `npm run build:web`');
    routes.get('/', (c) => c.text('The web client is not built. Run `npm run build:web` and restart.', 503));
    return routes;
  }

  // serveStatic has answered by the time its onFound runs: the headers go on its response.
  const headers: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    if (c.res.status !== 200) return;
    c.res.headers.set(
      'Cache-Control',
      HASHED.test(c.req.path) ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
    c.res.headers.set('Vary', 'Accept-Encoding');
    if (c.res.headers.get('content-type')?.startsWith('text/html')) {
      c.res.headers.set('Content-Security-Policy', csp);
      c.res.headers.set('Referrer-Policy', 'no-referrer');
      c.res.headers.set('X-Frame-Options', 'DENY');
      c.res.headers.set('Cross-Origin-Opener-Policy', 'same-origin');
    }
  };
  const files = every(headers, compress({ encoding: 'gzip' }), serveStatic<AppEnv>({ root }));
  // Only the build's own files reach the static handler; everything else is the API's (its JSON 404).
  routes.get('/*', (c, next) => (SERVED.test(c.req.path) ? files(c, next) : next()));
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
