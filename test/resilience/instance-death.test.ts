import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './support/cluster.ts';
import { report } from './support/figures.ts';
import { CLEAN_VERDICT, verify, verifyChanges, type LoadClient } from './support/load.ts';
import { percentile, waitUntil } from './support/server-process.ts';

/**
 * Two realtime instances on one Redis, clients spread over both sending steadily with
 * clientMsgId retries; `kill -9` one instance, bring it back, then `kill -9` the other.
 * Every acked message is stored exactly once, seq stays gap-free, and every client that
 * reconnects and catches up with sinceSeq ends with exactly the database's sequence. Clients
 * also edit and react to some of their messages: every acked change is stored, and after
 * catching up by version every client holds each message exactly as the database does.
 */
let cluster: Cluster;
let clients: LoadClient[];
const CLIENTS = 12;
const figures: Record<string, unknown> = {};

const acked = () => clients.reduce((n, c) => n + c.stats.acked.size, 0);
const allConnected = () => clients.every((c) => c.socket?.connected);

beforeAll(async () => {
  cluster = await startCluster({ name: 'death', users: CLIENTS });
  clients = cluster.clients(CLIENTS, 'death');
  // Every third message is then edited and reacted to: changes acked before a kill must survive too.
  for (const c of clients) c.changeEvery = 3;
  await Promise.all(clients.map((c) => c.connect()));
  for (const c of clients) c.run(250);
});

afterAll(() => cluster?.close());

async function killAndRecover(index: number) {
  const victim = cluster.instances[index]!;
  const onVictim = clients.filter((c) => c.at === index).length;
  const seen = clients.map((c) => c.stats.reconnectMs.length);
  const before = acked();
  const killed = await victim.signal('SIGKILL');
  expect(killed.signal).toBe('SIGKILL');
  const reconnectedMs = await waitUntil('every client reconnected', allConnected, 30_000);
  await waitUntil('sending resumed', () => acked() > before + 2 * CLIENTS, 30_000);
  // Per client: from its disconnect to joined and caught up on the other instance.
  const moves = clients.flatMap((c, i) => c.stats.reconnectMs.slice(seen[i]));
  return {
    onVictim,
    allBackMs: reconnectedMs,
    moveP50Ms: percentile(moves, 50),
    moveP99Ms: percentile(moves, 99),
  };
}

describe('instance death', () => {
  it('survives kill -9 of one instance, then of the other', async () => {
    await waitUntil('warm-up', () => acked() >= 5 * CLIENTS, 60_000);
    figures.firstKill = await killAndRecover(0);
    expect(clients.every((c) => c.at === 1)).toBe(true);

    await cluster.instances[0]!.start();
    await waitUntil('traffic on the survivor', () => acked() >= 10 * CLIENTS, 60_000);
    figures.secondKill = await killAndRecover(1);
    expect(clients.every((c) => c.at === 0)).toBe(true);
    expect(cluster.instances[0]!.alive()).toBe(true);
  });

  it('lost and duplicated nothing, and every client holds the database sequence', async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(clients.map((c) => c.catchUp()));
    const verdict = await verify(cluster.db.query, cluster.seeded.roomIds[0]!, clients);
    const changes = await verifyChanges(cluster.db.query, cluster.seeded.roomIds[0]!, clients);
    const reconnects = clients.flatMap((c) => c.stats.reconnectMs);
    Object.assign(figures, {
      clients: CLIENTS,
      verdict,
      changes,
      reconnects: reconnects.length,
      reconnectP50Ms: percentile(reconnects, 50),
      reconnectP99Ms: percentile(reconnects, 99),
      retriedSends: clients.reduce((n, c) => n + c.stats.retried.size, 0),
      errors: Object.fromEntries(
        clients
          .flatMap((c) => [...c.stats.errors])
          .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
      ),
    });
    report('instance-death', figures);
    expect(verdict).toMatchObject(CLEAN_VERDICT);
    expect(verdict.rows).toBe(acked());
    expect(changes.ackedChanges).toBeGreaterThan(CLIENTS);
    expect(changes).toMatchObject({ ackedChangesMissing: 0, clientsStale: 0 });
    expect(reconnects.length).toBeGreaterThanOrEqual(CLIENTS); // each client moved at least once
    expect(cluster.instances[0]!.troubles()).toEqual([]);
  });
});
