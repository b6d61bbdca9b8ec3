import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface StepResult {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}
export const results: StepResult[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

/** Registers something to undo when the verification ends, whatever happened. */
export function onCleanup(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<string[]> {
  const problems: string[] = [];
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

/** Runs one named check, prints it and records it for the summary. */
export async function step<T>(
  name: string,
  fn: () => Promise<T>,
  detail: (v: T) => string = () => '',
): Promise<T> {
  const t0 = Date.now();
  process.stdout.write(`… ${name}\n`);
  try {
    const value = await fn();
    const r = { name, ok: true, ms: Date.now() - t0, detail: detail(value) };
    results.push(r);
    process.stdout.write(`✔ ${name} (${(r.ms / 1000).toFixed(1)} s)${r.detail ? ` ${r.detail}` : ''}\n`);
    return value;
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - t0, detail: (err as Error).message });
    process.stdout.write(`✘ ${name}: ${(err as Error).message}\n`);
    throw err;
  }
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

const running = new Set<ChildProcess>();
// Commands still running when the verification ends (an interrupt, a failed sibling step).
onCleanup(() => {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
});

/** Runs a command to completion; rejects with the tail of its output on failure. */
export function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  cwd = root,
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    // Its own process group, so that an interrupted run stops npx's children too.
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    child.on('exit', () => running.delete(child));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`)),
    );
  });
}
