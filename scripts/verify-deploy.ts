import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import S3rver from 's3rver';
import { io } from 'socket.io-client';
import { createS3Store } from '../core/storage/s3.ts';
import { endpointOrigins, headersInjection, s3Origins, webSecurityHeaders } from '../infra/web-headers.ts';
import { type BuiltBundle, buildLambda, buildRealtime, lambdaEntries } from './build-functions.ts';

/**
 * Offline verification of the deployment (`npm run verify:deploy`, called by CI):
 *  1. the SST platform installed offline, and sst.config.ts + infra/ type-checked against it;
 *  2. every Lambda bundled as SST bundles it, copied to a directory with no node_modules
 *     above it, and invoked with real Function URL (payload v2) events against a fresh
 *     Postgres database: the Migrate function first, then register → login → create room
 *     → history, each function in its own process like a Lambda container;
 *  3. the realtime bundle started with the Dockerfile's own CMD, outside Docker: /healthz,
 *     a Socket.IO handshake with the session from step 2, a join, and a clean SIGTERM exit.
 * Exits non-zero on any failure, with a summary. Skip step 1 with --skip-sst (local loops).
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_URL = process.env.VERIFY_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.VERIFY_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ORIGIN = 'https://parley.example.com';
const started = Date.now();
const NOBODY = 65534;

interface StepResult {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}
const results: StepResult[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];

async function step<T>(name: string, fn: () => Promise<T>, detail: (v: T) => string = () => ''): Promise<T> {
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

function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Runs a command to completion; rejects with the tail of its output on failure. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

// ---------------------------------------------------------------------------------------
// 1. SST platform + type-check

const SST_ENV = {
  SST_NO_BUN: '1',
  SST_SKIP_DEPENDENCY_CHECK: 'true',
  SST_TELEMETRY_DISABLED: '1',
  SST_STAGE: 'dev',
};

async function checkInfra(): Promise<string> {
  const installed = join(root, '.sst/platform/version');
  const want = (
    JSON.parse(readFileSync(join(root, 'node_modules/sst/package.json'), 'utf8')) as { version: string }
  ).version;
  let reused = false;
  if (
    existsSync(installed) &&
    readFileSync(installed, 'utf8').trim() === want &&
    existsSync(join(root, '.sst/platform/config.d.ts'))
  ) {
    reused = true;
  } else {
    await run('npx', ['sst', 'install'], SST_ENV);
  }
  assert(
    existsSync(join(root, '.sst/platform/config.d.ts')),
    'sst install did not write .sst/platform/config.d.ts',
  );
  await run('npx', ['tsc', '-p', 'infra/tsconfig.json']);
  return `sst ${want} platform ${reused ? 'already installed' : 'installed'}; sst.config.ts + infra/ type-check clean`;
}

// ---------------------------------------------------------------------------------------
// 2. Lambdas from their bundles

interface FunctionUrlResult {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

/** A bundle running in its own process, like one warm Lambda execution environment. */
class LambdaProcess {
  private next = 0;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name} threw: ${m.error}`));
    });
    child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name} process exited (${code})`));
      this.pending.clear();
    });
  }

  static start(runner: string, bundle: BuiltBundle, env: Record<string, string>): LambdaProcess {
    const child = fork(runner, [join(bundle.dir, bundle.file), bundle.exportName, bundle.name], {
      cwd: bundle.dir,
      // Only what the Lambda runtime would have: no NODE_OPTIONS/tsx loader from this process.
      env: { PATH: process.env.PATH ?? '', LAMBDA_TASK_ROOT: bundle.dir, AWS_REGION: 'us-east-1', ...env },
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const log: string[] = [];
    child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
    const proc = new LambdaProcess(child, bundle.name);
    proc.log = log;
    return proc;
  }

  log: string[] = [];

  invoke(event: unknown): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject });
      this.child.send({ id, event });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
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

function functionUrlEvent(
  method: string,
  path: string,
  opts: { body?: unknown; cookies?: string[]; query?: Record<string, string> } = {},
) {
  const rawQueryString = new URLSearchParams(opts.query ?? {}).toString();
  const now = new Date();
  const headers: Record<string, string> = {
    host: 'abcdefghij.lambda-url.us-east-1.on.aws',
    origin: ORIGIN,
    'user-agent': 'parley-verify',
    'x-forwarded-for': '203.0.113.7, 130.176.0.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-port': '443',
    accept: 'application/json',
  };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    ...(opts.cookies?.length ? { cookies: opts.cookies } : {}),
    headers,
    ...(opts.query ? { queryStringParameters: opts.query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghij',
      domainName: headers.host,
      domainPrefix: 'abcdefghij',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '130.176.0.1', userAgent: 'parley-verify' },
      requestId: randomBytes(8).toString('hex'),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    isBase64Encoded: false,
  };
}

async function call(
  fn: LambdaProcess,
  method: string,
  path: string,
  opts: Parameters<typeof functionUrlEvent>[2] = {},
) {
  const res = (await fn.invoke(functionUrlEvent(method, path, opts))) as FunctionUrlResult;
  assert(
    res && typeof res.statusCode === 'number',
    `${method} ${path}: not a Function URL response: ${JSON.stringify(res)}`,
  );
  const text = res.isBase64Encoded ? Buffer.from(res.body ?? '', 'base64').toString() : (res.body ?? '');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return {
    status: res.statusCode,
    cookies: res.cookies ?? [],
    json: json as Record<string, unknown>,
    raw: res,
  };
}

/** `sid=value` from a Set-Cookie entry of the `cookies` array. */
function sessionFrom(cookies: string[]): { pair: string; token: string; attributes: string } {
  const c = cookies.find((s) => s.startsWith('sid='));
  assert(c, `no sid cookie in the cookies array: ${JSON.stringify(cookies)}`);
  const pair = c.split(';')[0]!;
  return { pair, token: decodeURIComponent(pair.slice(4)), attributes: c.slice(pair.length) };
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const skipSst = process.argv.includes('--skip-sst');
  const work = mkdtempSync(join(tmpdir(), 'parley-verify-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  // The point of bundling: nothing above the bundles may provide a node_modules.
  for (let d = work; ; d = dirname(d)) {
    assert(
      !existsSync(join(d, 'node_modules')),
      `${d}/node_modules exists: bundles would not be tested in isolation`,
    );
    if (dirname(d) === d) break;
  }

  // Step 1 is slow and independent: it runs while the bundles are exercised.
  const infra = skipSst
    ? undefined
    : step('SST platform installed offline, infra type-checked', checkInfra, (s) => s);
  infra?.catch(() => undefined);

  await step('Web client CSP on CloudFront allows the signed-URL origins', checkWebHeaders, (s) => s);

  const dbName = `parley_verify_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await step(
    'fresh Postgres database',
    async () => {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
      cleanups.push(async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      });
    },
    () => dbName,
  );
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(work, 's3'),
    configureBuckets: [{ name: 'parley-verify', configs: [] }],
  });
  const s3Address = (await s3.run()) as { port: number };
  cleanups.push(() => s3.close());

  const redisPrefix = `parley-verify:${randomBytes(4).toString('hex')}:`;
  cleanups.push(async () => {
    // The functions' rate-limit windows would otherwise linger in the shared Redis for an hour.
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  });

  const jwtSecret = randomBytes(48).toString('base64url');
  // What infra/environment.ts composes, with local endpoints in place of AWS resources.
  // S3 credentials come through the SDK's default chain, as a role's would on AWS.
  const appEnv: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: '2',
    MIGRATE_ON_START: 'false',
    REDIS_URL,
    REDIS_KEY_PREFIX: redisPrefix,
    JWT_SECRET: jwtSecret,
    METRICS_TOKEN: randomBytes(16).toString('hex'),
    CORS_ORIGINS: ORIGIN,
    COOKIE_SECURE: 'true',
    TRUST_PROXY_HOPS: '2',
    S3_BUCKET: 'parley-verify',
    S3_ENDPOINT: `http://127.0.0.1:${s3Address.port}`,
    S3_FORCE_PATH_STYLE: 'true',
    S3_REGION: 'us-east-1',
    UPLOAD_METHOD: 'post',
    UPLOAD_SWEEP_INTERVAL_SECONDS: '0',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };

  const bundles = await step(
    'Lambdas bundled as SST bundles them',
    () => Promise.all(lambdaEntries.map((e) => buildLambda(e, join(work, 'functions')))),
    (bs) => bs.map((b) => `${b.name} ${(b.bytes / 1024 / 1024).toFixed(1)} MB`).join(', '),
  );
  const runner = join(work, 'lambda-runner.mjs');
  writeFileSync(runner, RUNNER_SOURCE);
  const fns = Object.fromEntries(bundles.map((b) => [b.name, LambdaProcess.start(runner, b, appEnv)]));
  cleanups.push(() => Promise.all(Object.values(fns).map((f) => f.stop())));
  const fn = (name: string) => {
    const f = fns[name];
    assert(f, `no function ${name}`);
    return f;
  };

  try {
    await step(
      'Migrate function applies migrations (and is idempotent)',
      async () => {
        const first = (await fn('Migrate').invoke({})) as { applied: string[]; latest: string };
        assert(first.applied.length > 0 && first.latest, `nothing applied: ${JSON.stringify(first)}`);
        const again = (await fn('Migrate').invoke({})) as { applied: string[]; latest: string };
        assert(
          again.applied.length === 0 && again.latest === first.latest,
          `second run applied ${JSON.stringify(again)}`,
        );
        return first;
      },
      (r) => `${r.applied.length} applied, schema ${r.latest}`,
    );

    const username = `verify_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const session = await step(
      'Auth: register then login from the bundle',
      async () => {
        const reg = await call(fn('Auth'), 'POST', '/api/auth/register', { body: { username, password } });
        assert(reg.status === 201, `register → ${reg.status} ${JSON.stringify(reg.json)}`);
        // The router's cache honours origin headers: API answers must never be cached.
        assert(
          reg.raw.headers?.['cache-control'] === 'no-store',
          `register Cache-Control: ${reg.raw.headers?.['cache-control']}`,
        );
        sessionFrom(reg.cookies);
        const login = await call(fn('Auth'), 'POST', '/api/auth/login', { body: { username, password } });
        assert(login.status === 200, `login → ${login.status} ${JSON.stringify(login.json)}`);
        const s = sessionFrom(login.cookies);
        assert(
          /;\s*Secure/i.test(s.attributes) && /;\s*HttpOnly/i.test(s.attributes),
          `sid cookie lacks Secure/HttpOnly: ${s.attributes}`,
        );
        const me = await call(fn('Auth'), 'GET', '/api/auth/me', { cookies: [s.pair] });
        assert(me.status === 200, `me with the login cookie → ${me.status}`);
        return s;
      },
      () => 'register 201, login 200 with Secure HttpOnly sid cookie, me 200',
    );

    const room = await step(
      'Rooms: create a room from the bundle',
      async () => {
        const res = await call(fn('Rooms'), 'POST', '/api/rooms', {
          body: { name: 'Deploy check' },
          cookies: [session.pair],
        });
        assert(res.status === 201, `create room → ${res.status} ${JSON.stringify(res.json)}`);
        const r = res.json.room as { id: string };
        assert(r?.id, 'no room id');
        const anon = await call(fn('Rooms'), 'GET', '/api/rooms');
        assert(anon.status === 401, `rooms without a session → ${anon.status}`);
        return r;
      },
      (r) => `room ${r.id}`,
    );

    await step(
      'Messages: history from the bundle',
      async () => {
        const res = await call(fn('Messages'), 'GET', '/api/messages', {
          query: { roomId: room.id },
          cookies: [session.pair],
        });
        assert(res.status === 200, `history → ${res.status} ${JSON.stringify(res.json)}`);
        assert(
          Array.isArray(res.json.messages) && res.json.hasMore === false,
          `unexpected history ${JSON.stringify(res.json)}`,
        );
      },
      () => '200 {messages: [], hasMore: false}',
    );

    await step(
      'Uploads: init from the bundle (presigned POST against the S3 endpoint)',
      async () => {
        const res = await call(fn('Uploads'), 'POST', '/api/upload/init', {
          body: { roomId: room.id, filename: 'hello.txt', mime: 'text/plain', bytes: 5 },
          cookies: [session.pair],
        });
        assert(res.status === 200, `upload init → ${res.status} ${JSON.stringify(res.json)}`);
        assert(
          res.json.method === 'POST' && typeof res.json.url === 'string',
          `unexpected init ${JSON.stringify(res.json)}`,
        );
      },
      () => '200 POST target',
    );

    await step(
      'SweepUploads: scheduled sweep runs from the bundle',
      async () => {
        const r = (await fn('SweepUploads').invoke({})) as { deleted: number; failed: number };
        assert(typeof r?.deleted === 'number' && r.failed === 0, `sweep returned ${JSON.stringify(r)}`);
        return r;
      },
      (r) => `deleted ${r.deleted}, failed ${r.failed}`,
    );

    await step(
      'Realtime: Dockerfile CMD started outside Docker, /healthz, socket handshake, SIGTERM',
      async () => {
        const built = await buildRealtime(join(work, 'image'));
        // The image's WORKDIR holds exactly this directory: run the CMD there.
        const cmd = dockerCmd();
        const port = 20_000 + Math.floor(Math.random() * 20_000);
        // The image runs as an unprivileged user over root-owned files: so does this, when it can.
        const asRoot = process.getuid?.() === 0;
        if (asRoot) chmodSync(work, 0o755);
        const child = spawn(cmd[0]!, cmd.slice(1), {
          cwd: built.dir,
          ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
          env: {
            PATH: process.env.PATH ?? '',
            ...appEnv,
            DATABASE_POOL_MAX: '5',
            PORT: String(port),
            HOST: '127.0.0.1',
            SHUTDOWN_TIMEOUT_MS: '10000',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
        const base = `http://127.0.0.1:${port}`;
        try {
          await waitForHealth(`${base}/healthz`, exited, 30_000);
          const ready = await fetch(`${base}/readyz`);
          assert(ready.status === 200, `/readyz → ${ready.status}`);
          await socketCheck(base, session, room.id);
        } catch (err) {
          throw new Error(`${(err as Error).message}\n--- realtime output ---\n${output.slice(-3000)}`, {
            cause: err,
          });
        }
        child.kill('SIGTERM');
        const code = await Promise.race([
          exited,
          new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000)),
        ]);
        assert(
          code === 0,
          `after SIGTERM the process ${code === 'timeout' ? 'did not exit in 15 s' : `exited ${code}`}\n${output.slice(-2000)}`,
        );
        return { cmd: cmd.join(' '), bytes: built.bytes, user: asRoot ? 'uid 65534' : 'current user' };
      },
      (r) =>
        `\`${r.cmd}\` as ${r.user} (${(r.bytes / 1024 / 1024).toFixed(1)} MB app), cookie and token handshakes + join ok, bad token and foreign Origin refused, exit 0 on SIGTERM`,
    );
  } catch (err) {
    for (const f of Object.values(fns)) {
      if (f.log.length) process.stdout.write(`--- ${f.name} output ---\n${f.log.join('').slice(-2000)}\n`);
    }
    throw err;
  } finally {
    if (infra) await infra.catch(() => undefined);
  }
  if (infra) await infra;
}

/** The CMD of realtime/Dockerfile, exec form. */
function dockerCmd(): string[] {
  const dockerfile = readFileSync(join(root, 'realtime/Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => /^CMD\s+\[/.test(l));
  assert(line, 'realtime/Dockerfile has no exec-form CMD');
  return JSON.parse(line.replace(/^CMD\s+/, '')) as string[];
}

async function waitForHealth(url: string, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone: number | null | undefined;
  void exited.then((c) => (gone = c ?? -1));
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`realtime exited (${gone}) before answering ${url}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/** Opens a socket and resolves with `connected`, or the connect_error message. */
async function handshake(
  base: string,
  opts: Parameters<typeof io>[1],
): Promise<{ socket: ReturnType<typeof io>; outcome: string }> {
  const socket = io(base, { transports: ['websocket'], reconnection: false, timeout: 10_000, ...opts });
  const outcome = await new Promise<string>((resolvePromise) => {
    socket.once('connect', () => resolvePromise('connected'));
    socket.once('connect_error', (err) => resolvePromise(err.message));
  });
  return { socket, outcome };
}

/**
 * What a browser on the public origin does behind the router (websocket transport): the
 * `sid` cookie authenticates and the room can be joined; what must be refused is.
 */
async function socketCheck(
  base: string,
  session: { pair: string; token: string },
  roomId: string,
): Promise<void> {
  const browser = await handshake(base, { extraHeaders: { origin: ORIGIN, cookie: session.pair } });
  try {
    assert(browser.outcome === 'connected', `handshake with the sid cookie refused: ${browser.outcome}`);
    const ack = (await browser.socket.timeout(10_000).emitWithAck('join', { roomId })) as { ok: boolean };
    assert(ack.ok, `join ack ${JSON.stringify(ack)}`);
  } finally {
    browser.socket.close();
  }
  const native = await handshake(base, { auth: { token: session.token } });
  native.socket.close();
  assert(native.outcome === 'connected', `handshake with auth.token refused: ${native.outcome}`);

  const forged = await handshake(base, { auth: { token: 'not-a-token' } });
  forged.socket.close();
  assert(forged.outcome === 'unauthorized', `bad token: "${forged.outcome}", expected "unauthorized"`);

  const foreign = await handshake(base, {
    extraHeaders: { origin: 'https://evil.example', cookie: session.pair },
  });
  foreign.socket.close();
  assert(foreign.outcome !== 'connected', 'a foreign Origin was accepted (CORS_ORIGINS not applied)');
}

/**
 * The CSP that CloudFront adds to the web client (infra/web-headers.ts, built by the same
 * function as the local server's) must allow exactly the origins the SDK signs upload and
 * download URLs for.
 */
async function checkWebHeaders(): Promise<string> {
  const signedOrigins = async (settings: Parameters<typeof createS3Store>[0]) => {
    const store = createS3Store(settings, { uploadUrlExpiresSeconds: 300, downloadUrlExpiresSeconds: 900 });
    try {
      const urls = [
        await store.signGetUrl({ key: 'r/u/k', mime: 'image/png', filename: 'a.png' }),
        (await store.presignUpload({ key: 'r/u/k', mime: 'image/png', bytes: 1, method: 'post' })).url,
        (await store.presignUpload({ key: 'r/u/k', mime: 'image/png', bytes: 1, method: 'put' })).url,
      ];
      return [...new Set(urls.map((u) => new URL(u).origin))];
    } finally {
      await store.close();
    }
  };
  const credentials = { accessKeyId: 'AKIAVERIFYONLY000000', secretAccessKey: 'verify-only' };
  for (const region of ['us-east-1', 'eu-west-1']) {
    const bucket = 'parley-production-uploadsbucket-abc123';
    const got = await signedOrigins({
      bucket,
      region,
      endpoint: undefined,
      credentials,
      forcePathStyle: false,
    });
    const allowed = s3Origins(bucket, region);
    assert(
      got.every((o) => allowed.includes(o)),
      `S3 ${region}: SDK signs for ${got.join(', ')}, CSP allows ${allowed.join(', ')}`,
    );
  }
  const r2 = 'https://0123456789abcdef.r2.cloudflarestorage.com';
  const got = await signedOrigins({
    bucket: 'parley',
    region: 'auto',
    endpoint: r2,
    credentials,
    forcePathStyle: true,
  });
  assert(
    got.every((o) => endpointOrigins(r2).includes(o)),
    `R2: SDK signs for ${got.join(', ')}`,
  );

  // The viewer-response snippet, run as CloudFront would run it: HTML gets the headers, assets not.
  const run = (contentType: string) => {
    const event = {
      response: { headers: { 'content-type': { value: contentType } } as Record<string, { value: string }> },
    };
    new Function('event', headersInjection(webSecurityHeaders(['https://b.s3.eu-west-1.amazonaws.com'])))(
      event,
    );
    return event.response.headers;
  };
  const html = run('text/html; charset=utf-8');
  assert(
    html['content-security-policy']?.value.includes('https://b.s3.eu-west-1.amazonaws.com'),
    'HTML got no CSP',
  );
  assert(!run('text/css')['content-security-policy'], 'a stylesheet got the CSP');
  return 'CSP (shared with the local server) allows the S3 (2 regions) and R2 signed-URL origins; edge snippet runs';
}

function summary(ok: boolean): void {
  process.stdout.write('\nDeployment verification summary\n');
  for (const r of results) {
    process.stdout.write(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name} (${(r.ms / 1000).toFixed(1)} s)\n`);
  }
  process.stdout.write(`${ok ? 'PASSED' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  exitCode = 1;
  if (!results.some((r) => !r.ok)) process.stdout.write(`✘ ${(err as Error).stack ?? String(err)}\n`);
}
for (const c of cleanups.reverse()) {
  try {
    await c();
  } catch {
    // best effort: the database and temp dir are ours alone
  }
}
summary(exitCode === 0 && results.every((r) => r.ok));
process.exit(exitCode || (results.every((r) => r.ok) ? 0 : 1));
