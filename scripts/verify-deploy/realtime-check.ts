import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { buildRealtime } from '../build-functions.ts';
import { runtimeStage } from './dockerfile.ts';
import type { Program } from './program.ts';
import { ReadTimeoutProxy } from './read-timeout-proxy.ts';
import { assert, onCleanup, step } from './steps.ts';
import { freePort } from './tls-services.ts';

const NOBODY = 65534;

// $1 app dir, $2 CA file, $3 CA path in the image; then the CMD. The image's files are
// read-only to the process (root-owned in the image, run as USER); the RDS CA that the
// image ADDs is where its ENV says, in a private mount namespace.
const NAMESPACE_SETUP = `
set -e
mount --bind "$1" "$1"
mount -o remount,bind,ro "$1"
ca_dir=$(dirname "$3")
mount -t tmpfs -o mode=755 tmpfs "$ca_dir"
cp "$2" "$3"
chmod 644 "$3"
cd "$1"
shift 3
exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups "$@"
`;

/**
 * The realtime container reproduced outside Docker: the Dockerfile's runtime stage (the
 * build stage's output copied into an empty directory, its ENV, its ADDed CA, its CMD),
 * with the task definition's environment from the evaluated program on top, as ECS applies
 * it. Only PORT and HOST are moved (the task has its own network namespace; here the
 * loopback is shared). Clients reach it through a proxy that enforces the router's read
 * timeout for /socket.io, as CloudFront would.
 */
export async function checkRealtime(
  program: Program,
  opts: { workDir: string; runtimeCa: string; session: { pair: string; token: string }; roomId: string },
): Promise<void> {
  const stage = runtimeStage();
  const container = program.container('RealtimeTask');
  const taskEnv = Object.fromEntries(container.environment.map((e) => [e.name, e.value]));
  const route = program.routeMetadata('RouterRoute/socket.ioRouteKey.sst.aws.KvKeys') as {
    origin?: { timeouts?: { readTimeout?: number } };
  };
  // CloudFront's default when a route sets none.
  const readTimeoutS = route.origin?.timeouts?.readTimeout ?? 20;
  const targetGroup = program.get('aws:lb/targetGroup:TargetGroup', 'RealtimeTargetRealtimeHTTP3000');
  const healthPath = (targetGroup.inputs.healthCheck as { path: string }).path;
  const publicOrigin = taskEnv.CORS_ORIGINS!;

  await step(
    'Realtime: the Dockerfile runtime stage outside Docker, its CMD with the task environment, over TLS',
    async () => {
      const built = await buildRealtime(join(opts.workDir, 'build-stage'));
      const copy = stage.copies.find((c) => c.from.replace(/\/$/, '') === '/out/realtime');
      assert(copy, `the runtime stage does not copy /out/realtime: ${JSON.stringify(stage.copies)}`);
      const app = join(opts.workDir, 'image', stage.workdir);
      mkdirSync(app, { recursive: true });
      cpSync(built.dir, app, { recursive: true });
      const caPath = stage.env.NODE_EXTRA_CA_CERTS;
      assert(
        caPath && stage.added.some((a) => a.path === caPath),
        `NODE_EXTRA_CA_CERTS (${caPath}) is not a file the image ADDs`,
      );
      const caCopy = join(opts.workDir, 'image-ca.pem');
      copyFileSync(opts.runtimeCa, caCopy);
      const port = await freePort();
      const env = {
        PATH: process.env.PATH ?? '',
        ...stage.env,
        ...taskEnv,
        PORT: String(port),
        HOST: '127.0.0.1',
      };
      const child = spawn(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          NAMESPACE_SETUP,
          'container',
          app,
          caCopy,
          caPath,
          ...stage.cmd,
        ],
        {
          cwd: '/',
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      onCleanup(() => child.exitCode === null && child.kill('SIGKILL'));
      const proxy = new ReadTimeoutProxy(port, readTimeoutS * 1000);
      await proxy.start();
      onCleanup(() => proxy.stop());
      const base = `http://127.0.0.1:${port}`;
      let timings: { pingInterval: number; pingTimeout: number } | undefined;
      const viaRouter = `http://127.0.0.1:${proxy.port}`;
      try {
        await waitForHealth(`${base}${healthPath}`, exited, 30_000);
        const ready = await fetch(`${base}/readyz`);
        assert(ready.status === 200, `/readyz → ${ready.status} (database or Redis over TLS unreachable)`);
        timings = await engineTimings(viaRouter);
        const { pingInterval, pingTimeout } = timings;
        assert(
          readTimeoutS * 1000 >= pingInterval + pingTimeout,
          `/socket.io read timeout ${readTimeoutS} s < pingInterval ${pingInterval / 1000} s + pingTimeout ${pingTimeout / 1000} s: long-polls get 504s`,
        );
        await clientsThroughRouter(viaRouter, publicOrigin, opts.session, opts.roomId, pingInterval);
        assert(
          proxy.timeouts === 0,
          `${proxy.timeouts} request(s) cut by the ${readTimeoutS} s read timeout`,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- realtime output ---\n${output.slice(-3000)}`, {
          cause: err,
        });
      }
      child.kill('SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 25_000)),
      ]);
      assert(
        code === 0,
        `after SIGTERM the process ${code === 'timeout' ? 'did not exit in 25 s' : `exited ${code}`}\n${output.slice(-2000)}`,
      );
      assert(timings, 'no Engine.IO timings');
      return { cmd: stage.cmd.join(' '), readTimeoutS, ...timings };
    },
    (r) =>
      `\`${r.cmd}\` as uid ${NOBODY} over a read-only app dir; via a ${r.readTimeoutS} s read-timeout proxy: websocket (cookie, token) and a polling client across two ${r.pingInterval / 1000} s ping intervals (needs ≥ ${(r.pingInterval + r.pingTimeout) / 1000} s); foreign Origin refused; exit 0 on SIGTERM`,
  );
}

async function waitForHealth(url: string, exited: Promise<number | null>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone: number | null | undefined;
  void exited.then((c) => (gone = c ?? -1));
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`realtime exited (${gone}) before answering ${url}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/** The server's heartbeat, from the Engine.IO open packet of a polling handshake. */
async function engineTimings(base: string): Promise<{ pingInterval: number; pingTimeout: number }> {
  const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling`);
  const text = await res.text();
  assert(
    res.status === 200 && text.startsWith('0{'),
    `polling handshake → ${res.status} ${text.slice(0, 200)}`,
  );
  const open = JSON.parse(text.slice(1)) as { pingInterval: number; pingTimeout: number };
  return { pingInterval: open.pingInterval, pingTimeout: open.pingTimeout };
}

function connect(base: string, opts: Parameters<typeof io>[1]): Promise<{ socket: Socket; outcome: string }> {
  const socket = io(base, { reconnection: false, timeout: 10_000, ...opts });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket, outcome: 'connected' }));
    socket.once('connect_error', (err) => resolve({ socket, outcome: err.message }));
  });
}

async function clientsThroughRouter(
  base: string,
  origin: string,
  session: { pair: string; token: string },
  roomId: string,
  pingInterval: number,
): Promise<void> {
  const browserHeaders = { origin, cookie: session.pair };
  const sockets: Socket[] = [];
  try {
    const ws = await connect(base, { transports: ['websocket'], extraHeaders: browserHeaders });
    sockets.push(ws.socket);
    assert(ws.outcome === 'connected', `websocket with the sid cookie refused: ${ws.outcome}`);
    const wsJoin = (await ws.socket.timeout(10_000).emitWithAck('join', { roomId })) as { ok: boolean };
    assert(wsJoin.ok, `websocket join ack ${JSON.stringify(wsJoin)}`);

    const native = await connect(base, { transports: ['websocket'], auth: { token: session.token } });
    sockets.push(native.socket);
    assert(native.outcome === 'connected', `websocket with auth.token refused: ${native.outcome}`);

    // Long-polling only: each GET is held open until the server has something, at the latest its ping.
    const polling = await connect(base, { transports: ['polling'], extraHeaders: browserHeaders });
    sockets.push(polling.socket);
    assert(
      polling.outcome === 'connected',
      `polling handshake with the sid cookie refused: ${polling.outcome}`,
    );
    let disconnected: string | undefined;
    polling.socket.on('disconnect', (reason) => (disconnected = reason));
    // Two pings: the first poll starts right after the handshake and ends before the first
    // ping is due; the poll sent after answering a ping waits a full interval from the pong.
    await new Promise<void>((resolve, reject) => {
      const limit = setTimeout(
        () =>
          reject(
            new Error(
              `no second ping within ${2 * pingInterval + 10_000} ms (disconnected: ${disconnected ?? 'no'})`,
            ),
          ),
        2 * pingInterval + 10_000,
      );
      polling.socket.once('disconnect', (reason) => {
        clearTimeout(limit);
        reject(new Error(`the polling client was disconnected (${reason}) while its GET waited for a ping`));
      });
      let pings = 0;
      polling.socket.io.engine.on('ping', () => {
        if (++pings < 2) return;
        clearTimeout(limit);
        resolve();
      });
    });
    assert(
      !disconnected,
      `the polling client was disconnected (${disconnected}) while its GET waited for the ping`,
    );
    const pollJoin = (await polling.socket.timeout(10_000).emitWithAck('join', { roomId })) as {
      ok: boolean;
    };
    assert(
      pollJoin.ok && !disconnected,
      `polling join after the ping: ${JSON.stringify(pollJoin)} ${disconnected ?? ''}`,
    );

    const foreign = await connect(base, {
      transports: ['websocket'],
      extraHeaders: { origin: 'https://evil.example', cookie: session.pair },
    });
    sockets.push(foreign.socket);
    assert(
      foreign.outcome !== 'connected',
      'a foreign Origin was accepted with the cookie (CORS_ORIGINS not applied)',
    );
  } finally {
    for (const s of sockets) s.close();
  }
}
