import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import {
  BENCH_DIR,
  ROOT_DIR,
  freePort,
  startChild,
  waitForHttp,
  type Child,
  type ProcessStats,
} from './children.ts';
import type { SettledMemory } from './agent.ts';
import { BENCH_JWT_SECRET, type BenchClient } from './tokens.ts';

type ServerName = 'parley' | 'baseline';

export interface ServerUnderTest {
  name: ServerName;
  url: string;
  child: Child;
  stats(): Promise<ProcessStats>;
  /** Runs the GC (twice) and returns memory after it, the heap also by V8 space. */
  settledMemory(): Promise<SettledMemory>;
  stop(): Promise<void>;
}

function wrap(name: ServerName, url: string, child: Child, cleanup?: () => void): ServerUnderTest {
  return {
    name,
    url,
    child,
    stats: () => child.rpc.call<ProcessStats>('stats'),
    settledMemory: () => child.rpc.call<SettledMemory>('gc'),
    async stop() {
      await child.stop();
      cleanup?.();
    },
  };
}

export interface BaselineOptions {
  redisUrl: string | undefined;
}

export async function startBaseline(opts: BaselineOptions): Promise<ServerUnderTest> {
  const child = startChild({
    name: 'baseline',
    entry: join(BENCH_DIR, 'servers/baseline.ts'),
    agent: true,
    env: { PORT: '0', ...(opts.redisUrl ? { BASELINE_REDIS_URL: opts.redisUrl } : {}) },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.process.on('message', (m: { ready?: boolean; port?: number }) => {
      if (m?.ready && m.port) resolve(m.port);
    });
    child.process.once('exit', (code) => reject(new Error(`baseline exited (${code}) before listening`)));
  });
  return wrap('baseline', `http://127.0.0.1:${port}`, child);
}

export interface ParleyOptions {
  /** The entry to run: the all-in-one server (REST + realtime) unless told otherwise. */
  entry: string;
  databaseUrl: string;
  redisUrl: string | undefined;
  nodeArgs?: string[];
}

/**
 * Parley as it runs in production, as a child process: its own entry, its own config from
 * the environment (rate limits raised so the load is not refused, logs at warn), with the
 * stats agent preloaded.
 */
export async function startParley(opts: ParleyOptions): Promise<ServerUnderTest> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const origin = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    DATABASE_URL: opts.databaseUrl,
    JWT_SECRET: BENCH_JWT_SECRET,
    CORS_ORIGINS: `${origin},http://localhost:${port}`,
    // The bench measures capacity, not the limits: every event's budget out of the way.
    RATE_LIMIT_MESSAGE_PER_SECOND: '1000000',
    RATE_LIMIT_MESSAGE_PER_10_SECONDS: '10000000',
    RATE_LIMIT_TYPING_PER_SECOND: '1000000',
    RATE_LIMIT_TYPING_PER_10_SECONDS: '10000000',
    RATE_LIMIT_REACT_PER_SECOND: '1000000',
    RATE_LIMIT_REACT_PER_10_SECONDS: '10000000',
    RATE_LIMIT_JOIN_PER_SECOND: '1000000',
    RATE_LIMIT_JOIN_PER_10_SECONDS: '10000000',
    RATE_LIMIT_LEAVE_PER_SECOND: '1000000',
    RATE_LIMIT_LEAVE_PER_10_SECONDS: '10000000',
    RATE_LIMIT_READ_PER_SECOND: '1000000',
    RATE_LIMIT_READ_PER_10_SECONDS: '10000000',
    RATE_LIMIT_REGISTER_PER_HOUR: '1000000',
    MAX_SOCKETS_PER_USER: '10000',
    REDIS_URL: opts.redisUrl ?? '',
    REDIS_KEY_PREFIX: opts.redisUrl ? `bench-${randomBytes(4).toString('hex')}:` : '',
  };
  const child = startChild({
    name: 'parley',
    entry: join(ROOT_DIR, opts.entry),
    agent: true,
    env,
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
  });
  await waitForHttp(`${origin}/healthz`, child.process);
  await waitForHttp(`${origin}/readyz`, child.process);
  return wrap('parley', origin, child, () => rmSync(dataDir, { recursive: true, force: true }));
}

/** Whether the server speaks Socket.IO and accepts this client's token (the realtime tier is mounted). */
export async function probeRealtime(
  url: string,
  client: BenchClient,
): Promise<{ ok: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 5_000,
      auth: { token: client.token, userId: client.userId, name: client.name },
    });
    socket.once('connect', () => {
      socket.close();
      resolve({ ok: true });
    });
    socket.once('connect_error', (err) => {
      socket.close();
      resolve({ ok: false, reason: err.message });
    });
  });
}
