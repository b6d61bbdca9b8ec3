import { DataDirLockedError } from './db/data-dir-lock.ts';

/**
 * Start-up failures an operator can fix, each reduced to one line that names the variable,
 * the address (never a password) and what to check, instead of a stack trace.
 */
class StartupError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'StartupError';
  }
}

/** host:port of a URL, with the scheme's default port; never its credentials. */
function addressOf(url: string, defaultPort: number): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || defaultPort}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** What went wrong underneath, without anything that could be a credential. */
function reasonOf(err: unknown, url: string): string {
  const e = err as { code?: unknown; message?: unknown };
  let reason = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password) reason = reason.split(password).join('***');
  } catch {
    // not a URL: nothing to redact
  }
  return reason.slice(0, 200);
}

export const databaseUnreachable = (url: string, err: unknown) =>
  new StartupError(
    'DATABASE_URL',
    `cannot connect to PostgreSQL at ${addressOf(url, 5432)} (${reasonOf(err, url)}). ` +
      'Check that the server is running and reachable from here, and the database name, user and password in the URL.',
  );

export const redisUnreachable = (url: string, err: unknown) =>
  new StartupError(
    'REDIS_URL',
    `cannot connect to Redis at ${addressOf(url, 6379)} (${reasonOf(err, url)}). ` +
      'Check that Redis is running and reachable from here, and the password and TLS (rediss://) in the URL.',
  );

/**
 * The one line to print for a start-up failure an operator can act on, or undefined for
 * anything else (a bug: logged with its stack).
 */
export function describeStartupFailure(
  err: unknown,
  listen: { port: number; host: string | undefined },
): string | undefined {
  if (err instanceof StartupError || err instanceof DataDirLockedError) return err.message;
  const e = err as NodeJS.ErrnoException & { syscall?: string; address?: string; port?: number };
  if (e?.syscall === 'listen') {
    const where = `${e.address ?? listen.host ?? '0.0.0.0'}:${e.port ?? listen.port}`;
    if (e.code === 'EADDRINUSE')
      return `PORT: ${where} is already in use. Stop the process listening there (e.g. another Parley), or set PORT to a free port.`;
    if (e.code === 'EACCES')
      return `PORT: not allowed to listen on ${where}. Ports below 1024 need privileges: set PORT to 1024 or above.`;
    if (e.code === 'EADDRNOTAVAIL')
      return `HOST: ${where} is not an address of this machine. Set HOST to one of its addresses, or leave it unset.`;
  }
  return undefined;
}
