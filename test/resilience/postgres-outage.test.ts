import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDatabase, type ScratchDatabase } from './support/database.ts';
import { report } from './support/figures.ts';
import { CLEAN_VERDICT, LoadClient, seed, verify, type Seeded } from './support/load.ts';
import { serverProcess, waitUntil, type ServerProcess } from './support/server-process.ts';
import { startProxy, type TcpProxy } from './support/tcp-proxy.ts';

/**
 * Postgres goes away under a running server (refused and cut, then a black hole that
 * answers nothing), while clients keep sending. Sends are acked `unavailable` and retried,
 * never acked and lost; /readyz says 503 quickly; the process recovers by itself.
 */
const DB_PASSWORD = 'db-password-never-logged-7f3a';
const withPassword = (url: string, password: string) => {
  const u = new URL(url);
  u.password = password;
  return u.toString();
};

let db: ScratchDatabase;
let proxy: TcpProxy;
let server: ServerProcess;
let seeded: Seeded;
let clients: LoadClient[] = [];
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  db = await scratchDatabase('pg_outage');
  seeded = await seed(db.url(), 4, 1, 'pgo');
  proxy = await startProxy(5432);
  server = await serverProcess({
    name: 'pg-outage',
    env: {
      // A password the server must never log, however the connection fails (trust auth ignores it).
      DATABASE_URL: withPassword(db.url(proxy.port), DB_PASSWORD),
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '2000',
      DATABASE_POOL_MAX: '6',
    },
    // Failed requests and sends are logged as errors while the database is away.
    expectedTrouble: /"msg":"(request failed|socket event failed|not ready|batch commit failed[^"]*)"/,
  });
  clients = seeded.users.map(
    (u, i) => new LoadClient(`pgo${i}`, u.token, seeded.roomIds[0]!, [server.url], 0),
  );
  await Promise.all(clients.map((c) => c.connect()));
  for (const c of clients) c.run(150);
  // Steady traffic before the first fault.
  await waitUntil('warm-up sends', () => ackedSoFar() >= 40, 30_000);
});

afterAll(async () => {
  if (server && !server.alive()) {
    console.log(`server alive=${server.alive()}; last lines:\n${server.lines.slice(-15).join('\n')}`);
  }
  for (const c of clients) c.close();
  await server?.stop();
  await proxy?.close();
  await seeded?.close();
  await db?.drop();
});

const ready = async () =>
  (await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))
    ?.status;

async function timedRest(): Promise<{ status: number; code?: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`${server.url}/api/rooms`, {
    headers: { authorization: `Bearer ${seeded.users[0]!.token}` },
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, ms: Date.now() - started };
}

const ackedSoFar = () => clients.reduce((n, c) => n + c.stats.acked.size, 0);

async function outage(kind: 'refused' | 'black hole', holdMs: number) {
  const before = ackedSoFar();
  const started = Date.now();
  if (kind === 'refused') {
    proxy.setMode('refuse');
    proxy.cut();
  } else {
    proxy.setMode('stall');
  }
  const readyzDownMs = await waitUntil('/readyz 503', async () => (await ready()) === 503, 10_000, 100);
  const rest = [await timedRest(), await timedRest()];
  await new Promise((r) => setTimeout(r, Math.max(0, holdMs - (Date.now() - started))));
  const ackedDuring = ackedSoFar() - before;
  const errorsDuring = Object.fromEntries(
    clients
      .flatMap((c) => [...c.stats.errors])
      .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
  );

  const restored = Date.now();
  // A black hole heals: the frozen connections resume and deliver whatever was held.
  proxy.setMode('pass');
  const readyzUpMs = await waitUntil('/readyz 200 again', async () => (await ready()) === 200, 30_000, 100);
  const baseline = ackedSoFar();
  await waitUntil('sends acked again', () => ackedSoFar() > baseline + clients.length, 30_000, 50);
  const sendsBackMs = Date.now() - restored;
  const after = await timedRest();
  return {
    readyzDownMs,
    restDuring: rest,
    ackedDuring,
    errorsDuring,
    readyzUpMs,
    sendsBackMs,
    restAfter: after,
  };
}

describe('Postgres outage', () => {
  it('answers unavailable during a refused-and-cut outage, and recovers by itself', async () => {
    const r = await outage('refused', 4_000);
    figures.refused = r;
    expect(r.readyzDownMs).toBeLessThan(3_000);
    for (const rest of r.restDuring) {
      expect(rest).toMatchObject({ status: 503, code: 'unavailable' });
      expect(rest.ms).toBeLessThan(5_000);
    }
    expect(r.restAfter.status).toBe(200);
    expect(r.readyzUpMs).toBeLessThan(10_000);
    expect(server.alive()).toBe(true);
  });

  it('answers unavailable when Postgres stops answering (black hole) instead of hanging, and recovers', async () => {
    // Longer than the statement timeout: queries stuck on frozen connections must not hold sends forever.
    const r = await outage('black hole', 8_000);
    figures.blackHole = r;
    expect(r.readyzDownMs).toBeLessThan(4_000);
    for (const rest of r.restDuring) {
      expect(rest).toMatchObject({ status: 503, code: 'unavailable' });
      expect(rest.ms).toBeLessThan(8_000);
    }
    expect(r.restAfter.status).toBe(200);
    expect(r.readyzUpMs).toBeLessThan(15_000);
    expect(server.alive()).toBe(true);
  });

  it('lost nothing: every acked send is stored once, seq is gap-free, every client caught up', async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(clients.map((c) => c.catchUp()));
    const verdict = await verify(db.query, seeded.roomIds[0]!, clients);
    const retried = clients.reduce((n, c) => n + c.stats.retried.size, 0);
    figures.verdict = verdict;
    figures.retriedSends = retried;
    figures.errors = Object.fromEntries(
      clients
        .flatMap((c) => [...c.stats.errors])
        .reduce((m, [k, v]) => m.set(k, (m.get(k) ?? 0) + v), new Map<string, number>()),
    );
    report('postgres-outage', figures);
    expect(verdict).toMatchObject(CLEAN_VERDICT);
    expect(verdict.rows).toBe(clients.reduce((n, c) => n + c.stats.acked.size, 0));
    expect(retried).toBeGreaterThan(0); // the outage was felt, so the checks above are not vacuous
    expect(server.troubles().map((l) => l.replace(/"stack":"[^"]*"/g, '').slice(0, 300))).toEqual([]);
    // Hundreds of logged database failures, and not one carries the connection's password.
    expect(server.lines.length).toBeGreaterThan(10);
    expect(server.lines.filter((l) => l.includes(DB_PASSWORD))).toEqual([]);
    // No send was answered `internal`: a database outage is `unavailable`, which clients retry.
    expect(figures.errors).not.toHaveProperty('internal');
  });
});
