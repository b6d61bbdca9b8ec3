import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../core/schemas.ts';
import { startCluster, type Cluster } from './support/cluster.ts';
import { report } from './support/figures.ts';
import { CLEAN_VERDICT, LoadClient, verify } from './support/load.ts';
import { waitUntil } from './support/server-process.ts';

/**
 * Redis dies (SIGKILL) under two loaded instances, stays away, then comes back empty on the
 * same port. Sends keep being persisted and acked throughout (Postgres is the source of
 * truth; rate limits fall back to memory); cross-instance delivery resumes within seconds of
 * Redis returning; catch-up by seq fills whatever live delivery missed. No crash.
 */
let cluster: Cluster;
let clients: LoadClient[];
let probeA: LoadClient;
let probeB: LoadClient;
const CLIENTS = 8;
const OUTAGE_MS = 6_000;
const figures: Record<string, unknown> = {};
const acked = () => clients.reduce((n, c) => n + c.stats.acked.size, 0);

beforeAll(async () => {
  cluster = await startCluster({
    name: 'redis',
    users: CLIENTS + 2,
    // Presence and adapter errors while Redis is away are logged; they must not be fatal.
    expectedTrouble:
      /redis|Redis|ECONNREFUSED|Connection is closed|presence|heartbeat|Stream isn't writeable|enableOfflineQueue/,
  });
  clients = cluster.clients(CLIENTS, 'redis');
  const ua = cluster.seeded.users[CLIENTS]!;
  const ub = cluster.seeded.users[CLIENTS + 1]!;
  probeA = new LoadClient('probeA', ua.token, cluster.seeded.roomIds[0]!, [cluster.urls[0]!], 0);
  probeB = new LoadClient('probeB', ub.token, cluster.seeded.roomIds[0]!, [cluster.urls[1]!], 0);
  await Promise.all([...clients, probeA, probeB].map((c) => c.connect()));
  for (const c of clients) c.run(200);
});

afterAll(() => cluster?.close());

/** Sends from instance A until instance B's probe receives one live; the time it took. */
async function crossInstanceDelivery(label: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let n = 0;
  const received = new Promise<void>((resolve) => {
    const on = (m: Message) => {
      if (m.text.startsWith(`probe ${label}`)) {
        probeB.socket!.off('message', on);
        resolve();
      }
    };
    probeB.socket!.on('message', on);
  });
  let done = false;
  void received.then(() => (done = true));
  while (!done) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`no cross-instance delivery within ${timeoutMs} ms (${label})`);
    await probeA
      .socket!.timeout(3_000)
      .emitWithAck('message', { roomId: probeA.roomId, text: `probe ${label} ${++n}` })
      .catch(() => undefined);
    await Promise.race([received, new Promise((r) => setTimeout(r, 200))]);
  }
  return Date.now() - started;
}

describe('Redis outage and restart', () => {
  it('delivers across instances before the outage (the later checks are not vacuous)', async () => {
    await waitUntil('warm-up', () => acked() >= 4 * CLIENTS, 60_000);
    figures.deliveryBeforeMs = await crossInstanceDelivery('before', 5_000);
  });

  it('keeps persisting and acking sends while Redis is gone, without crashing', async () => {
    const before = acked();
    await cluster.redis.kill();
    const started = Date.now();
    // Readiness tells the load balancer; liveness stays up (a restart would not help).
    const readyz = async (url: string) =>
      (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))?.status;
    figures.readyzDownMs = await waitUntil(
      '/readyz 503 without Redis',
      async () => (await readyz(cluster.urls[0]!)) === 503,
      OUTAGE_MS,
      100,
    );
    expect((await fetch(`${cluster.urls[0]}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - started))));
    figures.ackedDuringOutage = acked() - before;
    figures.outageMs = Date.now() - started;
    expect(acked() - before).toBeGreaterThan(CLIENTS * 5);
    for (const s of cluster.instances) expect(s.alive()).toBe(true);
  });

  it('resumes cross-instance delivery within seconds of Redis returning', async () => {
    await cluster.redis.start();
    const back = Date.now();
    figures.deliveryResumedMs = await crossInstanceDelivery('after', 30_000);
    await waitUntil(
      '/readyz 200 again',
      async () => (await fetch(`${cluster.urls[0]}/readyz`).catch(() => undefined))?.status === 200,
      30_000,
      100,
    );
    figures.readyzUpMs = Date.now() - back;
    expect(figures.deliveryResumedMs).toBeLessThan(10_000);
  });

  it('lost nothing: catch-up by seq gives every client the database sequence', async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all([...clients, probeA, probeB].map((c) => c.catchUp()));
    const verdict = await verify(cluster.db.query, cluster.seeded.roomIds[0]!, [...clients, probeA, probeB]);
    Object.assign(figures, {
      clients: CLIENTS,
      verdict,
      errors: Object.fromEntries(
        clients
          .flatMap((c) => [...c.stats.errors])
          .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
      ),
      troubles: cluster.instances.flatMap((s) => s.troubles()).length,
    });
    report('redis-outage', figures);
    expect(verdict).toMatchObject(CLEAN_VERDICT);
    for (const s of cluster.instances) {
      expect(s.alive()).toBe(true);
      expect(s.troubles().map((l) => l.replace(/"stack":"[^"]*"/g, '').slice(0, 300))).toEqual([]);
    }
  });
});
