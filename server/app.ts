import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Config } from '../core/config.ts';
import { createHttpApp } from '../core/http/app.ts';
import { opsRoutes, withTimeout } from '../core/http/ops.ts';
import type { Logger } from '../core/logger.ts';
import { connectRedis } from '../core/redis/connection.ts';
import { openServices, type Services } from '../core/services.ts';
import { startUploadSweeper } from '../core/uploads/uploads.ts';
import { mountFunctions } from '../functions/index.ts';
import { createRealtime, type Realtime } from '../realtime/app.ts';
import { connectionDrain } from '../core/http/connection-drain.ts';
import { webClientRoutes } from './web-client.ts';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  realtime: Realtime;
  /**
   * Graceful stop: not ready, stop accepting, finish in-flight work, close everything
   * it opened (services passed in by the caller stay open: they are the caller's).
   */
  close(): Promise<void>;
}

/**
 * The all-in-one local server: every REST function, the realtime tier and the web client
 * on one port. The one place where both tiers meet.
 */
export async function startServer(config: Config, logger: Logger, given?: Services): Promise<RunningServer> {
  const services = given ? { ...given, config } : await openServices(config, logger);
  let stopping = false;

  const app = createHttpApp({ config, logger, getConnInfo });
  app.route(
    '/',
    opsRoutes({
      metricsToken: config.metricsToken,
      checkReady: async () => {
        if (stopping) throw new Error('shutting down');
        await withTimeout(services.checkReady(), 2_000, 'dependencies');
      },
    }),
  );
  mountFunctions(app, services);
  // Last: the client's files never shadow an API route.
  app.route('/', await webClientRoutes({ storage: services.storage, config, logger }));

  const server: ServerType = await new Promise<ServerType>((resolve, reject) => {
    const s = serve(
      { fetch: app.fetch, port: config.port, ...(config.host ? { hostname: config.host } : {}) },
      () => resolve(s),
    );
    // A port in use is an 'error' event: without a listener, an uncaught exception.
    s.once('error', reject);
  }).catch(async (err: unknown) => {
    if (!given) await services.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  // Abandoned uploads; deployed, a scheduled function does this instead (UPLOAD_SWEEP_INTERVAL_SECONDS=0).
  const sweeper = startUploadSweeper({ ...services, logger });
  const realtime = createRealtime(server as HttpServer, {
    ...services,
    connectRedis: (role, options) => connectRedis(config, logger, role, options),
  });
  // After Socket.IO attached: it wraps the 'request' listeners present then, and only calls
  // them for requests that are not its own; this one must see its polling requests too.
  const drain = connectionDrain(server as HttpServer);

  return {
    url: `http://localhost:${port}`,
    port,
    services,
    realtime,
    async close() {
      if (stopping) return;
      stopping = true; // /readyz answers 503 from here on
      const httpClosed = drain.close();
      // Finishes in-flight sends, disconnects clients, then closes Socket.IO before its Redis.
      await realtime.close();
      await httpClosed;
      await sweeper.stop();
      if (!given) await services.close();
    },
  };
}
