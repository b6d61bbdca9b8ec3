import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkLambdas } from './lambdas-check.ts';
import { evaluateProgram, type MockCloud, Program } from './program.ts';
import { programProblems } from './program-assertions.ts';
import { checkRealtime } from './realtime-check.ts';
import { installPlatform } from './sst-platform.ts';
import { assert, onCleanup, results, root, runCleanups, step } from './steps.ts';
import { createDatabase, makeCertificate, startTlsPostgres, startTlsRedis } from './tls-services.ts';
import { checkRouterHeaders, checkSignedOrigins } from './web-headers-check.ts';

/**
 * Offline verification of the deployment (`npm run verify:deploy`, run by CI):
 *  1. the SST platform installed offline; sst.config.ts + infra/ type-checked against it;
 *  2. the real program (`run()`) evaluated with the platform's components under Pulumi
 *     mocks for a non-production and the production stage, and its resources asserted on;
 *  3. every Lambda bundle run as Lambda runs it, with exactly the environment the
 *     evaluation gave it, against private Postgres and Redis servers that accept TLS only,
 *     with CloudFront-shaped requests;
 *  4. the realtime container's runtime stage reproduced outside Docker and driven by
 *     websocket and polling clients through a proxy enforcing the router's read timeout.
 * Exits non-zero on any failure, with a summary; leaves no server, directory or key behind.
 */

const REGION = 'us-east-1';
const STAGES = ['dev', 'production'];
const started = Date.now();

function latestMigration(): string {
  const names = readdirSync(join(root, 'prisma/migrations'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, 'prisma/migrations', d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort();
  assert(names.length > 0, 'no migrations');
  return names.at(-1)!;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'parley-verify-'));
  onCleanup(() => rmSync(work, { recursive: true, force: true }));
  // Traversable by the unprivileged users the servers and the container run as.
  chmodSync(work, 0o711);
  // The point of bundling: nothing above the bundles may provide a node_modules.
  for (let d = work; ; d = dirname(d)) {
    assert(
      !existsSync(join(d, 'node_modules')),
      `${d}/node_modules exists: bundles would not be tested in isolation`,
    );
    if (dirname(d) === d) break;
  }

  const platform = step('SST platform installed offline, infra type-checked', installPlatform, (s) => s);
  platform.catch(() => undefined);
  const services = step(
    'Private Postgres and Redis that accept TLS only (certificate made for this run)',
    async () => {
      const tls = await makeCertificate(join(work, 'tls'));
      const [redis, postgres] = await Promise.all([
        startTlsRedis(join(work, 'redis'), tls, `verify!&#$^<>-${Date.now().toString(36)}`),
        startTlsPostgres(join(work, 'postgres'), tls, `verify${Date.now().toString(36)}pw`),
      ]);
      return { tls, redis, postgres };
    },
    (s) =>
      `postgres 127.0.0.1:${s.postgres.port} (hostssl only), redis 127.0.0.1:${s.redis.port} (tls-port only)`,
  );
  services.catch(() => undefined);
  await step('Web client CSP allows the signed-URL origins', checkSignedOrigins, (s) => s);

  const { tls, redis, postgres } = await services;
  await platform;
  const cloud: MockCloud = {
    region: REGION,
    postgres: { host: postgres.host, port: postgres.port, password: postgres.password },
    redis: { host: redis.host, port: redis.port, password: redis.password },
    bucket: 'parley-production-uploadsbucket-verify',
    schemaVersion: latestMigration(),
  };
  const programs = await step(
    `sst.config.ts run() evaluated with the real SST components under Pulumi mocks (${STAGES.join(', ')})`,
    async () => {
      const evaluations = await Promise.all(
        STAGES.map((s) => evaluateProgram(s, cloud, join(work, `program-${s}.json`))),
      );
      const ps = evaluations.map((e) => new Program(e));
      const problems = ps.flatMap((p) => programProblems(p).map((m) => `[${p.stage}] ${m}`));
      assert(problems.length === 0, `the program is not what a deploy needs:\n  ${problems.join('\n  ')}`);
      return ps;
    },
    (ps) => ps.map((p) => `${p.stage}: ${p.evaluation.resources.length} resources`).join(', '),
  );
  const production = programs.find((p) => p.stage === 'production')!;
  await step(
    'Router viewer-response function adds the security headers',
    () => checkRouterHeaders(production),
    (s) => s,
  );

  const dbName = new URL(production.lambdaEnvironment('MigrateFunction').DATABASE_URL!).pathname.slice(1);
  await createDatabase(postgres, tls, dbName);
  const { session, roomId } = await checkLambdas(production, {
    workDir: work,
    runtimeCa: tls.caFile,
    region: REGION,
  });
  await checkRealtime(production, { workDir: work, runtimeCa: tls.caFile, session, roomId });
}

// Interrupted (Ctrl-C, CI timeout): stop the servers and remove the directory all the same.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`\n${signal}: cleaning up\n`);
    void runCleanups().finally(() => process.exit(130));
  });
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  exitCode = 1;
  if (!results.some((r) => !r.ok)) process.stdout.write(`✘ ${(err as Error).stack ?? String(err)}\n`);
}
const leftovers = await runCleanups();
if (leftovers.length) process.stdout.write(`cleanup problems:\n  ${leftovers.join('\n  ')}\n`);
const ok = exitCode === 0 && results.every((r) => r.ok);
process.stdout.write('\nDeployment verification summary\n');
for (const r of results)
  process.stdout.write(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name} (${(r.ms / 1000).toFixed(1)} s)\n`);
process.stdout.write(`${ok ? 'PASSED' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
process.exit(ok ? 0 : 1);
