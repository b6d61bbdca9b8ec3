import { join } from 'node:path';
import type { Bench, Scenario } from '../lib/context.ts';
import { Fleet } from '../lib/fleet.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import type { ServerUnderTest } from '../lib/servers.ts';

/**
 * A join storm, what every deploy causes: N distinct users, already connected, all send
 * `join` for one room at the same instant (no concurrency limit), and the figure is the
 * time until the last ack. The reference is what the storm cannot go below: the bare
 * Socket.IO storm (the same sockets and joins, no presence, no history) plus N raw keyset
 * page reads issued at once on a pool of `DATABASE_POOL_MAX` connections (the page every
 * joiner gets back). Fresh sockets each rep, so every join is a first arrival.
 */

/** Parley's default pool (core/config.ts DATABASE_POOL_MAX); the bench does not change it. */
const DATABASE_POOL_MAX = 10;
const ROOM = 'storm';
const JOIN_TIMEOUT_MS = 120_000;

async function stormOnce(
  bench: Bench,
  server: ServerUnderTest,
  n: number,
  label: string,
): Promise<{ ms: number; failed: number; errors: Record<string, number> }> {
  const fleet = new Fleet(bench, server, label, bench.clients.slice(0, n));
  try {
    const c = await fleet.connect(100);
    if (c.failed > 0) throw new Error(`storm: ${c.failed} sockets failed to connect to ${server.name}`);
    const profile = bench.cpuProfileDir !== undefined && server === bench.parley && n >= 1000;
    if (profile) await server.child.rpc.call('profileStart');
    const t0 = performance.now();
    const res = await fleet.join(
      Array.from({ length: n }, (_, index) => ({ index, roomId: ROOM })),
      n,
      JOIN_TIMEOUT_MS,
    );
    const ms = performance.now() - t0;
    if (profile) {
      const file = join(bench.cpuProfileDir!, `${label}.cpuprofile`);
      bench.log(`CPU profile of Parley: ${await server.child.rpc.call<string>('profileStop', { file })}`);
    }
    return { ms, failed: res.failed, errors: res.errors };
  } finally {
    await fleet.disconnect();
  }
}

export const storm: Scenario = async (bench) => {
  const out: ResultEntry[] = [];
  const totals: Record<number, { parley: number[]; reference: number[]; bare: number[]; sql: number[] }> = {};
  const failures: Record<number, Record<string, number>> = {};
  for (const n of bench.profile.storm.sizes) {
    totals[n] = { parley: [], reference: [], bare: [], sql: [] };
    failures[n] = {};
    for (let r = 0; r < bench.profile.reps; r++) {
      bench.log(`storm: ${n} distinct users joining one room at once, rep ${r + 1}`);
      const order: ('parley' | 'bare' | 'sql')[] =
        r % 2 === 0 ? ['bare', 'sql', 'parley'] : ['parley', 'sql', 'bare'];
      let parleyMs = Number.NaN;
      let bareMs = Number.NaN;
      let sqlMs = Number.NaN;
      for (const step of order) {
        if (step === 'sql') {
          const res = await bench.historyLoader.rpc.call<{ wallMs: number }>(
            'keysetPages',
            { pgUrl: bench.db.url, roomId: ROOM, pages: n, poolSize: DATABASE_POOL_MAX, limit: 50 },
            120_000,
          );
          sqlMs = res.wallMs;
        } else if (step === 'bare') {
          const res = await stormOnce(bench, bench.baseline, n, `storm-${n}-bare-${r}`);
          bareMs = res.failed === 0 ? res.ms : Number.NaN;
        } else if (bench.parleyRealtime.ok) {
          const res = await stormOnce(bench, bench.parley, n, `storm-${n}-parley-${r}`);
          for (const [k, v] of Object.entries(res.errors)) failures[n]![k] = (failures[n]![k] ?? 0) + v;
          // A storm in which joins failed did not finish: it is not a time.
          parleyMs = res.failed === 0 ? res.ms : Number.NaN;
        }
      }
      totals[n]!.parley.push(parleyMs);
      totals[n]!.bare.push(bareMs);
      totals[n]!.sql.push(sqlMs);
      totals[n]!.reference.push(bareMs + sqlMs);
    }
  }
  const notes = bench.parleyRealtime.ok
    ? undefined
    : `Parley realtime not measured: ${bench.parleyRealtime.reason ?? 'unavailable'}`;
  for (const n of bench.profile.storm.sizes) {
    const t = totals[n]!;
    out.push(
      entry({
        id: `join-storm-${n}`,
        scenario: 'storm',
        metric: `${n.toLocaleString('en-US')} distinct users joining one room at once, time until all acked`,
        unit: 'ms',
        parleyRuns: t.parley,
        referenceName: `bare Socket.IO storm + ${n.toLocaleString('en-US')} raw keyset pages (pool of ${DATABASE_POOL_MAX})`,
        referenceRuns: t.reference,
        ...(n >= 1000
          ? { target: { op: '<=' as const, value: 2, text: '≤ 2× (bare storm + raw pages)' } }
          : {}),
        ...(notes ? { notes } : {}),
        extra: { bareMs: t.bare, keysetPagesMs: t.sql, joinErrors: failures[n] },
      }),
    );
  }
  const sizes = bench.profile.storm.sizes;
  if (sizes.length >= 2) {
    const small = sizes[0]!;
    const large = sizes[sizes.length - 1]!;
    // Linear growth would be large/small; the ratio shows how far from it the storm grows.
    out.push(
      entry({
        id: 'join-storm-growth',
        scenario: 'storm',
        metric: `storm time at ${large.toLocaleString('en-US')} vs ${small.toLocaleString('en-US')} users (linear: ${large / small}×)`,
        unit: 'ms',
        parleyRuns: totals[large]!.parley,
        referenceName: `Parley at ${small.toLocaleString('en-US')} users`,
        referenceRuns: totals[small]!.parley,
        extra: { referenceGrowth: totals[large]!.reference.map((v, i) => v / totals[small]!.reference[i]!) },
      }),
    );
  }
  return out;
};
