import { join as joinPath } from 'node:path';
import type pg from 'pg';
import type { Bench, Scenario } from '../lib/context.ts';
import { Fleet, measureWindow, type Sender } from '../lib/fleet.ts';
import { entry, type ResultEntry } from '../lib/report.ts';
import type { ServerUnderTest } from '../lib/servers.ts';
import { perSecond, quantile } from '../lib/stats.ts';

/**
 * The socket scenarios: broadcast efficiency, persisted throughput, latency and join. Each
 * keeps one set of sockets connected to each server and alternates the measured windows
 * between them (baseline, Parley, then Parley, baseline, …), so both see the same machine.
 */

const NOT_MEASURED = Number.NaN;

/** Rep r's order of the two servers: alternating, so neither always goes first. */
const order = (bench: Bench, r: number): ServerUnderTest[] =>
  r % 2 === 0 ? [bench.baseline, bench.parley] : [bench.parley, bench.baseline];

const parleyNote = (bench: Bench) =>
  bench.parleyRealtime.ok
    ? undefined
    : `Parley realtime not measured: ${bench.parleyRealtime.reason ?? 'unavailable'}`;

/** Connects and joins a fleet on each server (Parley only when its realtime tier is up). */
async function fleets(
  bench: Bench,
  label: string,
  members: number,
  roomOf: (i: number) => string,
  tabsPerUser = 1,
) {
  // Socket i belongs to user floor(i / tabsPerUser): several sockets of one user are tabs.
  const clients = Array.from({ length: members }, (_, i) => bench.clients[Math.floor(i / tabsPerUser)]!);
  const joins = clients.map((_, i) => ({ index: i, roomId: roomOf(i) }));
  const out = new Map<ServerUnderTest, Fleet>();
  const joinMs: Record<string, number> = {};
  const disconnect = async () => {
    await Promise.all([...out.values()].map((f) => f.disconnect()));
  };
  try {
    for (const server of [bench.baseline, bench.parley]) {
      if (server === bench.parley && !bench.parleyRealtime.ok) continue;
      const fleet = new Fleet(bench, server, `${label}-${server.name}`, clients);
      out.set(server, fleet);
      const c = await fleet.connect();
      if (c.failed > 0) {
        throw new Error(
          `${label}: ${c.failed} sockets failed to connect to ${server.name}: ${JSON.stringify(c.errors)}`,
        );
      }
      // The join phase of a large room is itself a figure (extra.joinPhaseMs): profiled too.
      const profile = bench.cpuProfileDir !== undefined && server === bench.parley && members >= 1000;
      if (profile) await server.child.rpc.call('profileStart');
      const t0 = performance.now();
      const j = await fleet.join(joins);
      joinMs[server.name] = performance.now() - t0;
      if (profile) {
        const file = joinPath(bench.cpuProfileDir!, `${label}-join-phase.cpuprofile`);
        bench.log(`CPU profile of Parley: ${await server.child.rpc.call<string>('profileStop', { file })}`);
      }
      if (j.failed > 0)
        throw new Error(`${label}: ${j.failed} joins failed on ${server.name}: ${JSON.stringify(j.errors)}`);
    }
  } catch (err) {
    await disconnect();
    throw err;
  }
  return { get: (s: ServerUnderTest) => out.get(s), disconnect, joinMs };
}

/**
 * How busy the server and the load generators were in a window, in cores: a loader near 1.0
 * means the figure is bounded by the load generation, not by the server (2 cores, shared).
 */
const cpuShare = (bench: Bench, w: { serverCpuUs: number; loaderCpuUs: number; wallMs: number }) => ({
  server: Math.round((100 * w.serverCpuUs) / (w.wallMs * 1000)) / 100,
  perLoader: Math.round((100 * w.loaderCpuUs) / (w.wallMs * 1000 * bench.loaders.length)) / 100,
});
type Shares = Record<string, ReturnType<typeof cpuShare>[]>;

let prefixCounter = 0;
const idPrefix = (label: string) => `${label}${++prefixCounter}`.replace(/[^A-Za-z0-9_-]/g, '');

interface PersistCheck {
  acked: number;
  lost: number;
  duplicates: number;
  seqGaps: number;
}

/** Every acked message is in the database exactly once, and each room's seqs have no gap. */
async function checkPersisted(
  pool: pg.Pool,
  roomIds: string[],
  prefix: string,
  ackedIds: string[],
): Promise<PersistCheck> {
  const { rows } = await pool.query<{ client_msg_id: string; n: number }>(
    `SELECT client_msg_id, count(*)::int AS n FROM messages
      WHERE room_id = ANY($1::text[]) AND client_msg_id LIKE $2 GROUP BY client_msg_id`,
    [roomIds, `${prefix}-%`],
  );
  const stored = new Set(rows.map((r) => r.client_msg_id));
  const duplicates = rows.reduce((a, r) => a + r.n - 1, 0);
  const lost = ackedIds.filter((id) => !stored.has(id)).length;
  const { rows: rooms } = await pool.query<{ n: number; lo: number; hi: number }>(
    `SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM messages
      WHERE room_id = ANY($1::text[]) GROUP BY room_id`,
    [roomIds],
  );
  const seqGaps = rooms.reduce((a, r) => a + (r.hi - r.lo + 1 - r.n) + (r.lo - 1), 0);
  return { acked: ackedIds.length, lost, duplicates, seqGaps };
}

export const broadcast: Scenario = async (bench) => {
  const out: ResultEntry[] = [];
  for (const { members, tabsPerUser, ratePerSecond } of bench.profile.broadcast) {
    const roomId = `b${members}`;
    const users = Math.ceil(members / tabsPerUser);
    bench.log(`broadcast: room of ${members} sockets (${users} users), ${ratePerSecond} messages/s`);
    const f = await fleets(bench, roomId, members, () => roomId, tabsPerUser);
    bench.log(`broadcast: joined in ${JSON.stringify(f.joinMs)} ms`);
    const half = Math.floor(members / 2);
    const senders: Sender[] = [0, 1, half, half + 1].map((index) => ({ index, roomId }));
    const cpu: Record<string, number[]> = { parley: [], baseline: [] };
    const rate: Record<string, number[]> = { parley: [], baseline: [] };
    const delivered: Record<string, number[]> = { parley: [], baseline: [] };
    const lossPct: Record<string, number[]> = { parley: [], baseline: [] };
    const errors: Record<string, Record<string, number>> = { parley: {}, baseline: {} };
    const shares: Shares = { parley: [], baseline: [] };
    try {
      for (let r = 0; r < bench.profile.reps; r++) {
        for (const server of order(bench, r)) {
          const fleet = f.get(server);
          if (!fleet) {
            cpu[server.name]!.push(NOT_MEASURED);
            rate[server.name]!.push(NOT_MEASURED);
            delivered[server.name]!.push(0);
            continue;
          }
          const w = await measureWindow(
            fleet,
            senders,
            {
              mode: 'rate',
              ratePerSecond,
              durationMs: bench.profile.windowMs,
              drainMs: 10_000,
              textChars: bench.profile.textChars,
              idPrefix: idPrefix(roomId),
            },
            (run) => run.acked * members,
          );
          shares[server.name]!.push(cpuShare(bench, w));
          cpu[server.name]!.push(w.serverCpuUs / w.received);
          delivered[server.name]!.push(w.received);
          rate[server.name]!.push(perSecond(w.received, w.wallMs));
          lossPct[server.name]!.push(
            (100 * (w.run.acked * members - w.received)) / Math.max(1, w.run.acked * members),
          );
          for (const [k, v] of Object.entries(w.run.errors))
            errors[server.name]![k] = (errors[server.name]![k] ?? 0) + v;
        }
      }
    } finally {
      await f.disconnect();
    }
    const notes = parleyNote(bench);
    out.push(
      entry({
        id: `broadcast-${members}-cpu`,
        scenario: 'broadcast',
        metric: `server CPU per delivered message, room of ${members} sockets (${users} users), ${ratePerSecond} msg/s in`,
        unit: 'µs',
        parleyRuns: cpu.parley!,
        referenceName: 'bare Socket.IO',
        referenceRuns: cpu.baseline!,
        target: { op: '<=', value: 1.2, text: '≤ 1.2× bare Socket.IO' },
        // A CPU cost per delivery from a window that delivered (almost) nothing is no cost.
        validity: { parleySamples: delivered.parley, referenceSamples: delivered.baseline, minSamples: 100 },
        ...(notes ? { notes } : {}),
        extra: {
          users,
          tabsPerUser,
          joinPhaseMs: f.joinMs,
          undeliveredPercent: lossPct,
          ackErrors: errors,
          cpuCores: shares,
        },
      }),
      entry({
        id: `broadcast-${members}-rate`,
        scenario: 'broadcast',
        metric: `delivered messages/s, room of ${members} sockets (${users} users), ${ratePerSecond} msg/s in`,
        unit: 'msg/s',
        parleyRuns: rate.parley!,
        referenceName: 'bare Socket.IO',
        referenceRuns: rate.baseline!,
        ...(notes ? { notes } : {}),
      }),
    );
  }
  return out;
};

/** Shared between scenarios of one run: the baseline's capacity sets the latency load. */
const runState = { baselineCapacity: Number.NaN, insertSeq: 0 };

export const throughput: Scenario = async (bench) => {
  const out: ResultEntry[] = [];
  const windowMs = bench.profile.windowMs;
  const textChars = bench.profile.textChars;

  // One busy room: every member sends, closed loop, one message in flight each.
  {
    const n = bench.profile.busyRoomSenders;
    bench.log(`throughput: one room, ${n} senders`);
    const f = await fleets(bench, 'busy', n, () => 'busy');
    const senders: Sender[] = Array.from({ length: n }, (_, index) => ({ index, roomId: 'busy' }));
    const runs: Record<string, number[]> = { parley: [], baseline: [] };
    const checks: PersistCheck[] = [];
    const errors: Record<string, number> = {};
    const shares: Shares = { parley: [], baseline: [] };
    try {
      for (let r = 0; r < bench.profile.reps; r++) {
        for (const server of order(bench, r)) {
          const fleet = f.get(server);
          if (!fleet) {
            runs[server.name]!.push(NOT_MEASURED);
            continue;
          }
          const prefix = idPrefix('busy');
          const w = await measureWindow(
            fleet,
            senders,
            {
              mode: 'closed',
              window: 1,
              durationMs: windowMs,
              drainMs: 15_000,
              textChars,
              idPrefix: prefix,
              returnIds: server === bench.parley,
            },
            (run) => run.acked * n,
          );
          shares[server.name]!.push(cpuShare(bench, w));
          runs[server.name]!.push(perSecond(w.run.acked, w.run.sendingMs));
          if (server === bench.parley) {
            checks.push(await checkPersisted(bench.db.pool, ['busy'], prefix, w.run.ackedIds));
            for (const [k, v] of Object.entries(w.run.errors)) errors[k] = (errors[k] ?? 0) + v;
          }
        }
      }
    } finally {
      await f.disconnect();
    }
    runState.baselineCapacity = quantile(runs.baseline!, 0.5);
    const lossFree = checks.every((c) => c.lost === 0 && c.duplicates === 0 && c.seqGaps === 0);
    const notes =
      parleyNote(bench) ??
      (lossFree
        ? 'zero loss, zero duplicates, no seq gaps (checked in the database)'
        : 'LOSS, DUPLICATES OR GAPS: see extra.checks');
    out.push(
      entry({
        id: 'throughput-one-room',
        scenario: 'throughput',
        metric: `acked and persisted messages/s, one room, ${n} senders`,
        unit: 'msg/s',
        parleyRuns: runs.parley!,
        referenceName: 'bare Socket.IO broadcast capacity',
        referenceRuns: runs.baseline!,
        target: { op: '>=', value: 1.0, text: '≥ 1.0× bare Socket.IO capacity' },
        notes,
        extra: { checks, ackErrors: errors, cpuCores: shares },
      }),
    );
  }

  // Many small rooms: every member of every room sends, against raw single-row INSERTs.
  {
    const { rooms, members, window } = bench.profile.smallRooms;
    const n = rooms * members;
    const roomOf = (i: number) => `s${Math.floor(i / members) + 1}`;
    bench.log(`throughput: ${rooms} rooms of ${members}, all sending`);
    const f = await fleets(bench, 'small', n, roomOf);
    const senders: Sender[] = Array.from({ length: n }, (_, index) => ({ index, roomId: roomOf(index) }));
    const roomIds = [...new Set(senders.map((s) => s.roomId))];
    const runs: Record<string, number[]> = { parley: [], baseline: [], raw: [] };
    const checks: PersistCheck[] = [];
    const errors: Record<string, number> = {};
    const shares: Shares = { parley: [], baseline: [] };
    try {
      for (let r = 0; r < bench.profile.reps; r++) {
        const servers: (ServerUnderTest | 'raw')[] = [...order(bench, r)];
        servers.splice(r % 3, 0, 'raw');
        for (const server of servers) {
          if (server === 'raw') {
            const res = await bench.insertLoader.rpc.call<{ count: number; ms: number; lastSeq: number }>(
              'insert',
              {
                url: bench.db.url,
                poolSize: bench.profile.insertPool,
                durationMs: windowMs,
                roomId: 'raw',
                userId: 'bu1',
                name: 'bench_1',
                textChars,
                startSeq: runState.insertSeq,
              },
            );
            runState.insertSeq = res.lastSeq;
            runs.raw!.push(perSecond(res.count, res.ms));
            continue;
          }
          const fleet = f.get(server);
          if (!fleet) {
            runs[server.name]!.push(NOT_MEASURED);
            continue;
          }
          const prefix = idPrefix('small');
          const w = await measureWindow(
            fleet,
            senders,
            {
              mode: 'closed',
              window,
              durationMs: windowMs,
              drainMs: 15_000,
              textChars,
              idPrefix: prefix,
              returnIds: server === bench.parley,
            },
            (run) => run.acked * members,
          );
          shares[server.name]!.push(cpuShare(bench, w));
          runs[server.name]!.push(perSecond(w.run.acked, w.run.sendingMs));
          if (server === bench.parley) {
            checks.push(await checkPersisted(bench.db.pool, roomIds, prefix, w.run.ackedIds));
            for (const [k, v] of Object.entries(w.run.errors)) errors[k] = (errors[k] ?? 0) + v;
          }
        }
      }
    } finally {
      await f.disconnect();
    }
    const lossFree = checks.every((c) => c.lost === 0 && c.duplicates === 0 && c.seqGaps === 0);
    const notes =
      parleyNote(bench) ??
      (lossFree
        ? 'zero loss, zero duplicates, no seq gaps (checked in the database)'
        : 'LOSS, DUPLICATES OR GAPS: see extra.checks');
    out.push(
      entry({
        id: 'throughput-small-rooms',
        scenario: 'throughput',
        metric: `acked and persisted messages/s, ${rooms} rooms of ${members}, all sending`,
        unit: 'msg/s',
        parleyRuns: runs.parley!,
        referenceName: `raw pg single-row INSERT, pool of ${bench.profile.insertPool}`,
        referenceRuns: runs.raw!,
        target: { op: '>=', value: 3.0, text: '≥ 3× raw single-row INSERT' },
        notes,
        extra: { checks, ackErrors: errors, cpuCores: shares },
      }),
      entry({
        id: 'throughput-small-rooms-vs-bare',
        scenario: 'throughput',
        metric: `acked messages/s, ${rooms} rooms of ${members}, all sending`,
        unit: 'msg/s',
        parleyRuns: runs.parley!,
        referenceName: 'bare Socket.IO (no persistence)',
        referenceRuns: runs.baseline!,
      }),
    );
  }
  return out;
};

export const latency: Scenario = async (bench) => {
  const out: ResultEntry[] = [];
  const n = bench.profile.busyRoomSenders;
  const f = await fleets(bench, 'lat', n, () => 'lat');
  const senders: Sender[] = Array.from({ length: n }, (_, index) => ({ index, roomId: 'lat' }));
  const loads = [
    { label: 'light', rate: bench.profile.latencyLightRate },
    { label: 'half-capacity', rate: Math.round(runState.baselineCapacity / 2) },
  ];
  try {
    for (const { label, rate } of loads) {
      if (!Number.isFinite(rate) || rate <= 0) continue;
      bench.log(`latency: ${label}, ${rate} messages/s into a room of ${n}`);
      const p50: Record<string, number[]> = { parley: [], baseline: [], raw: [] };
      const p99: Record<string, number[]> = { parley: [], baseline: [], raw: [] };
      const samples: Record<string, number[]> = { parley: [], baseline: [], raw: [] };
      const shares: Shares = { parley: [], baseline: [] };
      for (let r = 0; r < bench.profile.reps; r++) {
        for (const server of order(bench, r)) {
          const fleet = f.get(server);
          if (!fleet) {
            p50[server.name]!.push(NOT_MEASURED);
            p99[server.name]!.push(NOT_MEASURED);
            samples[server.name]!.push(0);
            continue;
          }
          const w = await measureWindow(
            fleet,
            senders,
            {
              mode: 'rate',
              ratePerSecond: rate,
              durationMs: bench.profile.windowMs,
              drainMs: 15_000,
              textChars: bench.profile.textChars,
              idPrefix: idPrefix('lat'),
            },
            (run) => run.acked * n,
          );
          shares[server.name]!.push(cpuShare(bench, w));
          p50[server.name]!.push(quantile(w.receiveLatencyMs, 0.5));
          p99[server.name]!.push(quantile(w.receiveLatencyMs, 0.99));
          samples[server.name]!.push(w.receiveLatencyMs.length);
        }
        if (label === 'light') {
          // The database's share of a persisted send: one INSERT at the same light rate.
          const res = await bench.insertLoader.rpc.call<{ latencyMs: number[]; lastSeq: number }>('insert', {
            url: bench.db.url,
            poolSize: bench.profile.insertPool,
            durationMs: bench.profile.windowMs,
            roomId: 'raw',
            userId: 'bu1',
            name: 'bench_1',
            textChars: bench.profile.textChars,
            startSeq: runState.insertSeq,
            ratePerSecond: rate,
          });
          runState.insertSeq = res.lastSeq;
          p50.raw!.push(quantile(res.latencyMs, 0.5));
          p99.raw!.push(quantile(res.latencyMs, 0.99));
          samples.raw!.push(res.latencyMs.length);
        }
      }
      const notes = parleyNote(bench);
      if (label === 'light') {
        out.push(
          entry({
            id: 'latency-light-p99',
            scenario: 'latency',
            metric: `send→receive p99, ${rate} msg/s into a room of ${n}`,
            unit: 'ms',
            parleyRuns: p99.parley!,
            referenceName: 'bare Socket.IO p99 + raw INSERT p99',
            referenceRuns: p99.baseline!.map((b, i) => b + (p99.raw![i] ?? Number.NaN)),
            target: { op: '<=', value: 2, text: '≤ 2× (bare p99 + INSERT p99)' },
            // A p99 needs enough samples to have a 1% tail: 1,000 deliveries a run at least.
            validity: {
              parleySamples: samples.parley,
              referenceSamples: samples.baseline,
              minSamples: 1000,
            },
            ...(notes ? { notes } : {}),
            extra: { baselineP99: p99.baseline, insertP99: p99.raw, insertP50: p50.raw, cpuCores: shares },
          }),
        );
      }
      out.push(
        label === 'light'
          ? entry({
              id: `latency-${label}-p50`,
              scenario: 'latency',
              metric: `send→receive p50, ${rate} msg/s into a room of ${n}`,
              unit: 'ms',
              parleyRuns: p50.parley!,
              referenceName: 'bare Socket.IO p50 + raw INSERT p50',
              referenceRuns: p50.baseline!.map((b, i) => b + (p50.raw![i] ?? Number.NaN)),
              target: { op: '<=', value: 1.5, text: '≤ 1.5× (bare p50 + INSERT p50)' },
              validity: { parleySamples: samples.parley, minSamples: 100 },
              ...(notes ? { notes } : {}),
              extra: { baselineP50: p50.baseline, insertP50: p50.raw },
            })
          : entry({
              id: `latency-${label}-p50`,
              scenario: 'latency',
              metric: `send→receive p50, ${rate} msg/s into a room of ${n}`,
              unit: 'ms',
              parleyRuns: p50.parley!,
              referenceName: 'bare Socket.IO',
              referenceRuns: p50.baseline!,
              ...(notes ? { notes } : {}),
            }),
      );
      if (label !== 'light') {
        out.push(
          entry({
            id: `latency-${label}-p99`,
            scenario: 'latency',
            metric: `send→receive p99, ${rate} msg/s into a room of ${n}`,
            unit: 'ms',
            parleyRuns: p99.parley!,
            referenceName: 'bare Socket.IO',
            referenceRuns: p99.baseline!,
            extra: { cpuCores: shares },
            ...(notes ? { notes } : {}),
          }),
        );
      }
    }
  } finally {
    await f.disconnect();
  }
  return out;
};

export const join: Scenario = async (bench) => {
  const n = bench.profile.join.sockets;
  bench.log(`join: ${n} sockets joining a room with ${bench.profile.join.messages} messages`);
  const clients = bench.clients.slice(0, n);
  const p50: Record<string, number[]> = { parley: [], baseline: [] };
  const p99: Record<string, number[]> = { parley: [], baseline: [] };
  const pageP50: number[] = [];
  const returned: number[] = [];
  const ackChars: Record<string, number[]> = { parley: [], baseline: [] };
  const fleetOf = new Map<ServerUnderTest, Fleet>();
  try {
    for (const server of [bench.baseline, bench.parley]) {
      if (server === bench.parley && !bench.parleyRealtime.ok) continue;
      const fleet = new Fleet(bench, server, `join-${server.name}`, clients);
      fleetOf.set(server, fleet);
      const c = await fleet.connect();
      if (c.failed > 0)
        throw new Error(`join: ${c.failed} sockets failed on ${server.name}: ${JSON.stringify(c.errors)}`);
    }
    for (let r = 0; r < bench.profile.reps; r++) {
      for (const server of order(bench, r)) {
        const fleet = fleetOf.get(server);
        if (!fleet) {
          p50[server.name]!.push(NOT_MEASURED);
          p99[server.name]!.push(NOT_MEASURED);
          continue;
        }
        const profile =
          bench.cpuProfileDir !== undefined && server === bench.parley && r === bench.profile.reps - 1;
        if (profile) await server.child.rpc.call('profileStart');
        const res = await fleet.join(
          clients.map((_, index) => ({ index, roomId: 'join' })),
          4,
        );
        if (profile) {
          const file = joinPath(bench.cpuProfileDir!, 'join.cpuprofile');
          bench.log(`CPU profile of Parley: ${await server.child.rpc.call<string>('profileStop', { file })}`);
        }
        if (res.failed > 0) throw new Error(`join on ${server.name}: ${JSON.stringify(res.errors)}`);
        p50[server.name]!.push(quantile(res.latencyMs, 0.5));
        p99[server.name]!.push(quantile(res.latencyMs, 0.99));
        if (server === bench.parley) returned.push(res.messagesReturned / n);
        ackChars[server.name]!.push(res.ackChars);
      }
      // The database's share of a join: the same newest page of 50 by raw keyset SQL, as many
      // reads and as many in flight as the joins.
      const pages = await bench.historyLoader.rpc.call<{ latencyMs: number[] }>('keysetPages', {
        pgUrl: bench.db.url,
        roomId: 'join',
        pages: n,
        poolSize: 4,
        concurrency: 4,
        limit: 50,
      });
      pageP50.push(quantile(pages.latencyMs, 0.5));
    }
  } finally {
    await Promise.all([...fleetOf.values()].map((f) => f.disconnect()));
  }
  const notes = parleyNote(bench) ?? `messages returned per join: ${returned.join(', ')}; 4 joins in flight`;
  return [
    entry({
      id: 'join-p50',
      scenario: 'join',
      metric: 'join ack latency p50, 50 messages returned',
      unit: 'ms',
      parleyRuns: p50.parley!,
      referenceName: 'bare Socket.IO join p50 (the same ack, from memory) + raw keyset page p50',
      referenceRuns: p50.baseline!.map((b, i) => b + (pageP50[i] ?? Number.NaN)),
      target: { op: '<=', value: 2, text: '≤ 2× (bare join p50 + raw page p50)' },
      notes,
      extra: { bareJoinP50: p50.baseline, rawPageP50: pageP50, ackChars },
    }),
    entry({
      id: 'join-p99',
      scenario: 'join',
      metric: 'join ack latency p99, 50 messages returned',
      unit: 'ms',
      parleyRuns: p99.parley!,
      referenceName: 'bare Socket.IO join (the same ack, from memory)',
      referenceRuns: p99.baseline!,
      notes,
    }),
  ];
};
