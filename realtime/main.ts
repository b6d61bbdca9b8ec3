import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { createHttpApp } from '../core/http/app.ts';
import { connectionDrain } from '../core/http/connection-drain.ts';
import { opsRoutes, withTimeout } from '../core/http/ops.ts';
import { developmentSecret } from '../core/development-secret.ts';
import { createLogger } from '../core/logger.ts';
import { closeOnSignals, exitOnStartupFailure, loadConfigOrExit } from '../core/process.ts';
import { connectRedis } from '../core/redis/connection.ts';
import { openServices } from '../core/services.ts';
import { createRealtime } from './app.ts';

/**
 * The realtime container: Socket.IO plus /healthz, /readyz and /metrics on one port. Only
 * wiring lives here; the tier itself is built by createRealtime.
 */

// The one place a development secret is written (DATA_DIR/jwt-secret) when JWT_SECRET is unset.
const config = loadConfigOrExit({ developmentSecret });

const logger = createLogger(config.logLevel).child({ tier: 'realtime' });
const started = Date.now();
const services = await openServices(config, logger).catch((err: unknown) =>
  exitOnStartupFailure(err, config, logger),
);

let stopping = false;
const app = createHttpApp({ config, logger });
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

const server: HttpServer = createServer(getRequestListener(app.fetch));
const realtime = createRealtime(server, {
  ...services,
  connectRedis: (role, options) => connectRedis(config, logger, role, options),
});
// After Socket.IO attached, so that it sees Socket.IO's polling requests too (see connectionDrain).
const drain = connectionDrain(server);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.port, config.host, resolve);
}).catch((err: unknown) => exitOnStartupFailure(err, config, logger));
const { port } = server.address() as AddressInfo;
logger.info(
  {
    port,
    database: services.db.kind,
    redis: config.redis.url ? 'configured' : 'in-memory',
    startupMs: Date.now() - started,
  },
  'realtime listening',
);

closeOnSignals(logger, config.shutdownTimeoutMs, async () => {
  stopping = true; // /readyz answers 503 from here on
  const httpClosed = drain.close();
  // Finishes in-flight sends, disconnects clients, then closes Socket.IO before its Redis.
  await realtime.close();
  await httpClosed;
  await services.close();
});
