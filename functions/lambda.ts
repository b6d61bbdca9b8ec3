import type { Hono } from 'hono';
import { getConnInfo, handle } from 'hono/aws-lambda';
import { loadConfig } from '../core/config.ts';
import { createHttpApp } from '../core/http/app.ts';
import type { AppEnv } from '../core/http/types.ts';
import { createLogger } from '../core/logger.ts';
import { openServices, type Services } from '../core/services.ts';

type LambdaHandler = ReturnType<typeof handle>;

let shared: Promise<Services> | undefined;

/** One set of connections per process (per Lambda container), opened on first use. */
function processServices(): Promise<Services> {
  shared ??= (async () => {
    const config = loadConfig();
    return openServices(config, createLogger(config.logLevel));
  })().catch((err: unknown) => {
    // A failed start (database not reachable yet) is retried by the next invocation.
    shared = undefined;
    throw err;
  });
  return shared;
}

/**
 * The Lambda handler of one REST concern: the same routes the local server mounts, behind
 * the same middleware, built on the first invocation and reused while the container lives.
 */
export function lambdaHandler(path: string, routes: (services: Services) => Hono<AppEnv>): LambdaHandler {
  let ready: Promise<LambdaHandler> | undefined;
  const build = async (): Promise<LambdaHandler> => {
    const services = await processServices();
    const app = createHttpApp({ config: services.config, logger: services.logger, getConnInfo });
    app.route(path, routes(services));
    return handle(app);
  };
  return (async (event: unknown, context: unknown) => {
    ready ??= build().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    const h = await ready;
    return (h as (e: unknown, c: unknown) => Promise<unknown>)(event, context);
  }) as LambdaHandler;
}
