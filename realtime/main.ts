import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { ConfigError, loadConfig, type Config } from '../core/config.ts';
import { createHttpApp } from '../core/http/app.ts';
import { opsRoutes, withTimeout } from '../core/http/ops.ts';
import { createLogger } from '../core/logger.ts';
import { connectRedis } from '../core/redis.ts';
import { openServices } from '../core/services.ts';
import { createRealtime } from './app.ts';

/**
 * The realtime container: Socket.IO plus /healthz, /readyz and /metrics on one port. Only
 * wiring lives here; the tier itself is built by createRealtime.
 */

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config.logLevel).child({ tier: 'realtime' });
const started = Date.now();
const services = await openServices(config, logger).catch((err: unknown) => {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
});

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
await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
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

const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs);
  deadline.unref();
  const httpClosed = new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  realtime
    .close()
    .then(() => httpClosed)
    .then(() => services.close())
    .then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
