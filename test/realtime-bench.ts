/**
 * One busy room: N senders, each keeping W sends in flight, every socket receiving every
 * message. Prints sends/s (acked), ack latency and catch-up time for a client that missed
 * a backlog. Run: `DATABASE_URL=... REDIS_URL=... npx tsx test/realtime-bench.ts [senders] [perSender] [window]`
 * (unset: embedded PGlite and memory).
 */
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { startServer } from '../server/app.ts';
import { ApiClient, overHttp } from './api-client.ts';
import { TestUser, type ChatClient } from './realtime-client.ts';

const [senders = 10, perSender = 200, window = 4] = process.argv.slice(2).map(Number);

const config = loadConfig({
  ...process.env,
  NODE_ENV: 'test',
  PORT: '0',
  DATA_DIR: process.env.DATA_DIR ?? ':memory:',
  LOG_LEVEL: 'warn',
  JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256-0123456789',
  REDIS_KEY_PREFIX: `bench-${Date.now()}:`,
  RATE_LIMIT_MESSAGE_PER_SECOND: '1000000',
  RATE_LIMIT_MESSAGE_PER_10_SECONDS: '10000000',
  RATE_LIMIT_REGISTER_PER_HOUR: '1000000',
});
const server = await startServer(config, createLogger('warn'));
const users: TestUser[] = [];
for (let i = 0; i < senders + 1; i++) {
  const api = new ApiClient(overHttp(server.url), `bench_${Date.now().toString(36)}_${i}`);
  await api.register();
  users.push(new TestUser(api, server.url));
}
const room = await users[0]!.api.createRoom('bench');
for (const u of users.slice(1)) await users[0]!.api.addMember(room.id, u.name);

const clients: ChatClient[] = [];
for (const u of users.slice(0, senders)) {
  const c = await u.connect();
  await c.joined(room);
  clients.push(c);
}
const total = senders * perSender;
const everyoneHasAll = Promise.all(
  clients.map(
    (c) =>
      new Promise<void>((resolve) => {
        let n = 0;
        c.raw.on('message', () => {
          if (++n === total) resolve();
        });
      }),
  ),
);

const latencies: number[] = [];
const started = performance.now();
await Promise.all(
  clients.flatMap((c, s) =>
    Array.from({ length: window }, async (_, lane) => {
      for (let i = lane; i < perSender; i += window) {
        const t0 = performance.now();
        const ack = await c.send(room, `s${s} #${i}`, { clientMsgId: `s${s}-${i}` });
        if (!ack.ok) throw new Error(JSON.stringify(ack.error));
        latencies.push(performance.now() - t0);
      }
    }),
  ),
);
const ackedMs = performance.now() - started;
await everyoneHasAll;
const deliveredMs = performance.now() - started;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);

// A client that was away for the whole burst catches up: join(sinceSeq) + afterSeq pages.
const late = users[senders]!;
const t1 = performance.now();
const lc = await late.connect();
const joined = await lc.joined(room, 0);
let got = joined.messages.length;
let hasMore = joined.hasMore;
while (hasMore) {
  const page = await late.api.history({ roomId: room.id, afterSeq: got, limit: 100 });
  got += page.body.messages.length;
  hasMore = page.body.hasMore;
}
const catchUpMs = performance.now() - t1;

const metrics = await (await fetch(`${server.url}/metrics`)).text();
const batchSum = Number(/parley_persist_batch_size_sum (\S+)/.exec(metrics)?.[1]);
const batchCount = Number(/parley_persist_batch_size_count (\S+)/.exec(metrics)?.[1]);
const txSum = Number(/parley_persist_batch_seconds_sum (\S+)/.exec(metrics)?.[1]);

console.log(
  JSON.stringify(
    {
      database: server.services.db.kind,
      redis: config.redis.url ? 'yes' : 'no',
      senders,
      perSender,
      inFlightPerSender: window,
      messages: total,
      ackedPerSecond: Math.round(total / (ackedMs / 1000)),
      deliveredToAllMs: Math.round(deliveredMs),
      fanOutDeliveriesPerSecond: Math.round((total * senders) / (deliveredMs / 1000)),
      ackMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: latencies.at(-1)!.toFixed(1) },
      meanBatchSize: (batchSum / batchCount).toFixed(1),
      meanTransactionMs: ((txSum / batchCount) * 1000).toFixed(1),
      catchUp: { messages: got, ms: Math.round(catchUpMs) },
    },
    null,
    2,
  ),
);
for (const c of [...clients, lc]) c.close();
await server.close();
process.exit(0);
