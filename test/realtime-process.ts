import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TEST_JWT_SECRET, testMode } from './support.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface RealtimeProcess {
  url: string;
  child: ChildProcess;
  /** Log lines the process wrote (JSON), for diagnosis. */
  logs: string[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `realtime/main.ts` as the container runs it, in a child process, on this run's services. */
export async function spawnRealtime(env: Record<string, string> = {}): Promise<RealtimeProcess> {
  // A data dir of its own, removed when the process ends: a child killed with -9 cannot
  // clean up after itself (its embedded object store lives there).
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-rt-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'realtime/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      DATABASE_URL: testMode.databaseUrl,
      REDIS_URL: testMode.redisUrl,
      REDIS_KEY_PREFIX: testMode.redisPrefix,
      MIGRATE_ON_START: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(dataDir, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`realtime process did not start:\n${logs.join('')}`)),
      60_000,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'realtime listening' && entry.port) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`realtime process exited (${code}) before listening:\n${logs.join('\n')}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child, logs, exited };
}
