import type { Hono } from 'hono';
import { getConnInfo, handle } from 'hono/aws-lambda';
import { loadConfig } from '../core/config.ts';
import { createHttpApp } from '../core/http/app.ts';
import type { AppEnv } from '../core/http/types.ts';
import { createLogger } from '../core/logger.ts';
import { openServices, type Services } from '../core/services.ts';

type LambdaHandler = ReturnType<typeof handle>;

/**
 * A Lambda handler for one REST concern. Config, connections and the app are built on the
 * first invocation and reused while the container lives; a failed start is retried by the
 * next invocation instead of poisoning the container.
 */
export function lambdaHandler(path: string, routes: (services: Services) => Hono<AppEnv>): LambdaHandler {
  let ready: Promise<LambdaHandler> | undefined;
  const build = async (): Promise<LambdaHandler> => {
    const config = loadConfig();
    const logger = createLogger(config.logLevel);
    const services = await openServices(config, logger);
    const app = createHttpApp({ config, logger, getConnInfo });
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
