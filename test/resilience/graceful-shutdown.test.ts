import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './support/cluster.ts';
import { report } from './support/figures.ts';
import { CLEAN_VERDICT, LoadClient, verify } from './support/load.ts';
import { percentile, serverProcess, waitUntil, type ServerProcess } from './support/server-process.ts';

/**
 * SIGTERM to an instance under load: it stops accepting, finishes what it accepted, and exits
 * 0 within SHUTDOWN_TIMEOUT_MS; its clients move to the other instance and nothing acked is
 * lost. Then the all-in-one server (REST + realtime in one process) under socket and REST
 * load: SIGTERM, exit 0, every REST request answered, and after it comes back, nothing lost.
 */
let cluster: Cluster;
let clients: LoadClient[];
const CLIENTS = 12;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const figures: Record<string, unknown> = {};
const acked = () => clients.reduce((n, c) => n + c.stats.acked.size, 0);

beforeAll(async () => {
  cluster = await startCluster({
    name: 'sigterm',
    users: CLIENTS,
    rooms: 2,
    env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) },
    // Sends refused while draining are logged (at error level) by the realtime tier.
    expectedTrouble: /Server is shutting down/,
  });
  clients = cluster.clients(CLIENTS, 'term');
  await Promise.all(clients.map((c) => c.connect()));
  for (const c of clients) c.run(150);
});

afterAll(() => cluster?.close());

describe('graceful shutdown under load', () => {
  it('exits 0 within its deadline on SIGTERM; its clients move to the other instance', async () => {
    await waitUntil('warm-up', () => acked() >= 5 * CLIENTS, 60_000);
    const before = acked();
    const exit = await cluster.instances[0]!.signal('SIGTERM');
    figures.exit = exit;
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    await waitUntil(
      'every client on the survivor',
      () => clients.every((c) => c.socket?.connected && c.at === 1),
      30_000,
    );
    await waitUntil('sending resumed', () => acked() > before + 2 * CLIENTS, 30_000);
  });

  it('lost nothing acked, duplicated nothing, and every client caught up', async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(clients.map((c) => c.catchUp()));
    const verdict = await verify(cluster.db.query, cluster.seeded.roomIds[0]!, clients);
    const reconnects = clients.flatMap((c) => c.stats.reconnectMs);
    Object.assign(figures, {
      clients: CLIENTS,
      verdict,
      reconnectP50Ms: percentile(reconnects, 50),
      reconnectP99Ms: percentile(reconnects, 99),
      errors: Object.fromEntries(
        clients
          .flatMap((c) => [...c.stats.errors])
          .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
      ),
    });
    report('graceful-shutdown', figures);
    expect(verdict).toMatchObject(CLEAN_VERDICT);
    expect(verdict.rows).toBe(acked());
    expect(cluster.instances[0]!.troubles()).toEqual([]);
    expect(cluster.instances[1]!.troubles()).toEqual([]);
  });
});

describe('graceful shutdown of the all-in-one server under load', () => {
  let server: ServerProcess;
  let single: LoadClient[] = [];

  afterAll(async () => {
    for (const c of single) c.close();
    await server?.stop();
  });

  it('answers in-flight REST and sends, exits 0 in time, and loses nothing across the restart', async () => {
    server = await serverProcess({
      name: 'sigterm-all-in-one',
      env: { DATABASE_URL: cluster.db.url(), SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) },
      expectedTrouble: /Server is shutting down/,
    });
    const roomId = cluster.seeded.roomIds[1]!;
    single = cluster.seeded.users
      .slice(0, 6)
      .map((u, i) => new LoadClient(`aio${i}`, u.token, roomId, [server.url], 0));
    await Promise.all(single.map((c) => c.connect()));
    for (const c of single) c.run(150);
    const singleAcked = () => single.reduce((n, c) => n + c.stats.acked.size, 0);
    await waitUntil('warm-up', () => singleAcked() >= 30, 60_000);

    // REST traffic that is in flight when the signal lands.
    const token = cluster.seeded.users[0]!.token;
    let restOk = 0;
    let restRefused = 0;
    const restFailures: Record<string, number> = {};
    let polling = true;
    const poll = (async () => {
      while (polling) {
        // A new connection per request (no keep-alive): a reset then means an accepted request
        // was cut off, not the usual race of a request sent on an idle connection being closed.
        const outcome = await new Promise<number | string>((resolve) => {
          const req = http.get(
            `${server.url}/api/messages?roomId=${roomId}&limit=100`,
            { agent: false, headers: { authorization: `Bearer ${token}` } },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
              res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
            },
          );
          req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        });
        if (typeof outcome === 'string') {
          restFailures[outcome] = (restFailures[outcome] ?? 0) + 1;
          // Refused: the listener is closed, which is what "stop accepting" looks like.
          if (outcome === 'ECONNREFUSED') break;
        } else if (outcome === 200) restOk++;
        else restRefused++;
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const exit = await server.signal('SIGTERM');
    polling = false;
    await poll;
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS);

    // The new version comes up on the same port; clients reconnect, retry, catch up.
    await server.start();
    await Promise.all(single.map((c) => c.stop()));
    await Promise.all(single.map((c) => c.catchUp()));
    const verdict = await verify(cluster.db.query, roomId, single);
    report('graceful-shutdown-all-in-one', { exit, restOk, restRefused, restFailures, verdict });
    expect(verdict).toMatchObject(CLEAN_VERDICT);
    expect(restOk).toBeGreaterThan(0);
    // A request is refused a connection or answered; none is cut off mid-way. One exception
    // the server cannot prevent: a connection the kernel completed but the process had not
    // accepted yet when the listener closed is reset by the kernel, and looks the same from
    // here. The poll has one request in flight, so that is at most one reset, the last
    // failure before the refusals. That the server answers every connection it accepted
    // (the race Node's own close() has) is shown deterministically in
    // core/http/connection-drain.test.ts.
    expect(Object.keys(restFailures).filter((f) => f !== 'ECONNREFUSED' && f !== 'ECONNRESET')).toEqual([]);
    expect(restFailures.ECONNRESET ?? 0).toBeLessThanOrEqual(1);
    expect(server.troubles()).toEqual([]);
  });
});
