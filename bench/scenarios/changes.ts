import type { Socket } from 'socket.io-client';
import { measureAcks, measureCatchUp, openSocket } from '../lib/changes.ts';
import type { Scenario } from '../lib/context.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import { quantile } from '../lib/stats.ts';

/**
 * Changes to messages: `edit` and `react` ack latency at light load against `message` acks
 * measured in the same runs (interleaved), and `join {sinceVersion}` after many changes
 * against a `join {sinceSeq}` with nothing new. One client; rooms `chg` and `chg-join`.
 */
export const changes: Scenario = async (bench) => {
  if (!bench.parleyRealtime.ok) return [];
  const { ops, rate, count } = bench.profile.changes;
  const runs = { message: [] as number[], edit: [] as number[], react: [] as number[] };
  const samples = { message: [] as number[], edit: [] as number[], react: [] as number[] };
  let socket: Socket | undefined;
  try {
    socket = await openSocket(bench.parley.url, bench.clients[0]!.token);
    for (let r = 0; r < bench.profile.reps; r++) {
      bench.log(`changes: ${ops} message/edit/react acks at ${rate}/s, run ${r + 1}`);
      const lat = await measureAcks(socket, 'chg', ops, rate);
      for (const k of ['message', 'edit', 'react'] as const) {
        runs[k].push(quantile(lat[k], 0.5));
        samples[k].push(lat[k].length);
      }
    }
    bench.log(`changes: join {sinceVersion} after ${count} changes`);
    const catchUp = await measureCatchUp(socket, 'chg-join', count, 5 * bench.profile.reps);
    const at = (xs: number[], rep: number) => xs.slice(rep * 5, rep * 5 + 5);
    const reps = Array.from({ length: bench.profile.reps }, (_, i) => i);
    const out: ResultEntry[] = [
      entry({
        id: 'edit-ack-p50',
        scenario: 'changes',
        metric: `edit ack p50, ${rate} ops/s (message, edit, react interleaved)`,
        unit: 'ms',
        parleyRuns: runs.edit,
        referenceName: 'Parley message ack p50, same runs',
        referenceRuns: runs.message,
        target: { op: '<=', value: 1.2, text: '≤ 1.2× message ack p50' },
        validity: { parleySamples: samples.edit, referenceSamples: samples.message, minSamples: 20 },
      }),
      entry({
        id: 'react-ack-p50',
        scenario: 'changes',
        metric: `react ack p50, ${rate} ops/s (message, edit, react interleaved)`,
        unit: 'ms',
        parleyRuns: runs.react,
        referenceName: 'Parley message ack p50, same runs',
        referenceRuns: runs.message,
        target: { op: '<=', value: 1.2, text: '≤ 1.2× message ack p50' },
        validity: { parleySamples: samples.react, referenceSamples: samples.message, minSamples: 20 },
      }),
      entry({
        id: 'join-since-version-p50',
        scenario: 'changes',
        metric: `join {sinceSeq, sinceVersion} p50 after ${count} changes (100 returned)`,
        unit: 'ms',
        parleyRuns: reps.map((i) => quantile(at(catchUp.joinWithSinceVersion, i), 0.5)),
        referenceName: 'Parley join {sinceSeq}, nothing new',
        referenceRuns: reps.map((i) => quantile(at(catchUp.joinWithoutSinceVersion, i), 0.5)),
        notes: `complete catch-up (${catchUp.joinsPerCatchUp} joins) p50 ${quantile(catchUp.completeCatchUp, 0.5).toFixed(0)} ms`,
      }),
    ];
    return out;
  } finally {
    socket?.close();
  }
};
