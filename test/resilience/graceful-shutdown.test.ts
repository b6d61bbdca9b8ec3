import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './support/cluster.ts';
import { report } from './support/figures.ts';
import { verify, type LoadClient } from './support/load.ts';
import { percentile, waitUntil } from './support/server-process.ts';

/**
 * SIGTERM to an instance under load: it stops accepting, finishes what it accepted, and exits
 * 0 within SHUTDOWN_TIMEOUT_MS; its clients move to the other instance and nothing acked is
 * lost.
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
    await waitUntil('every client on the survivor', () => clients.every((c) => c.socket?.connected && c.at === 1), 30_000);
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
        clients.flatMap((c) => [...c.stats.errors]).reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
      ),
    });
    report('graceful-shutdown', figures);
    expect(verdict).toMatchObject({ gapFree: true, duplicateClientMsgIds: 0, ackedMissing: 0, ackedWrongSeq: 0, unacked: 0, clientsBehind: 0, liveDuplicates: 0 });
    expect(verdict.rows).toBe(acked());
    expect(cluster.instances[0]!.troubles()).toEqual([]);
    expect(cluster.instances[1]!.troubles()).toEqual([]);
  });
});
