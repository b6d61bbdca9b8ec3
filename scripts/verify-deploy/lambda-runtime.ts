import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltBundle } from '../build-functions.ts';
import { assert } from './steps.ts';

/**
 * A bundle running the way the Lambda Node runtime runs it: its own process, the code at
 * /var/task on a read-only mount, the runtime's CA bundle at /var/runtime/ca-cert.pem, the
 * working directory /var/task, and an environment that is exactly the function's (from the
 * evaluated program) plus what the runtime itself sets. A private mount namespace
 * (`unshare -m`, root only) provides those paths without touching the machine's own /var.
 */

/** Variables the Lambda runtime sets itself, beside the function's own. */
function runtimeVariables(name: string, region: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LAMBDA_TASK_ROOT: '/var/task',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    // The execution role's session; never used against AWS here (nothing leaves loopback).
    AWS_ACCESS_KEY_ID: 'ASIAVERIFYDEPLOY0000',
    AWS_SECRET_ACCESS_KEY: 'verify-deploy-only',
    AWS_SESSION_TOKEN: 'verify-deploy-only',
  };
}

/** The child side: imports the bundle and answers invocations over IPC. */
const RUNNER_SOURCE = `
import { pathToFileURL } from 'node:url';
const [bundle, exportName, name] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundle).href);
const handler = mod[exportName];
if (typeof handler !== 'function') { console.error('no export ' + exportName); process.exit(1); }
let n = 0;
process.on('message', async ({ id, event }) => {
  const context = { awsRequestId: 'verify-' + (++n), functionName: name, getRemainingTimeInMillis: () => 20000 };
  try { process.send({ id, ok: true, result: await handler(event, context) }); }
  catch (err) { process.send({ id, ok: false, error: String(err && err.stack || err) }); }
});
`;

// $1 bundle dir, $2 CA file, $3 runner, then the runner's own arguments.
const NAMESPACE_SETUP = `
set -e
mount -t tmpfs -o mode=755 tmpfs /var
mkdir /var/task /var/runtime
mount --bind "$1" /var/task
mount -o remount,bind,ro /var/task
cp "$2" /var/runtime/ca-cert.pem
cp "$3" /var/runtime/runner.mjs
mount -o remount,ro -t tmpfs tmpfs /var
cd /var/task
shift 3
exec node /var/runtime/runner.mjs "$@"
`;

export class LambdaProcess {
  readonly log: string[] = [];
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.log.push(d.toString()));
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name} threw: ${m.error}`));
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values())
        p.reject(new Error(`${name} process exited (${code}): ${this.log.join('').slice(-1500)}`));
      this.pending.clear();
    });
  }

  /**
   * Starts a bundle with `environment` exactly as the program gives it; `runtimeCa` stands in
   * for the runtime's /var/runtime/ca-cert.pem (the CA that signed the database's certificate).
   */
  static start(opts: {
    bundle: BuiltBundle;
    environment: Record<string, string>;
    runtimeCa: string;
    workDir: string;
    region: string;
  }): LambdaProcess {
    assert(
      process.getuid?.() === 0,
      'running bundles as Lambda does needs root (a private mount namespace for /var/task)',
    );
    const runner = join(opts.workDir, 'lambda-runner.mjs');
    writeFileSync(runner, RUNNER_SOURCE);
    const { bundle } = opts;
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        NAMESPACE_SETUP,
        'lambda',
        bundle.dir,
        opts.runtimeCa,
        runner,
        `/var/task/${bundle.file}`,
        bundle.exportName,
        bundle.name,
      ],
      {
        cwd: '/',
        env: { ...runtimeVariables(bundle.name, opts.region), ...opts.environment },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      },
    );
    return new LambdaProcess(child, bundle.name);
  }

  invoke(event: unknown): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, event });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}
