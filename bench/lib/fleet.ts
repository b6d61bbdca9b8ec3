import { join } from 'node:path';
import type { Bench } from './context.ts';
import { cpuMicros, type Child, type ProcessStats } from './children.ts';
import type { ServerUnderTest } from './servers.ts';
import type { BenchClient } from './tokens.ts';
import type { Counts, RunArgs, RunResult } from '../load/sockets.ts';

interface Part {
  loader: Child;
  offset: number;
  clients: BenchClient[];
}

export interface JoinOutcome {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  latencyMs: number[];
  messagesReturned: number;
  /** One ack's length as JSON (the largest of the loaders' first acks). */
  ackChars: number;
}

export type Sender = { index: number; roomId: string };
/** `read` events sent on receipt and their acks, and the receipts (`read` events) that arrived. */
export interface ReadCounts {
  sent: number;
  ok: number;
  receipts: number;
  errors: Record<string, number>;
}
export type FleetRunArgs = Omit<RunArgs, 'group' | 'senders'>;

/**
 * Sockets of one set of clients to one server, spread over the load generators. Index i is
 * client i everywhere, so a scenario says "socket 7 joins room r" and the fleet finds it.
 */
export class Fleet {
  private readonly parts: Part[];

  constructor(
    readonly bench: Bench,
    readonly server: ServerUnderTest,
    readonly group: string,
    clients: BenchClient[],
  ) {
    const size = Math.ceil(clients.length / bench.loaders.length);
    this.parts = bench.loaders.map((loader, p) => ({
      loader,
      offset: p * size,
      clients: clients.slice(p * size, (p + 1) * size),
    }));
  }

  private locate(index: number): { part: Part; local: number } {
    for (const part of this.parts) {
      if (index >= part.offset && index < part.offset + part.clients.length)
        return { part, local: index - part.offset };
    }
    throw new Error(`socket ${index} is not in fleet ${this.group}`);
  }

  private byPart<T extends { index: number }>(items: T[]): Map<Part, T[]> {
    const out = new Map<Part, T[]>();
    for (const item of items) {
      const { part, local } = this.locate(item.index);
      out.set(part, [...(out.get(part) ?? []), { ...item, index: local }]);
    }
    return out;
  }

  async connect(
    concurrency = 50,
  ): Promise<{ connected: number; failed: number; errors: Record<string, number>; ms: number }> {
    const t0 = performance.now();
    const results = await Promise.all(
      this.parts.map((p) =>
        p.loader.rpc.call<{ connected: number; failed: number; errors: Record<string, number> }>(
          'connect',
          { group: this.group, url: this.server.url, clients: p.clients, concurrency },
          300_000,
        ),
      ),
    );
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      connected: results.reduce((a, r) => a + r.connected, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      errors,
      ms: performance.now() - t0,
    };
  }

  async join(
    joins: { index: number; roomId: string; sinceSeq?: number }[],
    concurrency = 20,
    timeoutMs?: number,
  ): Promise<JoinOutcome> {
    const results = await Promise.all(
      [...this.byPart(joins)].map(([part, js]) =>
        part.loader.rpc.call<JoinOutcome>(
          'join',
          { group: this.group, joins: js, concurrency, ...(timeoutMs ? { timeoutMs } : {}) },
          300_000,
        ),
      ),
    );
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      ok: results.reduce((a, r) => a + r.ok, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      errors,
      latencyMs: results.flatMap((r) => r.latencyMs),
      messagesReturned: results.reduce((a, r) => a + r.messagesReturned, 0),
      ackChars: Math.max(0, ...results.map((r) => r.ackChars)),
    };
  }

  /**
   * Sends from `senders`; a rate is split over the loaders in proportion to their senders,
   * and their schedules are offset evenly within a send interval (see `RunArgs.phase`).
   */
  async run(senders: Sender[], args: FleetRunArgs): Promise<RunResult> {
    const parts = [...this.byPart(senders)];
    const results = await Promise.all(
      parts.map(([part, ss], i) =>
        part.loader.rpc.call<RunResult>(
          'run',
          {
            ...args,
            group: this.group,
            senders: ss,
            ...(args.ratePerSecond !== undefined
              ? { ratePerSecond: (args.ratePerSecond * ss.length) / senders.length, phase: i / parts.length }
              : {}),
          } satisfies RunArgs,
          args.durationMs + args.drainMs + 60_000,
        ),
      ),
    );
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      sent: results.reduce((a, r) => a + r.sent, 0),
      acked: results.reduce((a, r) => a + r.acked, 0),
      unacked: results.reduce((a, r) => a + r.unacked, 0),
      errors,
      ackedIds: results.flatMap((r) => r.ackedIds),
      ackLatencyMs: results.flatMap((r) => r.ackLatencyMs),
      sendingMs: Math.max(...results.map((r) => r.sendingMs)),
    };
  }

  /** Read-on-receipt on or off for every socket of the fleet; the loaders' counts since the last call. */
  async reading(on: boolean): Promise<ReadCounts> {
    const results = await Promise.all(
      this.parts.map((p) => p.loader.rpc.call<ReadCounts>('reading', { group: this.group, on })),
    );
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      sent: results.reduce((a, r) => a + r.sent, 0),
      ok: results.reduce((a, r) => a + r.ok, 0),
      receipts: results.reduce((a, r) => a + r.receipts, 0),
      errors,
    };
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.loader.rpc.call('disconnect', { group: this.group })));
  }
}

export interface Window {
  run: RunResult;
  received: number;
  receiveLatencyMs: number[];
  /** Server CPU from the first message sent until the last delivery arrived. */
  serverCpuUs: number;
  wallMs: number;
  loaderCpuUs: number;
}

/**
 * One measured window: counting on, server CPU read, load sent, wait until every acked
 * message has reached every member (or deliveries stop arriving), server CPU read again.
 */
export async function measureWindow(
  fleet: Fleet,
  senders: Sender[],
  args: FleetRunArgs,
  deliveriesPerAck: (run: RunResult) => number,
): Promise<Window> {
  const { bench, server } = fleet;
  await Promise.all(bench.loaders.map((l) => l.rpc.call('startCounting')));
  const loaders0 = await Promise.all(bench.loaders.map((l) => l.rpc.call<ProcessStats>('stats')));
  // Both servers, so that a profile of Parley can be read against the reference's.
  const profile = bench.cpuProfileDir !== undefined;
  if (profile) await server.child.rpc.call('profileStart');
  const s0 = await server.stats();
  const run = await fleet.run(senders, args);
  const expected = deliveriesPerAck(run);
  await settle(bench, expected);
  const s1 = await server.stats();
  if (profile) {
    const file = join(bench.cpuProfileDir!, `${server.name}-${args.idPrefix}.cpuprofile`);
    bench.log(
      `CPU profile of ${server.name}: ${await server.child.rpc.call<string>('profileStop', { file })}`,
    );
  }
  const loaders1 = await Promise.all(bench.loaders.map((l) => l.rpc.call<ProcessStats>('stats')));
  const counts = await Promise.all(bench.loaders.map((l) => l.rpc.call<Counts>('stopCounting')));
  return {
    run,
    received: counts.reduce((a, c) => a + c.received, 0),
    receiveLatencyMs: counts.flatMap((c) => c.latencyMs),
    serverCpuUs: cpuMicros(s0, s1),
    wallMs: s1.at - s0.at,
    loaderCpuUs: loaders0.reduce((a, s, i) => a + cpuMicros(s, loaders1[i]!), 0),
  };
}

/** Waits until `expected` deliveries were counted, or none arrived for a second (bounded). */
async function settle(bench: Bench, expected: number, quietMs = 1_000, maxMs = 20_000): Promise<void> {
  const started = Date.now();
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() - started < maxMs) {
    const peeks = await Promise.all(bench.loaders.map((l) => l.rpc.call<{ received: number }>('peek')));
    const received = peeks.reduce((a, p) => a + p.received, 0);
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
