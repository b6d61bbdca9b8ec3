import { developmentSecret } from '../core/development-secret.ts';
import { createLogger } from '../core/logger.ts';
import { closeOnSignals, exitOnStartupFailure, loadConfigOrExit } from '../core/process.ts';
import { startServer } from './app.ts';

// The one place a development secret is written (DATA_DIR/jwt-secret) when JWT_SECRET is unset.
const config = loadConfigOrExit({ developmentSecret });
const logger = createLogger(config.logLevel);
const started = Date.now();
const server = await startServer(config, logger).catch((err: unknown) =>
  exitOnStartupFailure(err, config, logger),
);
logger.info(
  {
    listen: server.url,
    database: server.services.db.kind,
    redis: config.redis.url ? 'configured' : 'in-memory',
    startupMs: Date.now() - started,
  },
  `Parley is listening on ${server.url}`,
);
closeOnSignals(logger, config.shutdownTimeoutMs, () => server.close());
