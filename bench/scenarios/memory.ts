import { setTimeout as sleep } from 'node:timers/promises';
import type { Scenario } from '../lib/context.ts';
import { Fleet } from '../lib/fleet.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import type { ServerUnderTest } from '../lib/servers.ts';

/**
 * Memory per idle connection: a fresh server, its heap and RSS after a full GC, then again
 * with N idle sockets (authenticated, in Parley's case), divided by N. Fresh processes,
 * because RSS does not shrink back after sockets leave; each warmed up by 100 sockets that
 * connect and leave before the first reading.
 */
const SETTLE_MS = 3_000;

export const memory: Scenario = async (bench) => {
  const sizes = bench.profile.memory.sockets;
  const heap: Record<string, Record<number, number[]>> = { parley: {}, baseline: {} };
  const rss: Record<string, Record<number, number[]>> = { parley: {}, baseline: {} };
  const connectMs: Record<string, Record<number, number[]>> = { parley: {}, baseline: {} };
  // Each rep's heap per socket by V8 space, so a rep that reads high says where (compiled
  // code is the JIT's one-time cost; old_space is what connections hold).
  const bySpace: Record<string, Record<number, Record<string, number>[]>> = { parley: {}, baseline: {} };
  for (const name of ['parley', 'baseline'])
    for (const n of sizes) {
      heap[name]![n] = [];
      rss[name]![n] = [];
      connectMs[name]![n] = [];
      bySpace[name]![n] = [];
    }
  for (let r = 0; r < bench.profile.memory.reps; r++) {
    const names: ('parley' | 'baseline')[] = r % 2 === 0 ? ['baseline', 'parley'] : ['parley', 'baseline'];
    for (const name of names) {
      if (name === 'parley' && !bench.parleyRealtime.ok) {
        for (const n of sizes) {
          heap.parley![n]!.push(Number.NaN);
          rss.parley![n]!.push(Number.NaN);
        }
        continue;
      }
      bench.log(`memory: ${name}, rep ${r + 1}`);
      const server: ServerUnderTest =
        name === 'parley' ? await bench.startParley() : await bench.startBaseline();
      const fleets: Fleet[] = [];
      try {
        // One-time costs (pool connections, compiled code, caches) are not per connection:
        // a short warm-up pays them before the reading both servers are measured from.
        const warmup = new Fleet(bench, server, `mem-${name}-${r}-warmup`, bench.clients.slice(0, 100));
        await warmup.connect(100);
        await warmup.disconnect();
        // Parley coalesces arrivals' and departures' announcements (up to 2 s) and flushes
        // read markers each second: a reading taken meanwhile counts work in flight, which
        // made heap per socket read below the baseline's. Both servers wait alike.
        await sleep(SETTLE_MS);
        const m0 = await server.settledMemory();
        let held = 0;
        for (const n of sizes) {
          const fleet = new Fleet(bench, server, `mem-${name}-${r}-${n}`, bench.clients.slice(held, n));
          fleets.push(fleet);
          const c = await fleet.connect(100);
          if (c.failed > 0)
            throw new Error(`memory: ${c.failed} sockets failed on ${name}: ${JSON.stringify(c.errors)}`);
          connectMs[name]![n]!.push(c.ms);
          held = n;
          await sleep(SETTLE_MS);
          const m = await server.settledMemory();
          heap[name]![n]!.push((m.heapUsed - m0.heapUsed) / n);
          rss[name]![n]!.push((m.rss - m0.rss) / n);
          bySpace[name]![n]!.push(
            Object.fromEntries(
              Object.entries(m.spaces).map(([k, v]) => [k, Math.round((v - (m0.spaces[k] ?? 0)) / n)]),
            ),
          );
        }
      } finally {
        await Promise.all(fleets.map((f) => f.disconnect()));
        await server.stop();
      }
    }
  }
  const out: ResultEntry[] = [];
  const notes = bench.parleyRealtime.ok
    ? undefined
    : `Parley realtime not measured: ${bench.parleyRealtime.reason}`;
  for (const n of sizes) {
    for (const [kind, figures] of [
      ['heap', heap],
      ['rss', rss],
    ] as const) {
      out.push(
        entry({
          id: `memory-${n}-${kind}`,
          scenario: 'memory',
          metric: `${kind === 'heap' ? 'heap' : 'RSS'} per idle authenticated connection, ${n} sockets`,
          unit: 'bytes',
          parleyRuns: figures.parley![n]!,
          referenceName: 'bare Socket.IO',
          referenceRuns: figures.baseline![n]!,
          target:
            kind === 'heap'
              ? { op: '<=', value: 1.2, text: '≤ 1.2× bare Socket.IO' }
              : { op: '<=', value: 1.5, text: '≤ 1.5× bare Socket.IO' },
          // A negative or zero cost per socket cannot be true (default validity): invalid. So
          // is a heap per socket below the baseline's: Parley's sockets are Socket.IO sockets
          // plus its own state (10 % allowed for the collector's noise).
          ...(kind === 'heap' ? { validity: { minRatio: 0.9 } } : {}),
          ...(notes ? { notes } : {}),
          ...(kind === 'heap'
            ? {
                extra: {
                  connectMs: { parley: connectMs.parley![n], baseline: connectMs.baseline![n] },
                  bytesPerSocketBySpace: { parley: bySpace.parley![n], baseline: bySpace.baseline![n] },
                },
              }
            : {}),
        }),
      );
    }
  }
  return out;
};
