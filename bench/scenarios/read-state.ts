import { Fleet, measureWindow, type Sender } from '../lib/fleet.ts';
import type { Bench, Scenario } from '../lib/context.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import { quantile } from '../lib/stats.ts';

/**
 * Read state. `read-markers`: a room of 1,000 readers, every socket sending `read` for every
 * message it receives: the `read` events (each one an UPDATE without coalescing) against the
 * marker rows the coalescer actually wrote (parley_read_marker_writes_total), per member and
 * second. `rooms-list`: GET /api/rooms p50 for a user in 500 rooms with messages and unread,
 * against a user in one room, interleaved.
 */

export const READ_ROOM = 'rm1000';
export const LIST_PREFIX = 'rl';
export const SINGLE_ROOM = 'rl-single';

async function metric(bench: Bench, name: string): Promise<number> {
  const text = await (await fetch(`${bench.parley.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : Number.NaN;
}

export const readMarkers: Scenario = async (bench) => {
  if (!bench.parleyRealtime.ok) return [];
  const { members, ratePerSecond, windowMs } = bench.profile.readMarkers;
  const clients = bench.clients.slice(0, members);
  const fleet = new Fleet(bench, bench.parley, 'read-markers', clients);
  const before: number[] = [];
  const after: number[] = [];
  const notes: string[] = [];
  try {
    const c = await fleet.connect();
    if (c.failed > 0)
      throw new Error(`read-markers: ${c.failed} sockets failed: ${JSON.stringify(c.errors)}`);
    const j = await fleet.join(clients.map((_, index) => ({ index, roomId: READ_ROOM })));
    if (j.failed > 0) throw new Error(`read-markers: ${j.failed} joins failed: ${JSON.stringify(j.errors)}`);
    const senders: Sender[] = [0, 1, members / 2, members / 2 + 1].map((index) => ({
      index,
      roomId: READ_ROOM,
    }));
    for (let r = 0; r < bench.profile.reps; r++) {
      bench.log(
        `read-markers: ${members} readers, ${ratePerSecond} messages/s for ${windowMs} ms, run ${r + 1}`,
      );
      await fleet.reading(true);
      const writes0 = await metric(bench, 'parley_read_marker_writes_total');
      const t0 = performance.now();
      const w = await measureWindow(
        fleet,
        senders,
        {
          mode: 'rate',
          ratePerSecond,
          durationMs: windowMs,
          drainMs: 10_000,
          textChars: bench.profile.textChars,
          idPrefix: `rm${r}`,
        },
        (run) => run.acked * members,
      );
      // Let the reads answer and the next flush write them (the interval is 1 s).
      await new Promise((res) => setTimeout(res, 2_500));
      const reads = await fleet.reading(false);
      const seconds = (performance.now() - t0) / 1000;
      const writes = (await metric(bench, 'parley_read_marker_writes_total')) - writes0;
      // Nothing written or nothing read means nothing was measured: never a met target.
      const valid = reads.ok > 0 && writes > 0;
      before.push(valid ? reads.sent / seconds / members : Number.NaN);
      after.push(valid ? writes / seconds / members : Number.NaN);
      notes.push(
        `run ${r + 1}: ${w.run.acked} messages, ${w.received} deliveries, ${reads.sent} reads (${reads.ok} ok${Object.keys(reads.errors).length ? `, ${JSON.stringify(reads.errors)}` : ''}), ${writes} marker rows written, ${reads.receipts} receipts delivered, ${seconds.toFixed(1)} s, server ${(w.serverCpuUs / 1e6 / (w.wallMs / 1000)).toFixed(2)} cores`,
      );
    }
  } finally {
    await fleet.reading(false).catch(() => undefined);
    await fleet.disconnect();
  }
  return [
    entry({
      id: `read-markers-${members}`,
      scenario: 'read-markers',
      metric: `marker database writes per member per second, ${members} readers reading every message, ${ratePerSecond} msg/s`,
      unit: 'writes/member/s',
      parleyRuns: after,
      referenceName: 'without coalescing (one UPDATE per read event)',
      referenceRuns: before,
      notes: notes.join('; '),
    }),
    entry({
      id: `read-markers-${members}-budget`,
      scenario: 'read-markers',
      metric: `marker database writes per member per second after coalescing, against the budget of 1`,
      unit: 'writes/member/s',
      parleyRuns: after,
      referenceName: 'budget: one write per member and room a second',
      referenceRuns: after.map(() => 1),
      target: { op: '<=', value: 1, text: '≤ 1 write per member per second' },
    }),
  ];
};

async function listOnce(url: string, token: string): Promise<{ ms: number; rooms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/rooms`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { rooms?: unknown[] };
  const ms = performance.now() - t0;
  if (res.status !== 200 || !Array.isArray(body.rooms)) throw new Error(`GET /api/rooms: ${res.status}`);
  return { ms, rooms: body.rooms.length };
}

export const roomsList: Scenario = async (bench) => {
  const { rooms, requests } = bench.profile.roomsList;
  const lister = bench.clients.at(-1)!;
  const single = bench.clients.at(-2)!;
  const many: number[] = [];
  const one: number[] = [];
  let listed = 0;
  // Warm-up, also waiting out a server still busy with an earlier scenario.
  const deadline = Date.now() + 60_000;
  for (let ok = 0; ok < 5;) {
    try {
      await listOnce(bench.parley.url, lister.token);
      await listOnce(bench.parley.url, single.token);
      ok++;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  for (let r = 0; r < bench.profile.reps; r++) {
    bench.log(
      `rooms-list: ${requests} GET /api/rooms for a user in ${rooms} rooms (and one in 1), run ${r + 1}`,
    );
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < requests; i++) {
      const x = await listOnce(bench.parley.url, lister.token);
      listed = x.rooms;
      a.push(x.ms);
      b.push((await listOnce(bench.parley.url, single.token)).ms);
    }
    many.push(quantile(a, 0.5));
    one.push(quantile(b, 0.5));
  }
  const out: ResultEntry[] = [
    entry({
      id: `rooms-list-${rooms}`,
      scenario: 'rooms-list',
      metric: `GET /api/rooms p50, a user in ${listed} rooms (messages, unread, lastMessage)`,
      unit: 'ms',
      parleyRuns: listed === rooms ? many : many.map(() => Number.NaN),
      referenceName: 'a user in 1 room, same runs',
      referenceRuns: one,
      notes: listed === rooms ? undefined : `listed ${listed} rooms, expected ${rooms}: not measured`,
    }),
  ];
  return out;
};
