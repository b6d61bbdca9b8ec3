import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from './rpc.ts';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT_DIR = join(BENCH_DIR, '..');
const AGENT = join(BENCH_DIR, 'lib/agent.ts');

const live = new Set<ChildProcess>();

/** A free TCP port on 127.0.0.1 (the OS picks; released just before the child binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ChildOptions {
  name: string;
  /** A .ts entry, run through tsx. */
  entry: string;
  env?: Record<string, string>;
  /** Preload the stats agent (servers under measurement). */
  agent?: boolean;
  nodeArgs?: string[];
  /** Keep the child's stdout/stderr visible (servers log warnings and errors there). */
  quiet?: boolean;
}

export interface Child {
  name: string;
  process: ChildProcess;
  rpc: RpcClient;
  pid: number;
  stop(): Promise<void>;
}

export function startChild(opts: ChildOptions): Child {
  const execArgv = [
    '--import',
    'tsx',
    ...(opts.agent ? ['--import', AGENT, '--expose-gc'] : []),
    ...(opts.nodeArgs ?? []),
  ];
  const child = fork(opts.entry, [], {
    cwd: ROOT_DIR,
    execArgv,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', opts.quiet ? 'ignore' : 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const rpc = new RpcClient(child, opts.name);
  return {
    name: opts.name,
    process: child,
    rpc,
    pid: child.pid!,
    stop: () => stopProcess(child),
  };
}

/** SIGTERM, then SIGKILL if the process has not exited within the grace period. */
async function stopProcess(child: ChildProcess, graceMs = 8_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Last resort on the way out (errors, Ctrl-C): no benchmark process outlives the harness. */
export function killAllChildren(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** Resolves once `url` answers 200, or rejects after `timeoutMs` or when the child dies. */
export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`server exited before ${url} answered`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

export interface ProcessStats {
  cpu: NodeJS.CpuUsage;
  mem: NodeJS.MemoryUsage;
  at: number;
}

/** CPU microseconds (user + system) a child spent between two readings. */
export const cpuMicros = (from: ProcessStats, to: ProcessStats): number =>
  to.cpu.user - from.cpu.user + (to.cpu.system - from.cpu.system);
