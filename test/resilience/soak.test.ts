import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './support/cluster.ts';
import { report } from './support/figures.ts';
import { LoadClient, verify, type Verdict } from './support/load.ts';
import { percentile, waitUntil } from './support/server-process.ts';

/**
 * The bounded soak: two realtime instances on one Redis, hundreds of sockets over several
 * rooms, steady traffic and constant reconnect churn (sockets dropping and coming back on
 * the other instance, catching up by seq). Reports memory growth after warm-up, event-loop
 * lag and errors; passes only with zero lost or duplicated messages in every room.
 *
 * SOAK_SECONDS (default 120), SOAK_SOCKETS (300), SOAK_ROOMS (10), SOAK_SENDERS (50),
 * SOAK_SEND_INTERVAL_MS (1000), SOAK_CHURN_PER_SECOND (6) make it longer or heavier.
 */
const num = (name: string, fallback: number) => Number(process.env[name] || fallback);
const SECONDS = num('SOAK_SECONDS', 120);
const SOCKETS = num('SOAK_SOCKETS', 300);
const ROOMS = num('SOAK_ROOMS', 10);
const SENDERS = num('SOAK_SENDERS', 50);
const INTERVAL_MS = num('SOAK_SEND_INTERVAL_MS', 1000);
const CHURN_PER_SECOND = num('SOAK_CHURN_PER_SECOND', 6);
// Ten tabs a user, below MAX_SOCKETS_PER_USER (20) even while a churned socket reconnects.
const USERS = Math.ceil(SOCKETS / 10);

let cluster: Cluster;
let clients: LoadClient[] = [];
const figures: Record<string, unknown> = {};

interface Sample {
  t: number;
  instance: number;
  heapMb: number;
  rssMb: number;
  lagP99Ms: number;
  lagMaxMs: number;
  sockets: number;
}
const samples: Sample[] = [];

async function sample(t: number): Promise<void> {
  await Promise.all(
    cluster.instances.map(async (s, instance) => {
      const text = await fetch(`${s.url}/metrics`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => r.text(),
        () => '',
      );
      const metric = (name: string) =>
        Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      samples.push({
        t,
        instance,
        heapMb: metric('nodejs_heap_size_used_bytes') / 2 ** 20,
        rssMb: metric('process_resident_memory_bytes') / 2 ** 20,
        lagP99Ms: metric('nodejs_eventloop_lag_p99_seconds') * 1000,
        lagMaxMs: metric('nodejs_eventloop_lag_max_seconds') * 1000,
        sockets: metric('parley_sockets_connected'),
      });
    }),
  );
}

beforeAll(async () => {
  cluster = await startCluster({
    name: 'soak',
    users: USERS,
    rooms: ROOMS,
    env: { DATABASE_POOL_MAX: '10' },
  });
  // Socket i: user i % USERS, room i % ROOMS, instance i % 2; the senders are the first
  // SENDERS sockets, so no user sends from more than a couple of tabs (per-user limits hold).
  clients = Array.from({ length: SOCKETS }, (_, i) => {
    const u = cluster.seeded.users[i % USERS]!;
    return new LoadClient(`soak${i}`, u.token, cluster.seeded.roomIds[i % ROOMS]!, cluster.urls, i);
  });
  // Connect in small batches: a thundering herd at start is a different test.
  for (let i = 0; i < clients.length; i += 25)
    await Promise.all(clients.slice(i, i + 25).map((c) => c.connect()));
}, 600_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.close();
});

describe('soak', () => {
  it(`runs ${SECONDS} s with ${SOCKETS} sockets, ${SENDERS} senders and churn, staying within bounds`, async () => {
    const senders = clients.slice(0, SENDERS);
    for (const s of senders) s.run(INTERVAL_MS);
    const started = Date.now();
    let churned = 0;
    let tick = 0;
    const listeners = clients.filter((c) => !senders.includes(c));
    while (Date.now() - started < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      tick++;
      // Churn: drop a few listening sockets; they reconnect (to the other instance) and catch up.
      for (let k = 0; k < CHURN_PER_SECOND; k++) {
        const victim = listeners[(tick * CHURN_PER_SECOND + k) % listeners.length];
        if (victim?.socket?.connected) {
          victim.socket.disconnect();
          churned++;
        }
      }
      if (tick % 5 === 0) await sample(Date.now() - started);
    }
    await Promise.all(senders.map((s) => s.stop()));
    await waitUntil(
      'every socket connected again',
      () => clients.every((c) => c.socket?.connected),
      60_000,
      200,
    );
    await sample(Date.now() - started);

    const verdicts: Verdict[] = [];
    for (const roomId of cluster.seeded.roomIds) {
      const inRoom = clients.filter((c) => c.roomId === roomId);
      await Promise.all(inRoom.map((c) => c.catchUp()));
      verdicts.push(await verify(cluster.db.query, roomId, inRoom));
    }
    const acked = senders.reduce((n, c) => n + c.stats.acked.size, 0);
    const warmEnd = SECONDS * 250;
    const perInstance = cluster.instances.map((_, i) => {
      const mine = samples.filter((s) => s.instance === i);
      const warm = mine.filter((s) => s.t >= warmEnd);
      // The heap's floor (its lowest sample) approximates the live heap after a collection;
      // compare the floor of the first half after warm-up with that of the second half.
      const half = Math.floor(warm.length / 2);
      const floorFirst = Math.min(...warm.slice(0, half).map((s) => s.heapMb));
      const floorLast = Math.min(...warm.slice(half).map((s) => s.heapMb));
      // Least-squares slope of heap over time after warm-up: the trend, less at the mercy of when GC ran.
      const n = warm.length;
      const mt = warm.reduce((a, s) => a + s.t, 0) / n;
      const mh = warm.reduce((a, s) => a + s.heapMb, 0) / n;
      const slope =
        warm.reduce((a, s) => a + (s.t - mt) * (s.heapMb - mh), 0) /
        Math.max(
          1e-9,
          warm.reduce((a, s) => a + (s.t - mt) ** 2, 0),
        );
      return {
        heapSlopeMbPerMin: +(slope * 60_000).toFixed(2),
        heapFloorAfterWarmUpMb: +floorFirst.toFixed(1),
        heapFloorAtEndMb: +floorLast.toFixed(1),
        heapGrowthAfterWarmUpMb: +(floorLast - floorFirst).toFixed(1),
        rssMaxMb: +Math.max(...mine.map((s) => s.rssMb)).toFixed(0),
        eventLoopLagP99MaxMs: +Math.max(...mine.map((s) => s.lagP99Ms)).toFixed(1),
        eventLoopLagMaxMs: +Math.max(...mine.map((s) => s.lagMaxMs)).toFixed(1),
      };
    });
    const reconnects = clients.flatMap((c) => c.stats.reconnectMs);
    const total = verdicts.reduce(
      (t, v) => ({
        rows: t.rows + v.rows,
        notGapFree: t.notGapFree + (v.gapFree ? 0 : 1),
        duplicateClientMsgIds: t.duplicateClientMsgIds + v.duplicateClientMsgIds,
        ackedMissing: t.ackedMissing + v.ackedMissing,
        ackedWrongSeq: t.ackedWrongSeq + v.ackedWrongSeq,
        unacked: t.unacked + v.unacked,
        clientsBehind: t.clientsBehind + v.clientsBehind,
        liveDuplicates: t.liveDuplicates + v.liveDuplicates,
      }),
      {
        rows: 0,
        notGapFree: 0,
        duplicateClientMsgIds: 0,
        ackedMissing: 0,
        ackedWrongSeq: 0,
        unacked: 0,
        clientsBehind: 0,
        liveDuplicates: 0,
      },
    );
    Object.assign(figures, {
      seconds: SECONDS,
      sockets: clients.length,
      rooms: ROOMS,
      senders: senders.length,
      messages: total.rows,
      messagesPerSecond: +(total.rows / SECONDS).toFixed(1),
      deliveries: clients.reduce((n, c) => n + c.seen.size, 0),
      churnedSockets: churned,
      reconnectP50Ms: percentile(reconnects, 50),
      reconnectP99Ms: percentile(reconnects, 99),
      errors: Object.fromEntries(
        clients
          .flatMap((c) => [...c.stats.errors])
          .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
      ),
      verdict: total,
      instances: perInstance,
      serverTroubles: cluster.instances.flatMap((s) => s.troubles()).length,
    });
    report('soak', figures);

    expect(total).toMatchObject({
      notGapFree: 0,
      duplicateClientMsgIds: 0,
      ackedMissing: 0,
      ackedWrongSeq: 0,
      unacked: 0,
      clientsBehind: 0,
      liveDuplicates: 0,
    });
    expect(total.rows).toBe(acked);
    expect(churned).toBeGreaterThan(0);
    for (const p of perInstance) {
      // Generous bounds for a shared 2-core machine; the figures themselves go in docs/reliability.md.
      expect(p.heapGrowthAfterWarmUpMb).toBeLessThan(64);
      expect(p.eventLoopLagP99MaxMs).toBeLessThan(1_000);
    }
    expect(cluster.instances.flatMap((s) => s.troubles().map((l) => l.slice(0, 300)))).toEqual([]);
  });
});
