import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../core/db/data-dir-lock.ts';
import { waitUntil } from '../test/wait.ts';

/**
 * What an operator sees when a start cannot work: `npm start` (server/main.ts) as a real
 * process, exiting non-zero with one plain line that names the variable, the address and
 * what to check; and two processes on one DATA_DIR, which must never both run.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
const children: { kill(): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const freePort = async (): Promise<number> => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
};

const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'parley-operator-'));
  dirs.push(d);
  return d;
};

// What Node and the AWS SDK print on Node 20 whatever we do (see README, "Node.js versions").
const nodeWarning =
  /NodeVersionSupportWarning|AWS SDK for JavaScript|versions published after|node >=22|a\.co\/|To continue receiving|security updates please|More information can be found|trace-warnings/;

function start(env: Record<string, string>) {
  const port = env.PORT!;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TMPDIR: tmpdir(),
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      JWT_SECRET: 'operator-test-secret-that-is-long-enough-0123',
      LOG_LEVEL: 'warn',
      CORS_ORIGINS: `http://127.0.0.1:${port}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    exited,
    /** Everything it printed but Node 20's version warnings. */
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.trim() && !nodeWarning.test(l))
        .filter((l) => !/"msg":"redis connection error"/.test(l)),
    healthy: () =>
      waitUntil('healthy', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 90_000, 200),
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

const expectOneClearLine = (lines: string[], pattern: RegExp) => {
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/Unhandled|\n\s+at |"stack"/);
};

describe('start-up errors an operator can fix', () => {
  it('port in use, unreachable DATABASE_URL, unreachable REDIS_URL: one line each, exit 1, no password', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const closedPort = await freePort();
    const password = 'never-print-this-pw-8d1e';
    const [inUse, noDb, noRedis] = [
      start({ PORT: String(busyPort), DATA_DIR: ':memory:' }),
      start({
        PORT: String(await freePort()),
        DATA_DIR: dataDir(),
        DATABASE_URL: `postgres://parley:${password}@127.0.0.1:${closedPort}/parley`,
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
      }),
      start({
        PORT: String(await freePort()),
        DATA_DIR: ':memory:',
        REDIS_URL: `redis://:${password}@127.0.0.1:${closedPort}`,
      }),
    ];
    try {
      expect(await inUse.exited).toBe(1);
      expectOneClearLine(
        inUse.lines(),
        new RegExp(`^Parley cannot start: PORT: 127\\.0\\.0\\.1:${busyPort} is already in use\\..*set PORT`),
      );
      expect(await noDb.exited).toBe(1);
      expectOneClearLine(
        noDb.lines(),
        new RegExp(
          `^Parley cannot start: DATABASE_URL: cannot connect to PostgreSQL at 127\\.0\\.0\\.1:${closedPort} .*Check`,
        ),
      );
      expect(await noRedis.exited).toBe(1);
      expectOneClearLine(
        noRedis.lines(),
        new RegExp(
          `^Parley cannot start: REDIS_URL: cannot connect to Redis at 127\\.0\\.0\\.1:${closedPort} .*Check`,
        ),
      );
      for (const p of [noDb, noRedis]) expect(p.lines().join('\n')).not.toContain(password);
    } finally {
      busy.close();
    }
  }, 120_000);
});

describe('two processes on one DATA_DIR', () => {
  it('refuses the second start with what to do, releases the lock on exit, and takes over a stale lock', async () => {
    const dir = dataDir();
    const first = start({ PORT: String(await freePort()), DATA_DIR: dir });
    await first.healthy();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    const register = await fetch(`${first.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'kept_user', password: 'a long enough password' }),
    });
    expect(register.status).toBe(201);

    const second = start({ PORT: String(await freePort()), DATA_DIR: dir });
    expect(await second.exited).toBe(1);
    expectOneClearLine(
      second.lines(),
      new RegExp(
        `^Parley cannot start: DATA_DIR .* is in use by another Parley process \\(pid ${first.pid}\\).*stop that process, or give this one another DATA_DIR`,
      ),
    );
    // The first one was not disturbed.
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);

    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    // A lock left by a process that is gone (kill -9, a crash) does not block the next start.
    const gone = spawn(process.execPath, ['-e', '']);
    const stalePid = gone.pid!;
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(join(dir, LOCK_FILE), `${stalePid}\n`);
    const third = start({ PORT: String(await freePort()), DATA_DIR: dir });
    await third.healthy();
    const login = await fetch(`${third.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'kept_user', password: 'a long enough password' }),
    });
    expect(login.status).toBe(200); // the first process's writes are all there
    expect(await third.stop()).toBe(0);
    expect(third.lines().filter((l) => !/^\{/.test(l))).toEqual([]);
  }, 180_000);
});
