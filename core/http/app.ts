import { isUtf8 } from 'node:buffer';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { GetConnInfo } from 'hono/conninfo';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { routePath } from 'hono/route';
import type { Config } from '../config.ts';
import { AppError, toPublicError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { httpDuration, httpRequests } from '../metrics.ts';
import { clientAddress } from './client-address.ts';
import type { AppContext, AppEnv } from './types.ts';

const MAX_JSON_BODY_BYTES = 64 * 1024;

export interface HttpAppDeps {
  config: Pick<Config, 'trustProxyHops' | 'requestTimeoutMs'> & Partial<Pick<Config, 'clientAddressHeader'>>;
  logger: Logger;
  /** The runtime's peer address (Node server or Lambda event). */
  getConnInfo?: GetConnInfo;
}

/**
 * The Hono app every Parley HTTP surface starts from: request ids, logs, metrics, a body
 * limit, and the one mapping from errors to the contract's `{error: {code, message}}`.
 */
export function createHttpApp(deps: HttpAppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    c.set('log', deps.logger.child({ requestId: c.get('requestId') }));
    c.set(
      'clientAddress',
      clientAddress(c, deps.getConnInfo, deps.config.trustProxyHops, deps.config.clientAddressHeader),
    );
    await next();
    const route = routeOf(c);
    const seconds = (performance.now() - started) / 1000;
    httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    httpDuration.observe({ method: c.req.method, route }, seconds);
    c.get('log').info(
      { method: c.req.method, route, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1000) },
      'request',
    );
  });
  app.use(requestDeadline(deps.config.requestTimeoutMs));
  app.use(async (c, next) => {
    await next();
    setResponseHeader(c, 'X-Content-Type-Options', 'nosniff');
    if (c.req.path.startsWith('/api/')) setResponseHeader(c, 'Cache-Control', 'no-store');
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'Not found' } }, 404));
  app.onError((err, c) => respondWithError(c as AppContext, err));
  return app;
}

/**
 * A bounded total time per request: past it the client gets `503 unavailable` (and may
 * retry) instead of waiting on a dependency that does not answer. The handler's own work is
 * not cancelled; its database queries end by their own timeouts.
 */
function requestDeadline(ms: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError('unavailable', 'Service temporarily unavailable, try again')),
        ms,
      );
    });
    const work = next();
    // Whatever the abandoned handler ends with later is nobody's business any more.
    work.catch(() => undefined);
    try {
      await Promise.race([work, deadline]);
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'unavailable')) throw err;
      c.res = respondWithError(c as AppContext, err);
    } finally {
      clearTimeout(timer);
    }
  };
}

const bodyWithinLimit = bodyLimit({
  maxSize: MAX_JSON_BODY_BYTES,
  onError: () => {
    throw new AppError('payload_too_large', `Request body over ${MAX_JSON_BODY_BYTES} bytes`);
  },
});

/**
 * Refuses bodies over the limit with 413, and bodies that are not UTF-8 with 400 (decoding
 * them leniently would silently turn bytes into U+FFFD, e.g. inside a password). Routers
 * place it after authentication, so the contract's order holds: 401 before 400/413.
 */
export const limitBody: MiddlewareHandler<AppEnv> = (c, next) =>
  bodyWithinLimit(c, async () => {
    if (c.req.raw.body && !isUtf8(await c.req.arrayBuffer())) {
      throw new AppError('invalid_request', 'Request body is not valid UTF-8');
    }
    await next();
  });

/**
 * Sets a header on the response a handler already made. Hono's `c.header` on a finalized
 * response first asks for `bodyUsed`, which turns @hono/node-server's lightweight response (a
 * string body written in one go) into a real undici Response with a ReadableStream body that
 * is then streamed (`makeTransferable`, 2.7 % of a history page's CPU: docs/performance.md,
 * fourth pass). Its live headers take the value directly; only a response whose headers are
 * immutable (e.g. `Response.redirect`) goes through `c.header`, which copies it.
 */
function setResponseHeader(c: AppContext, name: string, value: string): void {
  try {
    c.res.headers.set(name, value);
  } catch {
    c.header(name, value);
  }
}

/** The matched route pattern (never the raw path, so metrics stay low-cardinality). */
function routeOf(c: AppContext): string {
  try {
    const path = routePath(c);
    return path === '/*' || path === '*' ? 'unmatched' : path;
  } catch {
    return 'unmatched';
  }
}

export function respondWithError(c: AppContext, err: unknown): Response {
  let error: AppError;
  if (err instanceof HTTPException) {
    // Hono's own refusals, e.g. a body that is not valid JSON.
    const code =
      err.status === 413 ? 'payload_too_large' : err.status === 401 ? 'unauthorized' : 'invalid_request';
    const message =
      err.status === 400
        ? 'Malformed request body'
        : err.status === 415
          ? 'Send the body as application/json'
          : err.message;
    error = err.status < 500 ? new AppError(code, message) : toPublicError(err);
  } else {
    error = toPublicError(err);
  }
  const log = c.get('log');
  if (error.code === 'internal') log?.error({ err }, 'request failed');
  // Expected while a dependency is away: logged without a stack.
  else if (error.code === 'unavailable')
    log?.warn({ reason: (err as Error)?.message }, 'request refused: unavailable');
  if (error.details.retryAfterMs !== undefined) {
    c.header('Retry-After', String(Math.max(1, Math.ceil(error.details.retryAfterMs / 1000))));
  }
  const { retryAfterMs: _omit, ...body } = error.toBody();
  return c.json({ error: body }, error.status as 400);
}
