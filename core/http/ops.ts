import { Hono } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.ts';
import { registry } from '../metrics.ts';
import type { AppEnv } from './types.ts';

export interface OpsDeps {
  metricsToken: string | undefined;
  /** Resolves when the process can serve: dependencies answer and it is not shutting down. */
  checkReady(): Promise<void>;
}

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** /healthz (process up), /readyz (dependencies answer), /metrics (Prometheus text). */
export function opsRoutes(deps: OpsDeps) {
  return new Hono<AppEnv>()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      try {
        await deps.checkReady();
        return c.json({ status: 'ready' });
      } catch (err) {
        c.get('log').warn({ err: { message: (err as Error).message } }, 'not ready');
        return c.json({ status: 'unavailable' }, 503);
      }
    })
    .get('/metrics', async (c) => {
      if (deps.metricsToken) {
        const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
        if (!match || !sameSecret(match[1]!, deps.metricsToken)) {
          throw new AppError('unauthorized', 'A metrics token is required');
        }
      }
      c.header('Content-Type', registry.contentType);
      return c.body(await registry.metrics());
    });
}

/** Bounds a readiness probe: a hung dependency must read as not ready, not as a hung probe. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}
