import { ConfigError, loadConfig, type Config, type LoadOptions } from './config.ts';
import type { Logger } from './logger.ts';
import { describeStartupFailure } from './startup-error.ts';

/** The configuration of a process entry point; a bad one is printed and the process exits 1. */
export function loadConfigOrExit(options: LoadOptions = {}): Config {
  try {
    return loadConfig(undefined, options);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * Runs `close` once on SIGTERM or SIGINT, then exits 0; exits 1 if it fails or does not
 * finish within the deadline (a stuck dependency must not keep a container from stopping).
 */
export function closeOnSignals(logger: Logger, timeoutMs: number, close: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, timeoutMs);
    deadline.unref();
    close().then(
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
}

/**
 * Ends a process whose start-up failed, exit code 1: one plain line for what an operator can
 * fix (port in use, unreachable database or Redis, a DATA_DIR in use), else the error logged.
 */
export function exitOnStartupFailure(err: unknown, config: Config, logger: Logger): never {
  const line = describeStartupFailure(err, { port: config.port, host: config.host });
  if (line) process.stderr.write(`Parley cannot start: ${line}\n`);
  else logger.fatal({ err }, 'start-up failed');
  process.exit(1);
}
