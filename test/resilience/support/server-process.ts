import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './tcp-proxy.ts';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const JWT_SECRET = 'resilience-secret-that-is-long-enough-0123456789';

export type Entry = 'server/main.ts' | 'realtime/main.ts';

export interface ServerProcess {
  name: string;
  port: number;
  url: string;
  pid: number;
  /** Log lines (JSON from pino) and anything else the process wrote. */
  lines: string[];
  /** Lines that signal trouble: error/fatal logs, unhandled rejections, uncaught exceptions. */
  troubles(): string[];
  alive(): boolean;
  start(): Promise<void>;
  /** Sends a signal; resolves with how the process ended and how long it took. */
  signal(sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  stop(): Promise<void>;
}

export interface ServerOptions {
  name: string;
  entry?: Entry;
  env: Record<string, string>;
  port?: number;
  /** Lines matching this are expected during the scenario (e.g. "database unreachable"). */
  expectedTrouble?: RegExp;
}

const running = new Set<ServerProcess>();

/**
 * A Parley process as production runs it (`node --import tsx <entry>`), on a fixed port so
 * that a restarted instance comes back where its clients look for it.
 */
export async function serverProcess(opts: ServerOptions): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), `parley-${opts.name}-`));
  const lines: string[] = [];
  let child: ChildProcess | undefined;
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  const collect = (stream: NodeJS.ReadableStream | null) => {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (p.trim()) lines.push(p);
    });
  };

  const proc: ServerProcess = {
    name: opts.name,
    port,
    url: `http://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? -1;
    },
    lines,
    troubles() {
      return lines.filter((l) => {
        if (
          /NodeVersionSupportWarning|AWS SDK for JavaScript|versions published after|node >=22|a\.co\/|upgrade to node|To continue receiving|security updates please|More information can be found|trace-warnings/.test(
            l,
          )
        )
          return false;
        if (opts.expectedTrouble?.test(l)) return false;
        if (/^\{/.test(l)) {
          try {
            return (JSON.parse(l) as { level?: number }).level! >= 50;
          } catch {
            return true;
          }
        }
        return l.trim().length > 0;
      });
    },
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      child = spawn(process.execPath, ['--import', 'tsx', opts.entry ?? 'server/main.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          NODE_ENV: 'development',
          PORT: String(port),
          HOST: '127.0.0.1',
          DATA_DIR: dataDir,
          JWT_SECRET,
          LOG_LEVEL: 'warn',
          CORS_ORIGINS: `http://127.0.0.1:${port}`,
          ...opts.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      collect(child.stdout);
      collect(child.stderr);
      const c = child;
      exit = new Promise((r) => c.once('exit', (code, signal) => r({ code, signal })));
      running.add(proc);
      const deadline = Date.now() + 90_000;
      for (;;) {
        if (!proc.alive())
          throw new Error(`${opts.name} exited during start-up:\n${lines.slice(-20).join('\n')}`);
        const ok = await fetch(`${proc.url}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        if (Date.now() > deadline)
          throw new Error(`${opts.name} did not become healthy:\n${lines.slice(-20).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async signal(sig) {
      const started = Date.now();
      if (!child || !exit) return { code: null, signal: null, ms: 0 };
      if (proc.alive()) child.kill(sig);
      const result = await exit;
      running.delete(proc);
      return { ...result, ms: Date.now() - started };
    },
    async stop() {
      if (proc.alive()) {
        const term = proc.signal('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        await term;
        clearTimeout(timer);
      }
      running.delete(proc);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await proc.start();
  return proc;
}

/** Last resort for a failed test: nothing we started outlives the run. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export { waitUntil } from '../../wait.ts';

export const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
};
