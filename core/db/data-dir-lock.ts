import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * PGlite is single-process: two processes on one data directory each see only their own
 * writes, and whichever closes last overwrites the other's. So the embedded database takes
 * an exclusive lock on its directory: a file holding the owner's pid, created atomically
 * (`wx`). A lock whose pid is no longer alive (a crash, kill -9) is stale and taken over.
 */

export const LOCK_FILE = 'parley.lock';

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another Parley process (pid ${pid}). The embedded database ` +
        `allows one process per directory: stop that process, or give this one another DATA_DIR ` +
        `(or set DATABASE_URL to share a PostgreSQL server). If no such process is running, ` +
        `delete ${join(dataDir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const ownerOf = (path: string): number | undefined => {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

/** Takes the directory's lock for this process, or throws DataDirLockedError. */
export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerOf(path);
      if (owner !== undefined && owner !== pid && alive(owner)) throw new DataDirLockedError(dataDir, owner);
      // Stale (its process is gone), ours from before, or half-written: remove it and retry.
      // Two processes racing here both unlink; only one wins the `wx` create.
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    writeSync(fd, `${pid}\n`);
    closeSync(fd);
    const onExit = () => release();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', onExit);
      // Only our own lock: never one another process took over meanwhile.
      if (ownerOf(path) === pid) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    };
    // Also on process.exit() without a graceful close (the exit handler is synchronous).
    process.on('exit', onExit);
    return { path, release };
  }
  throw new Error(`could not take the lock ${path}`);
}
