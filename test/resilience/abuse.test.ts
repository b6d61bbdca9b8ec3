import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDatabase, type ScratchDatabase } from './support/database.ts';
import { report } from './support/figures.ts';
import { seed, type Seeded } from './support/load.ts';
import { privateRedis, type PrivateRedis } from './support/redis-server.ts';
import { percentile, ROOT, serverProcess, type ServerProcess } from './support/server-process.ts';

/**
 * One authenticated socket floods the server with one event kind at a time (typing, join,
 * message, leave, read, an unknown name: 100 events every 10 ms, each with an ack, from a process
 * of its own) while observer users send messages: the observers' ack latency during each
 * flood is compared with their quiet figure (target: p50 and p99 within 2x), and so is the
 * server's event-loop delay. Then a flooder under the default settings is disconnected, with
 * one log line; and 300 concurrent logins are refused beyond the throttle's limit.
 */
const FLOOD_MS = 5_000;
const QUIET_MS = 5_000;
/**
 * Under the defaults a flooder is cut once, then refused for the reconnect cool-down: one
 * cycle of the attack lasts the cool-down, and a flood is observed for one whole cycle (a
 * shorter window over-weights the cut, which a returning attacker earns once per cycle).
 */
const COOLDOWN_SECONDS = 10;
const CYCLE_MS = COOLDOWN_SECONDS * 1_000;
const OBSERVE_EVERY_MS = 60;
/**
 * Three observers (users of their own, each within its message budget), staggered: ~225
 * sends per 5 s flood (~475 per cool-down cycle) and ~250 per quiet phase, so that p99 is not
 * simply the slowest single send (with one observer it was: ~70 samples).
 */
const OBSERVERS = 3;
const DEFAULT_FLOOD_ORDER = ['typing', 'join', 'message', 'leave', 'read', 'unknown'];
/**
 * `ABUSE_FLOOD_ORDER=join,typing,...` floods in another order (the same six kinds): the first
 * flood of a server is the first use of the refusal and cut paths, so whether a kind's tail
 * is its own or its position's is checked by moving it (docs/reliability.md §9).
 */
const FLOOD_KINDS = floodOrder(process.env.ABUSE_FLOOD_ORDER);

function floodOrder(value: string | undefined): string[] {
  if (!value) return DEFAULT_FLOOD_ORDER;
  const kinds = value.split(',').map((k) => k.trim());
  const same = [...kinds].sort().join() === [...DEFAULT_FLOOD_ORDER].sort().join();
  if (!same) throw new Error(`ABUSE_FLOOD_ORDER must order exactly ${DEFAULT_FLOOD_ORDER.join(', ')}`);
  return kinds;
}
/** The observers' users: every seeded user but the flooders. */
const observerUsers = () => seeded.users.slice(0, OBSERVERS + 1).filter((_, i) => i !== 1);

let db: ScratchDatabase;
let redis: PrivateRedis;
let seeded: Seeded;
let server: ServerProcess;

beforeAll(async () => {
  db = await scratchDatabase('abuse');
  redis = await privateRedis();
  // users[1] floods (and, under the defaults, one user per event kind after OBSERVERS + 1:
  // each comes back into a reconnect cool-down of its own); users[0] and [2..OBSERVERS] observe.
  seeded = await seed(db.url(), OBSERVERS + 1 + FLOOD_KINDS.length, 1, 'abuse');
  server = await serverProcess({
    name: 'abuse',
    env: {
      DATABASE_URL: db.url(),
      REDIS_URL: redis.url,
      // The flood must last the whole measurement: the cost of refusing, not of disconnecting.
      RATE_LIMIT_DISCONNECT_AFTER_REFUSALS: '0',
      // The observer sends about 16 a second; a message flood is still refused 99.6%.
      RATE_LIMIT_MESSAGE_PER_SECOND: '20',
      RATE_LIMIT_MESSAGE_PER_10_SECONDS: '200',
    },
  });
});

afterAll(async () => {
  await server?.stop();
  await redis?.stop();
  await seeded?.close();
  await db?.drop();
});

const connect = (token: string, url = server.url): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });

/** Sends one message at a time every OBSERVE_EVERY_MS for `ms`; returns each ack's latency. */
async function observe(
  socket: Socket,
  roomId: string,
  ms: number,
): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) {
    const started = performance.now();
    const ack = (await socket
      .timeout(30_000)
      .emitWithAck('message', { roomId, text: `observer ${n++}` })) as { ok: boolean };
    latencies.push(performance.now() - started);
    if (!ack.ok) errors++;
    await new Promise((r) => setTimeout(r, Math.max(0, OBSERVE_EVERY_MS - (performance.now() - started))));
  }
  return { latencies, errors };
}

/** Each observer sends every OBSERVE_EVERY_MS, the observers evenly offset from each other. */
async function observeAll(
  sockets: Socket[],
  roomId: string,
  ms: number,
): Promise<{ latencies: number[]; errors: number }> {
  const each = await Promise.all(
    sockets.map(async (socket, i) => {
      const offset = (i * OBSERVE_EVERY_MS) / sockets.length;
      await new Promise((r) => setTimeout(r, offset));
      return observe(socket, roomId, ms - offset);
    }),
  );
  return {
    latencies: each.flatMap((e) => e.latencies),
    errors: each.reduce((n, e) => n + e.errors, 0),
  };
}

/**
 * The server's event-loop delay since the previous call, in ms (prom-client's
 * monitorEventLoopDelay at a 10 ms resolution, reset on every scrape; the figures include
 * the 10 ms interval itself).
 */
async function loopDelay(url: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) =>
    +(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]) * 1000).toFixed(1);
  return { p99: read('nodejs_eventloop_lag_p99_seconds'), max: read('nodejs_eventloop_lag_max_seconds') };
}

function flood(url: string, token: string, roomId: string, kind: string, ms: number, reconnect = false) {
  // At the lowest CPU priority: a real flooder spends its own machine's CPU, not the
  // server's; on this 2-core host an unprioritised one takes a core from the server and the
  // observer, and the observer's tail then measures the host, not the server.
  const child = spawn(
    'nice',
    [
      '-n',
      '19',
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'test/resilience/support/flooder.ts'),
      url,
      token,
      roomId,
      kind,
      String(ms),
      '100',
      '10',
      reconnect ? 'reconnect' : 'once',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  let onStart: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('"started":true')) onStart();
  });
  const done = new Promise<{
    sent: number;
    acks: Record<string, number>;
    disconnect: string | null;
    disconnects: number;
    connections: number;
    refusedHandshakes: Record<string, number>;
    maxRetryAfterMs: number;
  }>((resolve, reject) =>
    child.once('exit', () => {
      onStart();
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!));
      } catch {
        reject(new Error(`flooder printed: ${out}`));
      }
    }),
  );
  return { started, done };
}

/** CPU time (user + system) the server process has used so far, in ms (Linux /proc). */
const serverCpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

const summary = (xs: number[]) => ({
  p50: +percentile(xs, 50).toFixed(1),
  p99: +percentile(xs, 99).toFixed(1),
  // Reported beside p99, so that a single stall is never hidden by the percentile.
  max: +Math.max(...xs).toFixed(1),
  n: xs.length,
});

describe('socket floods', () => {
  it('keeps the observer near its quiet latency while one socket floods each event kind', async () => {
    const flooderUser = seeded.users[1]!;
    const roomId = seeded.roomIds[0]!;
    const observers = await Promise.all(observerUsers().map((u) => connect(u.token)));
    for (const o of observers) await o.timeout(10_000).emitWithAck('join', { roomId });
    await observeAll(observers, roomId, 1_000); // warm-up: connections, JIT
    const figures: Record<string, unknown> = { loadAverageBefore: loadavg()[0]!.toFixed(1) };
    const problems: string[] = [];
    const quietAll: number[] = [];
    for (const kind of FLOOD_KINDS) {
      // Quiet right before each flood: the machine's load drifts (other suites share it).
      await loopDelay(server.url);
      const quietLatencies = (await observeAll(observers, roomId, QUIET_MS)).latencies;
      const quietLoop = await loopDelay(server.url);
      quietAll.push(...quietLatencies);
      const quiet = summary(quietLatencies);
      const flooding = flood(server.url, flooderUser.token, roomId, kind, FLOOD_MS);
      await flooding.started;
      const cpuBefore = serverCpuMs(server.pid);
      await loopDelay(server.url);
      const during = await observeAll(observers, roomId, FLOOD_MS - 500);
      const floodLoop = await loopDelay(server.url);
      const result = await flooding.done;
      const cpuMs = serverCpuMs(server.pid) - cpuBefore;
      const s = summary(during.latencies);
      // Of what was answered (a paused connection's backlog is still in flight when it stops).
      const answered = Object.values(result.acks).reduce((a, b) => a + b, 0);
      figures[kind] = {
        quiet,
        flood: s,
        ratio: { p50: +(s.p50 / quiet.p50).toFixed(2), p99: +(s.p99 / quiet.p99).toFixed(2) },
        serverLoopDelayMs: { quiet: quietLoop, flood: floodLoop },
        flooderSent: result.sent,
        flooderAcks: result.acks,
        observerErrors: during.errors,
        // Everything the server did meanwhile (the observer's sends too), per flood event answered.
        serverCpuMs: cpuMs,
        serverCpuUsPerFloodEvent: +((cpuMs * 1000) / Math.max(1, answered)).toFixed(1),
      };
      if (during.errors > 0) problems.push(`${kind}: observer got ${during.errors} error acks`);
      if (result.sent < 10_000) problems.push(`${kind}: the flooder only sent ${result.sent}`);
      if (answered < 1_000) problems.push(`${kind}: only ${answered} flood events were answered`);
      if ((result.acks.rate_limited ?? 0) < answered * 0.9)
        problems.push(`${kind}: fewer than 90% refused: ${JSON.stringify(result.acks)}`);
      // Bounds that hold on a shared, overloaded 2-core machine yet catch the stall this
      // guards against (seconds per send); the figures are compared with the 2x target in
      // docs/reliability.md.
      if (s.p50 > 3 * quiet.p50 + 25) problems.push(`${kind}: p50 ${s.p50} ms vs quiet ${quiet.p50} ms`);
      if (s.p99 > Math.max(2_000, 4 * quiet.p99))
        problems.push(`${kind}: p99 ${s.p99} ms vs quiet ${quiet.p99} ms`);
    }
    for (const o of observers) o.close();
    figures.loadAverageAfter = loadavg()[0]!.toFixed(1);
    report('socket-flood', { quietOverall: summary(quietAll), ...figures });
    expect(problems).toEqual([]);
    expect(server.alive()).toBe(true);
    expect(server.troubles()).toEqual([]);
  });

  it('under the default settings, keeps the observers within 2x while a flooder that reconnects at once floods each event kind', async () => {
    // What users run: the budget refuses, and a connection that keeps sending far over it is
    // cut (RATE_LIMIT_DISCONNECT_AFTER_REFUSALS); the attacker comes straight back each time
    // and is refused by the reconnect cool-down (RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS).
    const defaults = await serverProcess({
      name: 'abuse-defaults-reconnecting',
      env: {
        DATABASE_URL: db.url(),
        REDIS_URL: redis.url,
        RATE_LIMIT_MESSAGE_PER_SECOND: '20',
        RATE_LIMIT_MESSAGE_PER_10_SECONDS: '200',
        RATE_LIMIT_RECONNECT_COOLDOWN_SECONDS: String(COOLDOWN_SECONDS), // the default, named
      },
      expectedTrouble: /kept sending far over its event budget/,
    });
    try {
      const roomId = seeded.roomIds[0]!;
      const observers = await Promise.all(observerUsers().map((u) => connect(u.token, defaults.url)));
      for (const o of observers) await o.timeout(10_000).emitWithAck('join', { roomId });
      await observeAll(observers, roomId, 1_000);
      const figures: Record<string, unknown> = { loadAverageBefore: loadavg()[0]!.toFixed(1) };
      const problems: string[] = [];
      for (const [k, kind] of FLOOD_KINDS.entries()) {
        const flooderUser = seeded.users[OBSERVERS + 1 + k]!;
        const quiet = summary((await observeAll(observers, roomId, QUIET_MS)).latencies);
        const flooding = flood(defaults.url, flooderUser.token, roomId, kind, CYCLE_MS, true);
        await flooding.started;
        const cpuBefore = serverCpuMs(defaults.pid);
        const during = await observeAll(observers, roomId, CYCLE_MS - 500);
        const result = await flooding.done;
        // Everything the server did meanwhile (the observers' sends too): what the returns cost.
        const cpuMs = serverCpuMs(defaults.pid) - cpuBefore;
        const s = summary(during.latencies);
        const ratio = { p50: +(s.p50 / quiet.p50).toFixed(2), p99: +(s.p99 / quiet.p99).toFixed(2) };
        figures[kind] = {
          quiet,
          flood: s,
          ratio,
          flooderSent: result.sent,
          flooderAcks: result.acks,
          connectionsCut: result.disconnects,
          connections: result.connections,
          refusedHandshakes: result.refusedHandshakes,
          maxRetryAfterMs: result.maxRetryAfterMs,
          observerErrors: during.errors,
          serverCpuMs: cpuMs,
        };
        if (during.errors > 0) problems.push(`${kind}: observer got ${during.errors} error acks`);
        // Not vacuous: the flooder was cut, came back at once (every 50 ms when refused) and
        // was refused by the reconnect cool-down (10 s by default: the rest of this flood).
        const refused = result.refusedHandshakes.rate_limited ?? 0;
        if (result.disconnects !== 1) problems.push(`${kind}: ${result.disconnects} connections cut, not 1`);
        if (refused < 20) problems.push(`${kind}: only ${refused} handshakes refused`);
        if (result.maxRetryAfterMs < 1 || result.maxRetryAfterMs > 10_000)
          problems.push(`${kind}: retryAfterMs ${result.maxRetryAfterMs}`);
        if (s.p50 > 3 * quiet.p50 + 25) problems.push(`${kind}: p50 ${s.p50} ms vs quiet ${quiet.p50} ms`);
        if (s.p99 > Math.max(2_000, 4 * quiet.p99))
          problems.push(`${kind}: p99 ${s.p99} ms vs quiet ${quiet.p99} ms`);
      }
      for (const o of observers) o.close();
      figures.loadAverageAfter = loadavg()[0]!.toFixed(1);
      report('socket-flood-defaults-reconnecting', figures);
      expect(problems).toEqual([]);
      expect(defaults.alive()).toBe(true);
    } finally {
      await defaults.stop();
    }
  });

  it('disconnects a flooder under the default settings, with one log line and a metric', async () => {
    const defaults = await serverProcess({
      name: 'abuse-defaults',
      env: { DATABASE_URL: db.url(), REDIS_URL: redis.url, LOG_LEVEL: 'info' },
    });
    try {
      const result = await flood(defaults.url, seeded.users[1]!.token, seeded.roomIds[0]!, 'typing', 2_000)
        .done;
      const metrics = await (await fetch(`${defaults.url}/metrics`)).text();
      const disconnectLines = defaults.lines.filter((l) =>
        l.includes('kept sending far over its event budget'),
      );
      const refusalLines = defaults.lines.filter((l) => l.includes('socket events refused'));
      report('socket-flood-disconnect', {
        flooderSent: result.sent,
        acks: result.acks,
        disconnect: result.disconnect,
        disconnectLines: disconnectLines.length,
        refusalLogLines: refusalLines.length,
      });
      expect(result.disconnect).toBe('io server disconnect');
      expect(metrics).toMatch(/^parley_socket_budget_disconnects_total 1$/m);
      expect(disconnectLines).toHaveLength(1);
      // Sampled: not one line per refused event.
      expect(refusalLines.length).toBeLessThanOrEqual(2);
      expect(result.acks.rate_limited ?? 0).toBeGreaterThan(50);
    } finally {
      await defaults.stop();
    }
  });
});

describe('login burst', () => {
  it('evaluates at most the limit of 300 concurrent logins for one username and of 300 usernames from one address', async () => {
    const register = await fetch(`${server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'burst_victim', password: 'the right password' }),
    });
    expect(register.status).toBe(201);
    const login = (username: string, password: string) =>
      fetch(`${server.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      }).then(async (r) => ({
        status: r.status,
        retryAfter: r.headers.get('retry-after'),
        cookie: r.headers.get('set-cookie'),
      }));
    // One username: 299 wrong passwords and the right one last, all at once.
    const one = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        login('burst_victim', i === 299 ? 'the right password' : `wrong ${i}`),
      ),
    );
    const count = (xs: { status: number }[], status: number) => xs.filter((x) => x.status === status).length;
    // Many usernames from one address (all from 127.0.0.1): the per-address limit.
    const many = await Promise.all(
      Array.from({ length: 300 }, (_, i) => login(`nobody_${i}`, 'wrong password')),
    );
    const figures = {
      oneUsername: {
        evaluated401: count(one, 401),
        refused429: count(one, 429),
        ok200: count(one, 200),
        limit: 10,
      },
      oneAddress: { evaluated401: count(many, 401), refused429: count(many, 429), limit: 100 },
    };
    report('login-burst', figures);
    expect(figures.oneUsername.evaluated401).toBeLessThanOrEqual(10);
    expect(figures.oneUsername.ok200).toBe(0);
    expect(figures.oneUsername.refused429).toBe(300 - figures.oneUsername.evaluated401);
    expect(
      one
        .filter((r) => r.status === 429)
        .every((r) => /^[1-9]\d*$/.test(r.retryAfter ?? '') && r.cookie === null),
    ).toBe(true);
    // The address already spent up to 10 on the first burst.
    expect(figures.oneAddress.evaluated401 + figures.oneUsername.evaluated401).toBeLessThanOrEqual(100);
    expect(figures.oneAddress.refused429).toBe(300 - figures.oneAddress.evaluated401);
  });
});
